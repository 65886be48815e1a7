"""The figures of the ``symmetry_objective`` benchmark: the symmetry/objective tradeoff
(paper §6.2, Fig. 4).

:func:`tradeoff_info` averages each run's final objective and degree of symmetry over seeds, one
row per (spectrum, d, method, hyperparameter value); :func:`tradeoff_check` compares the methods
at matched objective: the lowest degree of symmetry each reaches among its points whose objective
is within a tolerance of the best objective any method reached (:data:`TOLERANCE`, relative), and
which method reaches the lowest. Comparing each method's lowest degree with its best objective,
at different hyperparameters, would credit a method with a degree it reaches only at a poor
objective (in the d = 200 smoke study, syre's lowest structured degree, 67.5, comes at objective
+113, worse than w = 0's 0).
Draw step: :func:`draw_tradeoff`, every point labelled with its hyperparameter value. Files
(:func:`write`): tradeoff.csv, tradeoff_check.csv, tradeoff.png/.pdf. :func:`summary` starts with
a headline: per spectrum, the lowest degree per method at matched objective.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis import pyplot, save_figure, write_csv

__all__ = [
    "COLUMNS",
    "HYPERPARAMETER",
    "SYMBOL",
    "TOLERANCE",
    "draw_tradeoff",
    "summary",
    "tradeoff_check",
    "tradeoff_info",
    "write",
]

COLUMNS = None  # every column (a small dataset; the knob columns of HYPERPARAMETER may grow)

# The knob that moves each method along its path (Fig. 4).
HYPERPARAMETER = {"syre": "gamma", "weight_decay": "gamma", "w_fix": "config.phi", "dropout": "config.dropout"}
SYMBOL = {"gamma": "γ", "config.phi": "φ", "config.dropout": "p"}
"""How a point's hyperparameter is labelled in the figure: γ, the W-fix fraction φ, the dropout rate p."""

TOLERANCE = 0.05
"""Matched objective: within 5 % of |best objective| above the best. f(0) = 0, so |best| is the
gain of the best point over w = 0 and the tolerance is 5 % of it (the same 5 % as the paper-claim
check it replaces); a relative tolerance reads the same on both spectra, whose objectives differ
by two orders of magnitude."""

_LABEL_PT = 6.5  # the points' labels, font size in points
_SPECTRUM = ["spectrum", "d"]  # objectives are comparable within a spectrum at one d


def tradeoff_info(df: pd.DataFrame) -> pd.DataFrame:
    """Columns: spectrum, d (``config.dim``; NaN where not stored), method, path (syre: one per
    σ0), hyperparameter, value, objective, symmetry_degree (means over seeds at the last
    iteration; each seed once), seeds, and excess_objective (objective minus the lowest objective on
    that spectrum and d)."""
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
    last["d"] = last["config.dim"].astype(float) if "config.dim" in last.columns else np.nan
    last["hyperparameter"] = last["method"].map(HYPERPARAMETER).fillna("")
    last["value"] = np.nan
    for method, column in HYPERPARAMETER.items():
        rows = last["method"] == method
        if column in last.columns:
            last.loc[rows, "value"] = last.loc[rows, column].astype(float)
    last["path"] = last["method"]
    syre = last["method"] == "syre"
    last.loc[syre, "path"] = [f"syre σ0={s:g}" for s in last.loc[syre, "sigma0"]]
    point = [*_SPECTRUM, "method", "path", "hyperparameter", "value"]
    last = last.rename(columns={"config.spectrum": "spectrum"})
    # Each seed once per point: a re-run trial repeats the same seeded draw (its first run counts).
    last = last.drop_duplicates(subset=[*point, "seed"], keep="first")
    table = (
        last.groupby(point, dropna=False, as_index=False)
        .agg(
            objective=("metric.objective", "mean"),
            symmetry_degree=("metric.symmetry_degree", "mean"),
            seeds=("seed", "nunique"),
        )
        .sort_values([*_SPECTRUM, "method", "path", "value"], ignore_index=True)
    )
    # How far each point is above the best objective any method reached on that spectrum.
    best = table.groupby(_SPECTRUM, dropna=False)["objective"].transform("min")
    table["excess_objective"] = table["objective"] - best
    return table


def tradeoff_check(info: pd.DataFrame, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """Per spectrum (and d) and method, the comparison at matched objective.

    ``objective_limit`` = best + ``tolerance``·|best| (best: the lowest mean objective of any
    method on that spectrum; ``objective_tolerance`` the absolute allowance). Per method:
    ``matched_symmetry_degree``, the lowest degree among its points with objective ≤ the limit
    (NaN: none is), at ``matched_path``/``matched_value`` with ``matched_objective``;
    ``lowest_at_matched``, whether that is the lowest of all methods (ties: all of them). Also
    ``min_symmetry_degree`` (at any objective), ``objective_at_min_degree`` (what that point
    costs; f(w = 0) = 0 for comparison) and ``best_objective``. Per spectrum:
    ``syre_lowest_degree`` (syre alone reaches the lowest degree at matched objective) and
    ``syre_objective_within_tolerance`` (syre has a point within the limit)."""
    if tolerance < 0:
        raise ValueError(f"tradeoff_check: tolerance must be >= 0 (relative to |best objective|), got {tolerance=}")
    info = info.copy()
    if "d" not in info.columns:
        info["d"] = np.nan
    best = info.groupby(_SPECTRUM, dropna=False)["objective"].transform("min")
    info["objective_tolerance"] = tolerance * best.abs()
    info["objective_limit"] = best + info["objective_tolerance"]
    rows = []
    for (spectrum, d, method), group in info.groupby([*_SPECTRUM, "method"], dropna=False, sort=True):
        lowest = group.loc[group["symmetry_degree"].idxmin()]
        matched = group[group["objective"] <= group["objective_limit"]]
        at = matched.loc[matched["symmetry_degree"].idxmin()] if len(matched) else None
        rows.append(
            {
                "spectrum": spectrum,
                "d": d,
                "method": method,
                "matched_symmetry_degree": np.nan if at is None else at["symmetry_degree"],
                "matched_objective": np.nan if at is None else at["objective"],
                "matched_path": "" if at is None else at["path"],
                "matched_value": np.nan if at is None else at["value"],
                "min_symmetry_degree": lowest["symmetry_degree"],
                "objective_at_min_degree": lowest["objective"],
                "best_objective": group["objective"].min(),
                "objective_tolerance": group["objective_tolerance"].iloc[0],
                "objective_limit": group["objective_limit"].iloc[0],
                "tolerance": tolerance,
            }
        )
    check = pd.DataFrame(rows)
    per_spectrum = check.groupby(_SPECTRUM, dropna=False)["matched_symmetry_degree"]
    check["lowest_at_matched"] = check["matched_symmetry_degree"] == per_spectrum.transform("min")
    check["syre_lowest_degree"] = False
    check["syre_objective_within_tolerance"] = False
    for _, group in check.groupby(_SPECTRUM, dropna=False):
        syre = group[group["method"] == "syre"]
        if syre.empty or syre["matched_symmetry_degree"].isna().all():
            continue
        degree = syre["matched_symmetry_degree"].iloc[0]
        others = group.loc[group["method"] != "syre", "matched_symmetry_degree"].dropna()
        check.loc[group.index, "syre_lowest_degree"] = bool((degree < others).all())
        check.loc[group.index, "syre_objective_within_tolerance"] = True
    return check.sort_values([*_SPECTRUM, "matched_symmetry_degree", "method"], ignore_index=True)


# --- draw step ---


def _seeds(seeds: pd.Series) -> str:
    low, high = int(seeds.min()), int(seeds.max())
    return f"{low} seeds" if low == high else f"{low}–{high} seeds"


def _dims(values: pd.Series) -> str:
    values = values.dropna().unique()
    return "" if len(values) == 0 else "d = " + ", ".join(f"{v:g}" for v in sorted(values))


def draw_tradeoff(info: pd.DataFrame, tolerance: float = TOLERANCE) -> Any:
    """Degree of symmetry against objective (above the best), one path per method through its
    hyperparameter, every point labelled with its value (γ, φ, or dropout rate p), one panel per
    spectrum (and d) titled with d and the seeds per point (Fig. 4). Dotted: the matched-objective
    tolerance of :func:`tradeoff_check`; dash-dotted: w = 0 (f = 0). Returns the Figure."""
    import seaborn as sns

    plt = pyplot()
    if "d" not in info.columns:
        info = info.assign(d=np.nan)
    panels = list(info.groupby(_SPECTRUM, dropna=False, sort=True))
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 5.4), constrained_layout=True, squeeze=False)
    paths = sorted(info["path"].unique())
    colors = dict(zip(paths, sns.color_palette("tab10", len(paths))))
    for ax, ((spectrum, _), data) in zip(axes[0], panels):
        for path, group in data.groupby("path"):
            group = group.sort_values("value")
            marker = "*" if path == "vanilla" else "o"
            symbol = SYMBOL.get(group["hyperparameter"].iloc[0], "")
            ax.plot(
                group["excess_objective"],
                group["symmetry_degree"],
                marker=marker,
                ms=9 if marker == "*" else 5,
                color=colors[path],
                label=f"{path} ({symbol})" if symbol else path,
                lw=1.5,
            )
        best = float(data["objective"].min())
        allowance = tolerance * abs(best)
        ax.axvline(allowance, ls=":", lw=1, color="black", label=f"matched objective: ≤ best + {tolerance:.0%}·|best|")
        if -best > 0:  # f(0) = 0: where w = 0 would sit
            ax.axvline(-best, ls="-.", lw=1, color="grey", label="w = 0 (objective 0)")
        ax.set_xscale("symlog", linthresh=max(1e-6, 1e-3 * abs(best)))
        ax.set_xlim(left=0)
        ax.set_xlabel(f"objective − best objective ({best:.4g})   [(wᵀw)² − wᵀBw]")
        ax.set_ylabel("degree of symmetry  #{i : |v_iᵀw| < c_th}")
        where = ", ".join(s for s in (_dims(data["d"]), f"{_seeds(data['seeds'])} per point") if s)
        ax.set_title(f"{spectrum} spectrum, {where}")
        ax.legend(fontsize=7, frameon=False)
    fig.draw_without_rendering()  # lay out first: the labels are placed in pixels
    for ax, (_, data) in zip(axes[0], panels):
        placed: list[tuple[float, float, float]] = []
        for path, group in data.groupby("path"):
            _label_points(ax, group, colors[path], placed)
    return fig


def _label_points(ax: Any, group: pd.DataFrame, color: Any, placed: list[tuple[float, float, float]]) -> None:
    """Label a path's points with their hyperparameter value ("γ=0.1"). Points that land within
    a few pixels of each other share one label ("φ=0.001, 0.01"); a label that would overlap one
    already ``placed`` (its pixel extent: left, right, baseline) moves a line up or down."""
    symbol = SYMBOL.get(group["hyperparameter"].iloc[0], "")
    if not symbol:
        return
    group = group.sort_values("value")
    xy = group[["excess_objective", "symmetry_degree"]].to_numpy(float)
    pixels = ax.transData.transform(xy)
    points = ax.figure.dpi / 72  # pixels per point
    clusters: list[tuple[int, list[float]]] = []
    for i, value in enumerate(group["value"]):
        if clusters and np.hypot(*(pixels[i] - pixels[clusters[-1][0]])) <= 6 * points:
            clusters[-1][1].append(value)
        else:
            clusters.append((i, [value]))
    for i, values in clusters:
        text = f"{symbol}=" + ", ".join(f"{v:g}" for v in values)
        left = pixels[i][0] + 4 * points
        right = left + 0.6 * _LABEL_PT * points * len(text)  # about a character's width each
        line = 1.2 * _LABEL_PT * points
        for step in (0, 1, -1, 2, -2, 3, -3, 4):
            base = pixels[i][1] + 3 * points + step * line
            if not any(left < hi and lo < right and abs(base - y) < line for lo, hi, y in placed):
                break
        placed.append((left, right, base))
        ax.annotate(
            text,
            tuple(xy[i]),
            xytext=(4, (base - pixels[i][1]) / points),
            textcoords="offset points",
            fontsize=_LABEL_PT,
            color=color,
        )


# --- the files analyze() writes ---


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """tradeoff.csv, tradeoff_check.csv and tradeoff.png/.pdf."""
    info = tradeoff_info(df)
    written = [write_csv(info, out / "tradeoff.csv"), write_csv(tradeoff_check(info), out / "tradeoff_check.csv")]
    return written + save_figure(draw_tradeoff(info), out, "tradeoff")


def _degree(value: float) -> str:
    return "none in range" if math.isnan(value) else f"{value:g}"


def _lowest(check: pd.DataFrame) -> str:
    """The method(s) with the lowest degree at matched objective: 'syre', 'w_fix, dropout (tie)'."""
    winners = check.loc[check["lowest_at_matched"], "method"].tolist()
    return "none" if not winners else winners[0] if len(winners) == 1 else ", ".join(winners) + " (tie)"


def summary(df: pd.DataFrame, tolerance: float = TOLERANCE) -> list[str]:
    """A headline: what is compared (the tolerance, d, seeds), then per spectrum the lowest degree
    of symmetry each method reaches at matched objective and which method is lowest. Then per
    spectrum each method's lowest degree at any objective and what it costs (against w = 0), and
    which method is lowest at other tolerances."""
    info = tradeoff_info(df)
    check = tradeoff_check(info, tolerance)
    where = ", ".join(s for s in (_dims(info["d"]), f"{_seeds(info['seeds'])} per point") if s)
    lines = [
        f"Fig. 4 tradeoff at matched objective ≤ best + {tolerance:.0%}·|best| ({where}): "
        "the lowest degree of symmetry each method reaches there"
    ]
    for (spectrum, _), group in check.groupby(_SPECTRUM, dropna=False, sort=True):
        best, limit = group["best_objective"].min(), group["objective_limit"].iloc[0]
        degrees = ", ".join(f"{row.method} {_degree(row.matched_symmetry_degree)}" for row in group.itertuples())
        lines.append(f"{spectrum} (best {best:.4g}, objective ≤ {limit:.4g}): {degrees}; lowest: {_lowest(group)}")
    for (spectrum, _), group in check.groupby(_SPECTRUM, dropna=False, sort=True):
        costs = ", ".join(
            f"{row.method} {row.min_symmetry_degree:g} at {row.objective_at_min_degree:.4g}"
            for row in group.itertuples()
        )
        lines.append(f"{spectrum}, lowest degree at any objective (w = 0: objective 0): {costs}")
    others = [t for t in (0.01, 0.2) if t != tolerance]
    for (spectrum, d), _ in check.groupby(_SPECTRUM, dropna=False, sort=True):
        at = []
        for other in others:
            checked = tradeoff_check(info, other)
            here = checked[(checked["spectrum"] == spectrum) & ((checked["d"] == d) | checked["d"].isna())]
            at.append(f"{other:.0%}: {_lowest(here)}")
        lines.append(f"{spectrum}, lowest at matched objective within other tolerances: " + "; ".join(at))
    return lines
