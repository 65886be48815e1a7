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


def _named(method: str, label: str) -> str:
    return f"{method} ({label})" if label else method


def summary(df: pd.DataFrame) -> list[str]:
    """The headline: each method's test-loss barrier (at its setting with the lowest), its test
    accuracy halfway along the path (λ nearest 0.5), and the paper's claim, syre's barrier at most
    vanilla's."""
    info = connectivity_info(df)
    barriers = barrier_info(info)
    if barriers.empty:
        return ["no interpolation measurements"]
    best = barriers.drop_duplicates("method").set_index("method")  # sorted by barrier: each method's lowest
    pairs = f"{best['pairs'].min()}" + ("" if best["pairs"].nunique() == 1 else f" to {best['pairs'].max()}")
    values = ", ".join(f"{_named(r.Index, r.label)} {r.barrier:.4g}" for r in best.itertuples())
    lines = [f"test-loss barrier between two trained networks (mean over {pairs} pairs): {values}"]
    accuracy = info[info["metric"] == "test_accuracy"]
    if len(accuracy):
        lam = accuracy["lam"].iloc[(accuracy["lam"] - 0.5).abs().argmin()]
        middle = accuracy[accuracy["lam"] == lam].groupby(["method", "label"])["value"].mean()
        values = ", ".join(
            f"{_named(r.Index, r.label)} {middle[(r.Index, r.label)]:.3g}"
            for r in best.itertuples()
            if (r.Index, r.label) in middle
        )
        lines.append(f"test accuracy halfway along the path (λ = {lam:g}): {values}")
    if {"syre", "vanilla"} <= set(best.index):
        verdict = "yes" if best.loc["syre", "barrier"] <= best.loc["vanilla", "barrier"] else "no"
        lines.append(f"syre barrier <= vanilla barrier: {verdict}")
    return lines
