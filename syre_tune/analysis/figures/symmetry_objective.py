"""The figures of the ``symmetry_objective`` benchmark: the symmetry/objective tradeoff
(paper §6.2, Fig. 4).

:func:`tradeoff_info` averages each run's final objective and degree of symmetry over seeds, one
row per (spectrum, method, hyperparameter); :func:`tradeoff_check` summarises each method per
spectrum and tests the paper's claim: syre reaches the lowest degree of symmetry while its best
objective stays within a tolerance of weight decay's best. Draw step: :func:`draw_tradeoff`.
Files (:func:`write`): tradeoff.csv, tradeoff_check.csv, tradeoff.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis import pyplot, save_figure, write_csv

__all__ = ["COLUMNS", "HYPERPARAMETER", "draw_tradeoff", "summary", "tradeoff_check", "tradeoff_info", "write"]

COLUMNS = None  # every column (a small dataset; the knob columns of HYPERPARAMETER may grow)

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


# --- draw step ---


def draw_tradeoff(info: pd.DataFrame) -> Any:
    """Degree of symmetry against objective, one path per method through its hyperparameter,
    one panel per spectrum (Fig. 4). Returns the Figure."""
    import seaborn as sns

    plt = pyplot()
    spectra = sorted(info["spectrum"].unique())
    fig, axes = plt.subplots(1, len(spectra), figsize=(6 * len(spectra), 4.6), constrained_layout=True, squeeze=False)
    paths = sorted(info["path"].unique())
    colors = dict(zip(paths, sns.color_palette("tab10", len(paths))))
    for ax, spectrum in zip(axes[0], spectra):
        data = info[info["spectrum"] == spectrum]
        for path, group in data.groupby("path"):
            group = group.sort_values("value")
            marker = "*" if path == "vanilla" else "o"
            ax.plot(
                group["excess_objective"],
                group["symmetry_degree"],
                marker=marker,
                ms=9 if marker == "*" else 5,
                color=colors[path],
                label=path,
                lw=1.5,
            )
        best = float(data["objective"].min())
        ax.set_xscale("symlog", linthresh=max(1e-6, 1e-3 * abs(best)))
        ax.set_xlim(left=0)
        ax.set_xlabel(f"objective − best objective ({best:.4g})   [(wᵀw)² − wᵀBw]")
        ax.set_ylabel("degree of symmetry  #{i : |v_iᵀw| < c_th}")
        ax.set_title(f"{spectrum} spectrum")
        ax.legend(fontsize=8, frameon=False)
    return fig


# --- the files analyze() writes ---


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """tradeoff.csv, tradeoff_check.csv and tradeoff.png/.pdf."""
    info = tradeoff_info(df)
    written = [write_csv(info, out / "tradeoff.csv"), write_csv(tradeoff_check(info), out / "tradeoff_check.csv")]
    return written + save_figure(draw_tradeoff(info), out, "tradeoff")


def summary(df: pd.DataFrame) -> list[str]:
    """Per spectrum, the paper's claim: syre has the lowest degree of symmetry, and its best
    objective is within 5 % of weight decay's."""
    check = tradeoff_check(tradeoff_info(df))
    lines = []
    for spectrum, group in check.groupby("spectrum", sort=True):
        first = group.iloc[0]
        lines.append(
            f"{spectrum} spectrum: syre lowest degree of symmetry: {'yes' if first.syre_lowest_degree else 'no'}; "
            f"best objective within 5 % of weight decay's: {'yes' if first.syre_objective_within_tolerance else 'no'}"
        )
    return lines
