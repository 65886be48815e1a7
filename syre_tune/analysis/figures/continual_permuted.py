"""The figures of the ``continual_permuted`` benchmark: loss of plasticity on permuted MNIST
(paper §6.6, Fig. 11).

Data steps: :func:`continual_info` keeps the task-end rows (iteration = (task + 1)·steps_per_task)
as a tidy table over the task index; :func:`continual_last` compares the methods at the last task.
Draw step: the shared :func:`~syre_tune.analysis.draw_curves` against the task index: test accuracy
of the task just learnt (Fig. 11's main panel), accuracy averaged over the tasks seen so far, and
the conv-output covariance rank (Fig. 11's inset). A line per method (the paper's, and the
plasticity baselines l2_init, shrink_perturb, redo) and per setting that varies within a method
(``label``: e.g. ``sigma0=0.5``, ``gamma=0.01``, ``shrink=0.999, perturb=0.01``,
``redo_tau=0.025``). Files (:func:`write`): continual.csv, continual_last.csv, continual.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from syre_tune.analysis import curves_info, draw_curves, save_figure, write_csv

__all__ = ["COLUMNS", "PANELS", "continual_info", "continual_last", "summary", "write"]

# Every column: the labels need whichever settings a study sweeps within a method (sigma0 for syre,
# config.phi for w_fix, gamma for l2_init, config.shrink / config.perturb for shrink_perturb,
# config.redo_tau / config.redo_every for redo), and a listed column an older dataset lacks would
# stop `analyze`. The results are small: a row per (trial, seed, report).
COLUMNS = None
PANELS = ("task_accuracy", "mean_accuracy", "conv_rank")


def continual_info(df: pd.DataFrame) -> pd.DataFrame:
    """Task-end rows as a tidy table: method, label (the settings that vary within that method,
    e.g. ``shrink=0.99`` for shrink_perturb alone), task, seed, iteration, metric (task_accuracy,
    mean_accuracy, conv_rank), value."""
    needed = {"iteration", "config.steps_per_task", "metric.task"}
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"continual_info: the results lack columns {sorted(missing)}")
    task = df["metric.task"].astype(np.float64)
    ends = df[(df["iteration"] == (task + 1) * df["config.steps_per_task"]) & task.notna()].copy()
    ends["task"] = ends["metric.task"].astype(np.int64)
    ends = ends.drop(columns=[c for c in ends.columns if c.startswith("metric.") and c[7:] not in PANELS])
    return curves_info(ends, keep=["task"], by_method=True)


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
    fig = draw_curves(
        info,
        x="task",
        metrics=list(PANELS),
        title="Permuted tasks (Fig. 11): value at each task end",
        legend_outside=True,  # a line per baseline and setting: a legend too big to sit on a panel
    )
    return [
        write_csv(info, out / "continual.csv"),
        write_csv(continual_last(info), out / "continual_last.csv"),
        *save_figure(fig, out, "continual"),
    ]


def summary(df: pd.DataFrame) -> list[str]:
    """At the last task: the paper's claim (syre keeps a higher conv rank and accuracy than weight
    decay), then syre against the best other method (vanilla and the plasticity baselines l2_init,
    shrink_perturb, redo included), each method at its best setting."""
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
    for metric in PANELS:
        rows = last[last["metric"] == metric].sort_values("value", ascending=False, kind="stable")
        best = rows.drop_duplicates("method").set_index("method")  # each method at its best label
        if "syre" not in best.index or len(best) < 2:
            continue
        syre, others = best.loc["syre"], best.drop(index="syre")
        top = others.iloc[0]
        setting = f" ({top['label']})" if top["label"] else ""
        lines.append(
            f"last task {metric}: syre {syre['value']:.4g} vs the best other method, {top.name}{setting}, "
            f"{top['value']:.4g}; syre higher: {'yes' if syre['value'] > top['value'] else 'no'}"
        )
    return lines
