"""The figure of the ``vit_cifar`` benchmark: paper Fig. 12 (test accuracy and the rank of the
final layer's input of a ViT on CIFAR-10, against γ at α = 1 and against the input scale α at
γ = 1e-4).

Data step (pure pandas/numpy, tested for exact values): :func:`vit_cifar_info`, each run's last
report placed on the γ sweep (runs at α = ``scale_fixed``; x = γ, NaN for a method without γ,
sigma_asym) and on the α sweep (runs at γ = ``gamma_fixed`` or without γ; x = α), the mean and
std over seeds of test accuracy and rank, with the number of seeds.

Draw step: :func:`draw_vit_cifar`, top test accuracy (± std over seeds, random guess dashed
black), bottom rank (eigenvalues > 1e-4); left against γ, right against α; a method without γ is
a horizontal dotted line on the γ panels. Files (:func:`write`): vit_cifar.csv, vit_cifar.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis import pyplot, save_figure, write_csv
from syre_tune.analysis._collapse import collapse_headline

__all__ = ["COLUMNS", "draw_vit_cifar", "summary", "vit_cifar_info", "write"]

COLUMNS = (
    "trial_id",
    "method",
    "seed",
    "iteration",
    "gamma",
    "config.input_scale",
    "config.dataset",
    "config.depth",
    "config.dim",
    "config.patch",
    "metric.test_accuracy",
    "metric.rank",
)
GAMMA_FIXED = 1e-4
"""γ of the α sweep (Fig. 12 right)."""
SCALE_FIXED = 1.0
"""α of the γ sweep (Fig. 12 left)."""
RANDOM_GUESS = 0.1
"""Chance accuracy on CIFAR-10 (and its 10-class stand-in)."""
RANK_THRESHOLD = 1e-4
_MEASURES = ("test_accuracy", "rank")


def vit_cifar_info(
    df: pd.DataFrame, gamma_fixed: float = GAMMA_FIXED, scale_fixed: float = SCALE_FIXED
) -> pd.DataFrame:
    """Columns sweep ("gamma" | "input_scale"), x, method, gamma, input_scale, test_accuracy,
    test_accuracy_std, rank, rank_std (over seeds; std with ddof 1, NaN for one seed), seeds;
    sorted by sweep, method, x. A run without γ (sigma_asym) lies on the γ sweep with x = NaN."""
    missing = set(COLUMNS[1:]) - set(df.columns)
    if missing:
        raise ValueError(f"vit_cifar_info: the results lack columns {sorted(missing)}")
    last = df.loc[df.groupby(["trial_id", "seed"], sort=False)["iteration"].idxmax()]
    data = pd.DataFrame(
        {
            "method": last["method"].astype(object),
            "gamma": last["gamma"].astype(np.float64),
            "input_scale": last["config.input_scale"].astype(np.float64),
            **{m: last[f"metric.{m}"].astype(np.float64) for m in _MEASURES},
        }
    )
    no_gamma = data["gamma"].isna()
    on_gamma = data[np.isclose(data["input_scale"], scale_fixed, rtol=1e-9, atol=0.0)]
    on_scale = data[no_gamma | np.isclose(data["gamma"], gamma_fixed, rtol=1e-9, atol=0.0)]
    gamma_sweep = on_gamma.assign(sweep="gamma", x=on_gamma["gamma"])
    scale_sweep = on_scale.assign(sweep="input_scale", x=on_scale["input_scale"])
    both = pd.concat([gamma_sweep, scale_sweep], ignore_index=True)
    keys = ["sweep", "x", "method", "gamma", "input_scale"]
    stats = {f"{m}{suffix}": (m, how) for m in _MEASURES for suffix, how in (("", "mean"), ("_std", "std"))}
    table = both.groupby(keys, as_index=False, dropna=False).agg(**stats, seeds=("rank", "size"))
    return table.sort_values(["sweep", "method", "x"], ignore_index=True)


def draw_vit_cifar(info: pd.DataFrame, title: str = "ViT 6×512, patch 4 (Yoshioka's) on CIFAR-10") -> Any:
    """Fig. 12: top test accuracy, bottom rank of the final layer's input; left against γ (α fixed),
    right against α (γ fixed); error bars ± std over seeds."""
    import seaborn as sns

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), squeeze=False, constrained_layout=True)
    methods = sorted(info["method"].unique())
    colors = dict(zip(methods, sns.color_palette("deep", max(1, len(methods)))))
    for col, (sweep, label, fixed) in enumerate(
        (("gamma", "weight decay γ", f"α = {SCALE_FIXED:g}"), ("input_scale", "input scale α", f"γ = {GAMMA_FIXED:g}"))
    ):
        part = info[info["sweep"] == sweep]
        for row, (measure, ylabel) in enumerate(
            (("test_accuracy", "test accuracy"), ("rank", f"rank of the last layer's input (eig > {RANK_THRESHOLD:g})"))
        ):
            ax = axes[row, col]
            for method, curve in part.groupby("method"):
                points = curve[curve["x"].notna()]
                if len(points):
                    ax.errorbar(
                        points["x"],
                        points[measure],
                        yerr=points[f"{measure}_std"].fillna(0.0),
                        fmt="-o",
                        color=colors[method],
                        label=method,
                        capsize=3,
                    )
                else:  # no γ: one value for every γ
                    value = float(curve[measure].mean())
                    ax.axhline(value, color=colors[method], ls=":", lw=1.5, label=f"{method} (no γ)")
            if measure == "test_accuracy":
                ax.axhline(RANDOM_GUESS, color="black", ls="--", lw=1, label="random guess")
                ax.set_title(f"{title}: against {label.split()[-1]} ({fixed})", fontsize=9)
            ax.set_xlabel(label)
            ax.set_ylabel(ylabel)
            xs = part["x"].dropna()
            if len(xs) and (xs > 0).all():
                ax.set_xscale("log")
            if col == 0:
                ax.legend(fontsize=7, frameon=False)
    return fig


def _values(df: pd.DataFrame, column: str) -> list[str]:
    """The distinct values of ``column`` as text (a data set's name without its description)."""
    return sorted({str(v).split(" (")[0] for v in df[column].dropna().unique()})


def model_label(df: pd.DataFrame) -> str:
    """The model's size from the runs' config, as "ViT depth×dim, patch p" (several joined by "/")."""
    depth, dim, patch = ("/".join(_values(df, f"config.{k}")) for k in ("depth", "dim", "patch"))
    return f"ViT {depth}×{dim}, patch {patch}"


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """vit_cifar.csv and vit_cifar.png/.pdf (the model's size and the data set named in the title)."""
    info = vit_cifar_info(df)
    title = f"{model_label(df)} on " + (", ".join(_values(df, "config.dataset")) or "CIFAR-10")
    return [write_csv(info, out / "vit_cifar.csv"), *save_figure(draw_vit_cifar(info, title), out, "vit_cifar")]


def _headline(info: pd.DataFrame) -> list[str]:
    """Syre against weight decay at the largest γ and the smallest α both ran (Fig. 12's collapse),
    at how many shared (γ, α) points syre keeps the higher rank, and syre against sigma_asym at
    γ = 1e-4, α = 1; empty when syre shares no point with weight decay."""
    lines = collapse_headline(info, "weight_decay", "last-layer")
    if not lines:
        return []
    on_scale = info[(info["sweep"] == "input_scale") & np.isclose(info["x"], SCALE_FIXED)]
    asym, ours = on_scale[on_scale["method"] == "sigma_asym"], on_scale[on_scale["method"] == "syre"]
    if len(asym) and len(ours):
        a, o = asym.iloc[0], ours.iloc[0]
        lines.append(
            f"at α = {SCALE_FIXED:g}: test accuracy syre (γ = {o['gamma']:g}) {o['test_accuracy']:.3g} vs sigma_asym "
            f"{a['test_accuracy']:.3g}, last-layer rank {o['rank']:.4g} vs {a['rank']:.4g}"
        )
    return lines


def summary(df: pd.DataFrame) -> list[str]:
    """A headline (syre against weight decay where Fig. 12 collapses: the largest γ, the smallest α,
    and against sigma_asym; none when syre and weight decay share no point), then per sweep point
    and method the final test accuracy and last-layer rank, and whether weight decay's rank falls
    below syre's at the largest γ and at the smallest α."""
    info = vit_cifar_info(df)
    lines = _headline(info) + [
        f"{r.sweep} sweep, γ={r.gamma:g}, α={r.input_scale:g}, {r.method}: test accuracy {r.test_accuracy:.4g}, "
        f"rank {r.rank:.4g} ({r.seeds} seeds)"
        for r in info.itertuples()
    ]
    for sweep, pick in (("gamma", "max"), ("input_scale", "min")):
        part = info[(info["sweep"] == sweep) & info["method"].isin(["weight_decay", "syre"]) & info["x"].notna()]
        if part.empty:
            continue
        x = getattr(part["x"], pick)()
        ranks = part[part["x"] == x].set_index("method")["rank"]
        if {"weight_decay", "syre"} <= set(ranks.index):
            decay, syre = ranks["weight_decay"], ranks["syre"]
            verdict = "yes" if decay < syre else "no"
            lines.append(
                f"weight_decay's rank below syre's at {sweep} = {x:g}: {verdict} "
                f"(means over seeds {decay:.4g} vs {syre:.4g})"
            )
    return lines
