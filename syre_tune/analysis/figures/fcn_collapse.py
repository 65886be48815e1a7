"""The figures of the ``fcn_collapse`` benchmark: paper Fig. 5 (accuracy and first-layer rank of a
4-layer FCN against γ and against the input scale α) and Fig. 8 (the covariance spectrum).

Data steps (pure pandas/numpy, tested for exact values):

- :func:`fcn_collapse_info`: each run's last training report (not the spectrum reports), placed
  on the γ sweep (rows at α = ``scale_fixed``, x = γ) and on the α sweep (rows at γ =
  ``gamma_fixed``, x = α; a run at both lies on both), means over seeds of train/test accuracy,
  rank and rank_post, with the number of seeds;
- :func:`fcn_spectrum_info`: the spectrum reports, the mean over seeds of each eigenvalue per
  (method, γ, α, eigen_index).

Draw steps: :func:`draw_fcn_collapse` (Fig. 5: top accuracy, solid train and dashed test, the
random guess dotted; bottom rank before (solid) and after (dashed) the ReLU; left against γ, right
against α) and :func:`draw_fcn_spectrum` (Fig. 8: the eigenvalues against their index, log scale,
a panel per γ at α = ``scale_fixed``, the 1e-4 threshold dotted). Files (:func:`write`):
fcn_collapse.csv, fcn_collapse_spectrum.csv, fcn_collapse.png/.pdf, fcn_collapse_spectrum.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis import pyplot, save_figure, write_csv
from syre_tune.analysis._collapse import collapse_headline

__all__ = [
    "COLUMNS",
    "draw_fcn_collapse",
    "draw_fcn_spectrum",
    "fcn_collapse_info",
    "fcn_spectrum_info",
    "summary",
    "write",
]

COLUMNS = (
    "trial_id",
    "method",
    "seed",
    "iteration",
    "gamma",
    "config.input_scale",
    "metric.train_accuracy",
    "metric.test_accuracy",
    "metric.rank",
    "metric.rank_post",
    "metric.eigen_index",
    "metric.eigenvalue",
)
GAMMA_FIXED = 0.01
"""γ of the α sweep (Fig. 5 right)."""
SCALE_FIXED = 1.0
"""α of the γ sweep (Fig. 5 left)."""
RANDOM_GUESS = 0.1
RANK_THRESHOLD = 1e-4
_MEASURES = ("train_accuracy", "test_accuracy", "rank", "rank_post")


def _check(df: pd.DataFrame, where: str) -> None:
    missing = set(COLUMNS[1:]) - set(df.columns)
    if missing:
        raise ValueError(f"{where}: the results lack columns {sorted(missing)}")


def fcn_collapse_info(
    df: pd.DataFrame, gamma_fixed: float = GAMMA_FIXED, scale_fixed: float = SCALE_FIXED
) -> pd.DataFrame:
    """Columns sweep ("gamma" | "input_scale"), x, method, gamma, input_scale, the means over seeds
    of train_accuracy, test_accuracy, rank, rank_post, and seeds; sorted by sweep, method, x."""
    _check(df, "fcn_collapse_info")
    training = df[df["metric.eigen_index"].isna()]
    run = ["trial_id", "seed"]
    last = training.loc[training.groupby(run, sort=False)["iteration"].idxmax()]
    data = pd.DataFrame(
        {
            "method": last["method"].astype(object),
            "gamma": last["gamma"].astype(np.float64),
            "input_scale": last["config.input_scale"].astype(np.float64),
            **{m: last[f"metric.{m}"].astype(np.float64) for m in _MEASURES},
        }
    )
    parts = []
    for sweep, fixed, x in (("gamma", "input_scale", "gamma"), ("input_scale", "gamma", "input_scale")):
        value = scale_fixed if fixed == "input_scale" else gamma_fixed
        chosen = data[np.isclose(data[fixed], value, rtol=1e-9, atol=0.0)]
        parts.append(chosen.assign(sweep=sweep, x=chosen[x]))
    both = pd.concat(parts, ignore_index=True)
    keys = ["sweep", "x", "method", "gamma", "input_scale"]
    table = both.groupby(keys, as_index=False).agg(
        **{m: (m, "mean") for m in _MEASURES}, seeds=("train_accuracy", "size")
    )
    return table.sort_values(["sweep", "method", "x"], ignore_index=True)


def fcn_spectrum_info(df: pd.DataFrame) -> pd.DataFrame:
    """Columns method, gamma, input_scale, eigen_index (int), eigenvalue (mean over seeds), seeds."""
    _check(df, "fcn_spectrum_info")
    rows = df[df["metric.eigen_index"].notna()]
    data = pd.DataFrame(
        {
            "method": rows["method"].astype(object),
            "gamma": rows["gamma"].astype(np.float64),
            "input_scale": rows["config.input_scale"].astype(np.float64),
            "eigen_index": rows["metric.eigen_index"].astype(np.int64),
            "eigenvalue": rows["metric.eigenvalue"].astype(np.float64),
        }
    )
    keys = ["method", "gamma", "input_scale", "eigen_index"]
    table = data.groupby(keys, as_index=False).agg(eigenvalue=("eigenvalue", "mean"), seeds=("eigenvalue", "size"))
    return table.sort_values(keys, ignore_index=True)


# --- draw steps ---


def _palette(methods: list[str]) -> dict[str, Any]:
    import seaborn as sns

    return dict(zip(methods, sns.color_palette("deep", max(1, len(methods)))))


def draw_fcn_collapse(info: pd.DataFrame) -> Any:
    """Fig. 5: top accuracy (solid train, dashed test, dotted random guess), bottom first-layer rank
    (solid before, dashed after the ReLU); left against γ (α fixed), right against α (γ fixed)."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), squeeze=False, constrained_layout=True)
    colors = _palette(sorted(info["method"].unique()))
    for col, (sweep, label) in enumerate((("gamma", "weight decay γ"), ("input_scale", "input scale α"))):
        part = info[info["sweep"] == sweep]
        top, bottom = axes[0, col], axes[1, col]
        for method, curve in part.groupby("method"):
            color = colors[method]
            top.plot(curve["x"], curve["train_accuracy"], "-o", color=color, label=f"{method} train")
            top.plot(curve["x"], curve["test_accuracy"], "--o", color=color, label=f"{method} test", mfc="none")
            bottom.plot(curve["x"], curve["rank"], "-o", color=color, label=f"{method} before ReLU")
            bottom.plot(curve["x"], curve["rank_post"], "--o", color=color, label=f"{method} after ReLU", mfc="none")
        top.axhline(RANDOM_GUESS, color="black", ls=":", lw=1, label="random guess")
        fixed = "α = 1" if sweep == "gamma" else "γ = 0.01"
        top.set_title(f"accuracy against {label.split()[-1]} ({fixed})", fontsize=10)
        bottom.set_title(f"first-layer covariance rank (eigenvalues > {RANK_THRESHOLD:g})", fontsize=10)
        top.set_ylabel("accuracy")
        bottom.set_ylabel("rank")
        for ax in (top, bottom):
            ax.set_xlabel(label)
            if len(part) and (part["x"] > 0).all():
                ax.set_xscale("log")
        if col == 0:
            top.legend(fontsize=7, frameon=False)
            bottom.legend(fontsize=7, frameon=False)
    return fig


def draw_fcn_spectrum(spectrum: pd.DataFrame, scale_fixed: float = SCALE_FIXED) -> Any:
    """Fig. 8: eigenvalues of the first layer's covariance against their index (log y; zeros drawn
    at the floor), a panel per γ at α = ``scale_fixed``, a line per method."""
    plt = pyplot()
    part = spectrum[np.isclose(spectrum["input_scale"], scale_fixed)]
    gammas = sorted(part["gamma"].unique()) or [float("nan")]
    fig, axes = plt.subplots(1, len(gammas), figsize=(3.6 * len(gammas), 3.4), squeeze=False, constrained_layout=True)
    colors = _palette(sorted(spectrum["method"].unique()))
    positive = part.loc[part["eigenvalue"] > 0, "eigenvalue"]
    floor = float(positive.min()) / 10 if len(positive) else RANK_THRESHOLD / 100
    floor = min(floor, RANK_THRESHOLD / 10)
    for ax, gamma in zip(axes[0], gammas):
        for method, curve in part[part["gamma"] == gamma].groupby("method"):
            ax.plot(curve["eigen_index"], curve["eigenvalue"].clip(lower=floor), color=colors[method], label=method)
        ax.axhline(RANK_THRESHOLD, color="black", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("eigenvalue index")
        ax.set_title(f"γ = {gamma:g}, α = {scale_fixed:g}", fontsize=10)
    axes[0, 0].set_ylabel("eigenvalue of the first layer's covariance")
    axes[0, 0].legend(fontsize=7, frameon=False)
    return fig


# --- the files analyze() writes ---


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """fcn_collapse.csv, fcn_collapse_spectrum.csv, fcn_collapse.png/.pdf, fcn_collapse_spectrum.png/.pdf."""
    info, spectrum = fcn_collapse_info(df), fcn_spectrum_info(df)
    return [
        write_csv(info, out / "fcn_collapse.csv"),
        write_csv(spectrum, out / "fcn_collapse_spectrum.csv"),
        *save_figure(draw_fcn_collapse(info), out, "fcn_collapse"),
        *save_figure(draw_fcn_spectrum(spectrum), out, "fcn_collapse_spectrum"),
    ]


def _headline(info: pd.DataFrame) -> list[str]:
    """Syre against weight decay (vanilla if no weight decay ran) at the largest γ and at the
    smallest α both ran (Fig. 5's collapse), and at how many shared (γ, α) points syre keeps the
    higher first-layer rank; empty when no point is shared."""
    methods = set(info["method"])
    reference = next((m for m in ("weight_decay", "vanilla") if m in methods), None)
    if "syre" not in methods or reference is None:
        return []
    return collapse_headline(info, reference, "first-layer")


def summary(df: pd.DataFrame) -> list[str]:
    """A headline (syre against weight decay where Fig. 5 collapses: the largest γ, the smallest α;
    none when no point is shared), then per sweep point and method the final test accuracy and
    first-layer ranks."""
    info = fcn_collapse_info(df)
    return _headline(info) + [
        f"{r.sweep} sweep, γ={r.gamma:g}, α={r.input_scale:g}, {r.method}: test accuracy {r.test_accuracy:.4g}, "
        f"rank {r.rank:.4g} before / {r.rank_post:.4g} after ReLU ({r.seeds} seeds)"
        for r in info.itertuples()
    ]
