"""The figures of the ``teacher_student`` benchmark: covariance rank of the first-layer output
against the input dimension (paper Fig. 2), the label noise or the input noise (Fig. 7).

The x axis is whichever of ``config.input_dim``, ``config.label_noise``, ``config.input_noise``
the study sweeps (:func:`swept_axis`); a line per method (and per σ0 of syre), bootstrap bands
over seeds. Data steps (pure, tested for exact values): :func:`teacher_student_info` (each run's
last report, tidy) and :func:`rank_table` (mean rank per method, setting and x). Files
(:func:`write`): teacher_student.csv, teacher_student_rank.csv, teacher_student.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from syre_tune.analysis import curves_info, draw_curves, save_figure, write_csv

__all__ = ["AXES", "COLUMNS", "draw_teacher_student", "rank_table", "summary", "swept_axis", "teacher_student_info"]

COLUMNS = None  # every column: the runs' labels come from whichever settings vary

AXES = ("config.input_dim", "config.label_noise", "config.input_noise")
"""The x axes of Fig. 2 and Fig. 7, in order of preference."""

PLOTTED = ("rank", "test_loss", "test_accuracy")


def swept_axis(df: pd.DataFrame) -> str:
    """The first of :data:`AXES` that takes more than one value in ``df`` (input_dim if none does)."""
    for column in AXES:
        if column in df.columns and df[column].nunique(dropna=True) > 1:
            return column
    return AXES[0]


def teacher_student_info(df: pd.DataFrame, x: str | None = None) -> pd.DataFrame:
    """Each run's last report as a tidy table (method, label, x, seed, iteration, metric, value),
    the metrics of :data:`PLOTTED` only; ``x`` defaults to :func:`swept_axis`."""
    x = swept_axis(df) if x is None else x
    info = curves_info(df, keep=[x], last=True)
    return info[info["metric"].isin(PLOTTED)].reset_index(drop=True)


def rank_table(info: pd.DataFrame) -> pd.DataFrame:
    """Mean, min and max rank over seeds per (method, label, x) from :func:`teacher_student_info`."""
    x = [c for c in info.columns if c.startswith("config.")][0]
    ranks = info[info["metric"] == "rank"]
    return (
        ranks.groupby(["method", "label", x], as_index=False)
        .agg(rank=("value", "mean"), rank_min=("value", "min"), rank_max=("value", "max"), seeds=("value", "size"))
        .sort_values(["method", "label", x], ignore_index=True)
    )


def draw_teacher_student(info: pd.DataFrame) -> Any:
    """Rank, test loss and test accuracy against the swept x, a line per method and setting."""
    x = [c for c in info.columns if c.startswith("config.")][0]
    log_x = x == "config.input_dim" and info[x].min() > 0
    title = {
        "config.input_dim": "Fig. 2: rank of the first-layer output vs input dimension",
        "config.label_noise": "Fig. 7: rank vs label noise",
        "config.input_noise": "Fig. 7: rank vs input noise",
    }[x]
    return draw_curves(info, x=x, metrics=[m for m in PLOTTED if m in set(info["metric"])], log_x=log_x, title=title)


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """teacher_student.csv (tidy), teacher_student_rank.csv (means) and teacher_student.png/.pdf."""
    info = teacher_student_info(df)
    return [
        write_csv(info, out / "teacher_student.csv"),
        write_csv(rank_table(info), out / "teacher_student_rank.csv"),
        *save_figure(draw_teacher_student(info), out, "teacher_student"),
    ]


def _headline(info: pd.DataFrame, table: pd.DataFrame, x: str) -> list[str]:
    """Each method's first-layer rank at the two ends of the swept x (each method at its setting
    with the highest rank at the largest x) and whether syre's best rank is at least weight decay's
    at every x both ran; then the test accuracy at the largest x."""
    low, high = table[x].min(), table[x].max()
    at_high = table[table[x] == high].sort_values("rank", ascending=False, kind="stable")
    chosen = at_high.drop_duplicates("method")
    chosen = chosen.sort_values("method", key=lambda m: m.map({"syre": 0, "weight_decay": 1}).fillna(2), kind="stable")
    several = set(table.loc[table.duplicated([x, "method"]), "method"])
    names = {
        r.method: f"{r.method} ({r.label})" if r.method in several and r.label else r.method
        for r in chosen.itertuples()
    }
    axis = x.removeprefix("config.")
    values = []
    for r in chosen.itertuples():
        curve = table[(table["method"] == r.method) & (table["label"] == r.label)].set_index(x)["rank"]
        start = f"{curve[low]:.1f} → " if low in curve.index and low != high else ""
        values.append(f"{names[r.method]} {start}{curve[high]:.1f}")
    span = f"{low:g} → {high:g}" if low != high else f"{high:g}"
    line = f"first-layer rank, {axis} {span}: {', '.join(values)}"
    best = table.groupby([x, "method"])["rank"].max().unstack("method")
    if {"syre", "weight_decay"} <= set(best.columns):
        both = best[["syre", "weight_decay"]].dropna()
        if len(both):
            line += f"; syre ≥ weight_decay: {'yes' if (both['syre'] >= both['weight_decay']).all() else 'no'}"
    lines = [line]
    accuracy = info[(info["metric"] == "test_accuracy") & (info[x] == high)]
    accuracy = accuracy.groupby(["method", "label"])["value"].mean()
    values = [
        f"{names[r.method]} {accuracy[(r.method, r.label)]:.3g}"
        for r in chosen.itertuples()
        if (r.method, r.label) in accuracy
    ]
    seeds = f"{chosen['seeds'].min()} seeds" + (
        "" if chosen["seeds"].nunique() == 1 else f" to {chosen['seeds'].max()}"
    )
    if values:
        lines.append(f"test accuracy at {axis} = {high:g}: {', '.join(values)} ({seeds})")
    return lines


def summary(df: pd.DataFrame) -> list[str]:
    """A headline (each method's rank at the ends of the sweep, syre against weight decay, the test
    accuracy at the largest x), then per x the mean rank of each method and setting, and whether
    syre's best is at least weight decay's."""
    info = teacher_student_info(df)
    table = rank_table(info)
    if table.empty:
        return ["no measurements"]
    x = [c for c in table.columns if c.startswith("config.")][0]
    lines = _headline(info, table, x)
    for value, group in table.groupby(x):
        parts = ", ".join(
            f"{row.method}{' ' + row.label if row.label else ''}: {row.rank:.1f}" for row in group.itertuples()
        )
        line = f"{x.removeprefix('config.')}={value:g}: mean rank {parts}"
        methods = set(group["method"])
        if {"syre", "weight_decay"} <= methods:
            best_syre = group.loc[group["method"] == "syre", "rank"].max()
            decay = group.loc[group["method"] == "weight_decay", "rank"].max()
            line += f"; syre ≥ weight_decay: {'yes' if best_syre >= decay else 'no'}"
        lines.append(line)
    return lines
