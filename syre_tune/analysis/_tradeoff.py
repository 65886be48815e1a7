"""The symmetry/objective tradeoff (paper §6.2, Fig. 4): the data steps.

:func:`tradeoff_info` averages each run's final objective and degree of symmetry over seeds, one
row per (spectrum, method, hyperparameter); :func:`tradeoff_check` summarises each method per
spectrum and tests the paper's claim: syre reaches the lowest degree of symmetry while its best
objective stays within a tolerance of weight decay's best.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["HYPERPARAMETER", "tradeoff_check", "tradeoff_info"]

# The knob that moves each method along its path (Fig. 4).
HYPERPARAMETER = {"syre": "gamma", "weight_decay": "gamma", "w_fix": "config.phi", "dropout": "config.dropout"}


def tradeoff_info(df: pd.DataFrame) -> pd.DataFrame:
    """Columns: spectrum, method, path (syre: one per σ0), hyperparameter, value, objective,
    symmetry_degree (means over seeds at the last iteration), seeds, and excess_objective
    (objective minus the lowest objective on that spectrum)."""
    needed = {
        "config.spectrum",
        "method",
        "trial_id",
        "seed",
        "iteration",
        "metric.objective",
        "metric.symmetry_degree",
    }
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"tradeoff_info: the results lack columns {sorted(missing)}")
    last = df.loc[df.groupby(["trial_id", "seed"])["iteration"].idxmax()].copy()
    last["hyperparameter"] = last["method"].map(HYPERPARAMETER).fillna("")
    last["value"] = np.nan
    for method, column in HYPERPARAMETER.items():
        rows = last["method"] == method
        if column in last.columns:
            last.loc[rows, "value"] = last.loc[rows, column].astype(float)
    last["path"] = last["method"]
    syre = last["method"] == "syre"
    last.loc[syre, "path"] = [f"syre σ0={s:g}" for s in last.loc[syre, "sigma0"]]
    table = (
        last.groupby(["config.spectrum", "method", "path", "hyperparameter", "value"], dropna=False, as_index=False)
        .agg(
            objective=("metric.objective", "mean"),
            symmetry_degree=("metric.symmetry_degree", "mean"),
            seeds=("seed", "size"),
        )
        .rename(columns={"config.spectrum": "spectrum"})
        .sort_values(["spectrum", "method", "path", "value"], ignore_index=True)
    )
    # How far each point is above the best objective any method reached on that spectrum.
    table["excess_objective"] = table["objective"] - table.groupby("spectrum")["objective"].transform("min")
    return table


def tradeoff_check(info: pd.DataFrame, tolerance: float = 0.05) -> pd.DataFrame:
    """Per spectrum and method: the lowest degree of symmetry and the best (lowest) objective,
    and per spectrum whether syre has the lowest degree and a best objective within
    ``tolerance`` (relative) of weight decay's best."""
    summary = (
        info.groupby(["spectrum", "method"], as_index=False)
        .agg(min_symmetry_degree=("symmetry_degree", "min"), best_objective=("objective", "min"))
        .sort_values(["spectrum", "min_symmetry_degree"], ignore_index=True)
    )
    summary["syre_lowest_degree"] = False
    summary["syre_objective_within_tolerance"] = False
    for spectrum, group in summary.groupby("spectrum"):
        by_method = group.set_index("method")
        if "syre" not in by_method.index:
            continue
        syre = by_method.loc["syre"]
        others = by_method.drop(index="syre")
        lowest = bool((syre["min_symmetry_degree"] < others["min_symmetry_degree"]).all())
        within = False
        if "weight_decay" in by_method.index:
            wd_best = by_method.loc["weight_decay", "best_objective"]
            within = bool(syre["best_objective"] <= wd_best + tolerance * abs(wd_best))
        mask = summary["spectrum"] == spectrum
        summary.loc[mask, "syre_lowest_degree"] = lowest
        summary.loc[mask, "syre_objective_within_tolerance"] = within
    return summary
