"""The figures of the ``continual_permuted`` benchmark: loss of plasticity on permuted MNIST
(paper §6.6, Fig. 11).

Data steps: :func:`continual_info` keeps the task-end rows (iteration = (task + 1)·steps_per_task)
as a tidy table over the task index; :func:`continual_last` compares the methods at the last task.
Draw step: the shared :func:`~syre_tune.analysis.draw_curves` against the task index: test accuracy
of the task just learnt (Fig. 11's main panel), accuracy averaged over the tasks seen so far, and
the conv-output covariance rank (Fig. 11's inset). Files (:func:`write`): continual.csv,
continual_last.csv, continual.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from syre_tune.analysis import curves_info, draw_curves, save_figure, write_csv

__all__ = ["COLUMNS", "PANELS", "continual_info", "continual_last", "summary", "write"]

COLUMNS = (
    "trial_id",
    "status",
    "method",
    "sigma0",
    "sigma_d",
    "gamma",
    "seed",
    "iteration",
    "config.steps_per_task",
    "config.phi",
    "metric.task",
    "metric.task_accuracy",
    "metric.mean_accuracy",
    "metric.conv_rank",
)
PANELS = ("task_accuracy", "mean_accuracy", "conv_rank")


def continual_info(df: pd.DataFrame) -> pd.DataFrame:
    """Task-end rows as a tidy table: method, label (the settings that vary within a method), task,
    seed, iteration, metric (task_accuracy, mean_accuracy, conv_rank), value."""
    needed = {"iteration", "config.steps_per_task", "metric.task"}
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"continual_info: the results lack columns {sorted(missing)}")
    task = df["metric.task"].astype(np.float64)
    ends = df[(df["iteration"] == (task + 1) * df["config.steps_per_task"]) & task.notna()].copy()
    ends["task"] = ends["metric.task"].astype(np.int64)
    ends = ends.drop(columns=[c for c in ends.columns if c.startswith("metric.") and c[7:] not in PANELS])
    return curves_info(ends, keep=["task"])


def continual_last(info: pd.DataFrame) -> pd.DataFrame:
    """At each run's last task: mean over seeds per (method, label, metric), with the number of
    seeds and the task index."""
    last = info[info["task"] == info.groupby(["method", "label"])["task"].transform("max")]
    return (
        last.groupby(["method", "label", "metric"], as_index=False)
        .agg(task=("task", "max"), value=("value", "mean"), seeds=("seed", "nunique"))
        .sort_values(["metric", "method", "label"], ignore_index=True)
    )


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """continual.csv, continual_last.csv and continual.png/.pdf."""
    info = continual_info(df)
    fig = draw_curves(info, x="task", metrics=list(PANELS), title="Permuted tasks (Fig. 11): value at each task end")
    return [
        write_csv(info, out / "continual.csv"),
        write_csv(continual_last(info), out / "continual_last.csv"),
        *save_figure(fig, out, "continual"),
    ]


def summary(df: pd.DataFrame) -> list[str]:
    """The paper's claim at the last task: syre keeps a higher conv rank and accuracy than weight decay."""
    last = continual_last(continual_info(df))
    lines = []
    for metric in ("conv_rank", "task_accuracy"):
        best = last[last["metric"] == metric].groupby("method")["value"].max()
        if {"syre", "weight_decay"} <= set(best.index):
            verdict = "yes" if best["syre"] > best["weight_decay"] else "no"
            lines.append(
                f"last task {metric}: syre {best['syre']:.4g} vs weight_decay {best['weight_decay']:.4g}; "
                f"syre higher: {verdict}"
            )
    return lines
