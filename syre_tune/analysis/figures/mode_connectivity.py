"""The figures of the ``mode_connectivity`` benchmark: linear mode connectivity between two trained
MLPs (paper App. B.7, Fig. 13).

Data steps: :func:`connectivity_info` keeps the interpolation rows (those with a finite ``lam``) as
a tidy table over λ; :func:`barrier_info` gives each method's test-loss barrier (mean over pairs).
Draw step: the shared :func:`~syre_tune.analysis.draw_curves` of test loss and test accuracy
against λ, a line per method (Fig. 13). Files (:func:`write`): connectivity.csv, barrier.csv,
connectivity.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from syre_tune.analysis import curves_info, draw_curves, save_figure, write_csv

__all__ = ["COLUMNS", "barrier_info", "connectivity_info", "summary", "write"]

COLUMNS = (
    "trial_id",
    "status",
    "method",
    "sigma0",
    "sigma_d",
    "gamma",
    "seed",
    "iteration",
    "config.phi",
    "metric.lam",
    "metric.test_loss",
    "metric.test_accuracy",
    "metric.barrier",
)


def connectivity_info(df: pd.DataFrame) -> pd.DataFrame:
    """Interpolation rows as a tidy table: method, label (settings that vary within a method), lam,
    seed, iteration, metric (test_loss, test_accuracy, barrier), value."""
    missing = {"metric.lam", "iteration"} - set(df.columns)
    if missing:
        raise ValueError(f"connectivity_info: the results lack columns {sorted(missing)}")
    points = df[np.isfinite(df["metric.lam"].astype(np.float64))].copy()
    points["lam"] = points.pop("metric.lam").astype(np.float64)
    return curves_info(points, keep=["lam"])


def barrier_info(info: pd.DataFrame) -> pd.DataFrame:
    """Per (method, label): the mean, min and max test-loss barrier over pairs, and the pairs."""
    barrier = info[info["metric"] == "barrier"].drop_duplicates(["method", "label", "seed"])
    return (
        barrier.groupby(["method", "label"], as_index=False)
        .agg(barrier=("value", "mean"), low=("value", "min"), high=("value", "max"), pairs=("seed", "nunique"))
        .sort_values(["barrier", "method", "label"], ignore_index=True)
    )


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """connectivity.csv, barrier.csv and connectivity.png/.pdf."""
    info = connectivity_info(df)
    barriers = barrier_info(info)
    title = "Linear mode connectivity (Fig. 13); loss barrier: " + ", ".join(
        f"{row.method}{' ' + row.label if row.label else ''} {row.barrier:.3g}" for row in barriers.itertuples()
    )
    fig = draw_curves(info, x="lam", metrics=["test_loss", "test_accuracy"], title=title)
    return [
        write_csv(info, out / "connectivity.csv"),
        write_csv(barriers, out / "barrier.csv"),
        *save_figure(fig, out, "connectivity"),
    ]


def summary(df: pd.DataFrame) -> list[str]:
    """The paper's claim: syre's loss barrier is at most vanilla's."""
    best = barrier_info(connectivity_info(df)).groupby("method")["barrier"].min()
    lines = [f"loss barrier {method}: {value:.4g}" for method, value in best.items()]
    if {"syre", "vanilla"} <= set(best.index):
        lines.append(f"syre barrier <= vanilla barrier: {'yes' if best['syre'] <= best['vanilla'] else 'no'}")
    return lines
