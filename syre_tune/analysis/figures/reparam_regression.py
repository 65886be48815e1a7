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
    """The headline: mean dead units and test loss per method at the end (each method at its
    setting with the fewest dead units), and whether syre has the fewest (Fig. 3 right); then the
    other settings, if a method ran several."""
    table = dead_table(reparam_info(df))
    if table.empty:
        return ["no measurements"]
    best = table.drop_duplicates("method")  # sorted by dead units: each method's fewest
    several = set(table.loc[table["method"].duplicated(), "method"])

    def named(row: Any) -> str:
        return f"{row.method} ({row.label})" if row.method in several and row.label else row.method

    dims = df["config.dim"].dropna().unique() if "config.dim" in df.columns else []
    of = f" of {dims[0]:g}" if len(dims) == 1 else ""
    seeds = f"{table['seeds'].min()} seeds" + ("" if table["seeds"].nunique() == 1 else f" to {table['seeds'].max()}")
    lines = [
        f"dead units (u_i = w_i = 0){of} at the end, mean over {seeds}: "
        + ", ".join(f"{named(row)} {row.dead_units:.3g}" for row in best.itertuples()),
        "test loss at the end: " + ", ".join(f"{named(row)} {row.test_loss:.4g}" for row in best.itertuples()),
    ]
    if "syre" in set(table["method"]):
        fewest = table.loc[table["method"] == "syre", "dead_units"].min() <= table["dead_units"].min()
        lines.append(f"syre has the fewest dead units: {'yes' if fewest else 'no'}")
    others = table.drop(index=best.index)
    lines += [
        f"{row.method} {row.label}: {row.dead_units:.3g} dead units, test loss {row.test_loss:.4g}"
        for row in others.itertuples()
    ]
    return lines
