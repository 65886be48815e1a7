"""Draw steps: render the tables of the data steps with seaborn. They compute nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis._theorem4 import theorem4_bound

__all__ = ["draw_theorem4", "draw_tradeoff"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def draw_theorem4(info: pd.DataFrame, thresholds: pd.DataFrame | None = None) -> Any:
    """Left: Pr(min|Δ| > ε) against γσ0, one curve per N, the theorem's bound dashed, and the
    measured crossings of ``thresholds`` (if given) marked ×. Right: the same against γσ0/N, where
    the curves collapse. Returns the Figure."""
    import seaborn as sns

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    info = info[info["gamma_sigma0"] > 0]  # log axes: γσ0 = 0 (no syre) has no place on them
    if info.empty:
        for ax in axes:
            ax.text(0.5, 0.5, "no run with γσ0 > 0 to draw", ha="center", va="center", transform=ax.transAxes)
        return fig
    ns = sorted(info["N"].unique())
    palette = dict(zip(ns, sns.color_palette("viridis", len(ns))))
    epsilon = float(info["epsilon"].iloc[0])
    for ax, x in zip(axes, ("gamma_sigma0", "gamma_sigma0_per_N")):
        sns.lineplot(data=info, x=x, y="probability", hue="N", palette=palette, marker="o", ax=ax, legend=ax is axes[0])
        grid = np.geomspace(info[x].min(), info[x].max(), 200)
        if x == "gamma_sigma0":
            for n in ns:
                ax.plot(grid, theorem4_bound(grid, n, epsilon), ls="--", lw=1, color=palette[n])
        else:
            ax.plot(grid, theorem4_bound(grid, 1, epsilon), ls="--", lw=1.2, color="black", label="theorem bound")
            ax.legend(loc="lower right", frameon=False)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"Pr(min$_i$ |Δ$_i$| > ε),  ε = {epsilon:g}")
    axes[0].set_xlabel("γσ0")
    axes[1].set_xlabel("γσ0 / N")
    axes[0].set_title("Theorem 4 (dashed: the guaranteed lower bound)")
    axes[1].set_title("collapse under γσ0/N")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].legend(handles, [f"N={label}" for label in labels], title=None, frameon=False, loc="upper left")
    if thresholds is not None:
        for row in thresholds.dropna(subset=["gamma_sigma0_measured"]).itertuples():
            axes[0].plot(row.gamma_sigma0_measured, row.level, marker="x", ms=9, color=palette.get(row.N, "black"))
    return fig


def draw_tradeoff(info: pd.DataFrame) -> Any:
    """Degree of symmetry against objective, one path per method through its hyperparameter,
    one panel per spectrum (Fig. 4). Returns the Figure."""
    import seaborn as sns

    plt = _pyplot()
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
