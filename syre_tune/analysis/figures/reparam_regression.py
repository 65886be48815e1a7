"""The figures of the ``reparam_regression`` benchmark: dead units during training (paper Fig. 3 right).

Data steps (pure, tested for exact values): :func:`reparam_info` (the reports, tidy: method, label,
seed, iteration, metric, value) and :func:`dead_table` (mean dead units per method and setting at
each run's last report). The picture to expect: weight decay (the paper's SGD) and W-fix collapse
units to (u_i, w_i) = 0 as training goes on, syre keeps none dead. Files (:func:`write`):
reparam_regression.csv, reparam_dead.csv, reparam_regression.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from syre_tune.analysis import curves_info, draw_curves, save_figure, write_csv

__all__ = ["COLUMNS", "dead_table", "draw_reparam", "reparam_info", "summary", "write"]

COLUMNS = None  # every column: the runs' labels come from whichever settings vary

PLOTTED = ("dead_units", "test_loss", "train_loss")


def reparam_info(df: pd.DataFrame) -> pd.DataFrame:
    """Every report, tidy (method, label, seed, iteration, metric, value), :data:`PLOTTED` only."""
    info = curves_info(df)
    return info[info["metric"].isin(PLOTTED)].reset_index(drop=True)


def dead_table(info: pd.DataFrame) -> pd.DataFrame:
    """Per (method, label): mean dead units and test loss over seeds at the last iteration."""
    last = info[info["iteration"] == info.groupby(["method", "label", "seed"])["iteration"].transform("max")]
    table = last.pivot_table(index=["method", "label", "seed"], columns="metric", values="value").reset_index()
    return (
        table.groupby(["method", "label"], as_index=False)
        .agg(dead_units=("dead_units", "mean"), test_loss=("test_loss", "mean"), seeds=("seed", "size"))
        .sort_values(["dead_units", "method", "label"], ignore_index=True)
    )


def draw_reparam(info: pd.DataFrame) -> Any:
    """Dead units, test and train loss against the SGD step, a line per method and setting."""
    metrics = [m for m in PLOTTED if m in set(info["metric"])]
    return draw_curves(info, metrics=metrics, title="Fig. 3 right: reparametrised regression, dead units")


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """reparam_regression.csv (tidy), reparam_dead.csv (last-step means), reparam_regression.png/.pdf."""
    info = reparam_info(df)
    return [
        write_csv(info, out / "reparam_regression.csv"),
        write_csv(dead_table(info), out / "reparam_dead.csv"),
        *save_figure(draw_reparam(info), out, "reparam_regression"),
    ]


def summary(df: pd.DataFrame) -> list[str]:
    """Mean dead units per method at the end, and whether syre has the fewest."""
    table = dead_table(reparam_info(df))
    lines = [
        f"{f'{row.method} {row.label}'.strip()}: {row.dead_units:.1f} dead units, test loss {row.test_loss:.4g}"
        for row in table.itertuples()
    ]
    if "syre" in set(table["method"]):
        fewest = table.loc[table["method"] == "syre", "dead_units"].min() <= table["dead_units"].min()
        lines.append(f"syre has the fewest dead units: {'yes' if fewest else 'no'}")
    return lines
