"""The figures of a benchmark without a figure module of its own: every metric against
iteration, a line per method (line style: the settings that vary within a method), seaborn's
bootstrap 95 % band over seeds. Writes ``curves.csv``, ``curves.png`` and ``curves.pdf``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from syre_tune.analysis._curves import curves_info, write_curves

COLUMNS = None  # every column: which settings vary is only known from the data
HEADLINE_METRICS = 3
"""The most metrics the summary names (test metrics first, then in the results' column order)."""


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    return write_curves(df, out)


def summary(df: pd.DataFrame) -> list[str]:
    """A line per metric (at most :data:`HEADLINE_METRICS`, test metrics first): each method's
    value at its runs' last iteration, the mean over runs (seeds), with the number of runs; a
    method run at several settings gives the range of its settings' means."""
    info = curves_info(df, last=True)
    if info.empty:
        return ["no measurements"]
    metrics = sorted(dict.fromkeys(info["metric"]), key=lambda metric: not metric.startswith("test_"))
    lines = []
    for metric in metrics[:HEADLINE_METRICS]:
        part = info[info["metric"] == metric]
        means = part.groupby(["method", "label"], sort=False)["value"].mean()
        runs = part.groupby("method", sort=False).size()
        settings = means.groupby(level="method", sort=False).size()
        per_method = runs.nunique() > 1 or (settings > 1).any()  # else one count for all
        values = []
        for method, setting in means.groupby(level="method", sort=False):
            value = f"{setting.iloc[0]:.4g}" if len(setting) == 1 else f"{setting.min():.4g} to {setting.max():.4g}"
            several = f"{len(setting)} settings, " if len(setting) > 1 else ""
            values.append(f"{method} {value}" + (f" ({several}{runs[method]} runs)" if per_method else ""))
        each = "" if per_method else f" ({runs.iloc[0]} runs each)"
        lines.append(f"{metric} at the last iteration, mean over seeds: {', '.join(values)}{each}")
    return lines
