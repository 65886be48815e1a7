"""The figures of a benchmark without a figure module of its own: every metric against
iteration, a line per method (line style: the settings that vary within a method), seaborn's
bootstrap 95 % band over seeds. Writes ``curves.csv``, ``curves.png`` and ``curves.pdf``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from syre_tune.analysis._curves import curves_info, write_curves

COLUMNS = None  # every column: which settings vary is only known from the data


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    return write_curves(df, out)


def summary(df: pd.DataFrame) -> list[str]:
    """Per metric and method: the mean over runs of the last value, with the number of runs."""
    info = curves_info(df, last=True)
    if info.empty:
        return ["no measurements"]
    table = info.groupby(["metric", "method", "label"], sort=False)["value"].agg(["mean", "size"])
    return [
        f"{metric} at the last iteration, {method}{f' ({label})' if label else ''}: {mean:.6g} (mean of {size} runs)"
        for (metric, method, label), mean, size in zip(table.index, table["mean"], table["size"])
    ]
