"""The figures of the ``theorem4`` benchmark: Theorem 4 (paper §5.3), scaling with N.

Data steps (pure pandas/numpy, tested for exact values), from its rows (one per seed,
``metric.min_abs_delta``):

- :func:`theorem4_info`: Pr(min_i |Δ_i| > ε) per (N, γσ0), with the theorem's guarantee
  Pr ≥ 1 − 2εN / (√(2π) γσ0) (the proof's Eq. 62-66 rearranged) beside it;
- :func:`theorem4_thresholds`: the γσ0 at which the probability first reaches a level (0.5) for
  each N, interpolated in log γσ0, and the theorem's sufficient γσ0 for δ = that level;
- :func:`theorem4_slope`: the fitted log-log slope of that threshold against N (the theorem
  predicts at most linear growth, slope ≤ 1).

Draw step: :func:`draw_theorem4`. Files (:func:`write`): theorem4_probability.csv,
theorem4_thresholds.csv, theorem4.png/.pdf.
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
    "draw_theorem4",
    "summary",
    "theorem4_bound",
    "theorem4_info",
    "theorem4_slope",
    "theorem4_thresholds",
    "write",
]

COLUMNS = (
    "trial_id",
    "method",
    "seed",
    "iteration",
    "gamma",
    "sigma0",
    "config.n_symmetries",
    "config.epsilon",
    "metric.min_abs_delta",
)
"""The results columns :func:`theorem4_info` reads (``syre-tune analyze`` loads only these)."""

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def theorem4_bound(gamma_sigma0: np.ndarray | float, n: np.ndarray | float, epsilon: float) -> np.ndarray:
    """The theorem's lower bound on Pr(min_i |Δ_i| > ε): max(0, 1 − 2εN / (√(2π) γσ0))."""
    gs = np.asarray(gamma_sigma0, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.clip(1.0 - 2.0 * epsilon * np.asarray(n, dtype=np.float64) / (_SQRT_2PI * gs), 0.0, 1.0)


def theorem4_info(df: pd.DataFrame, epsilon: float | None = None) -> pd.DataFrame:
    """One row per (N, γσ0): probability, seeds, the bound, and γσ0/N.

    Uses each run's last iteration; ``epsilon`` defaults to the runs' ``config.epsilon``.
    """
    needed = {"config.n_symmetries", "gamma", "sigma0", "seed", "iteration", "metric.min_abs_delta"}
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"theorem4_info: the results lack columns {sorted(missing)}")
    data = df[df["method"] == "syre"] if "method" in df.columns else df
    if epsilon is None:
        values = data["config.epsilon"].dropna().unique()
        if len(values) != 1:
            raise ValueError(f"theorem4_info: expected one config.epsilon in the results, got {sorted(values)}")
        epsilon = float(values[0])
    # Each run's last iteration, as row positions; then gather only the numeric columns used
    # (gathering the text columns too costs more, on a million rows, than all the rest).
    runs = data[["trial_id", "seed", "iteration"]].reset_index(drop=True)
    rows = runs.groupby(["trial_id", "seed"], sort=False)["iteration"].idxmax().to_numpy()
    last = data[["config.n_symmetries", "gamma", "sigma0", "metric.min_abs_delta"]].iloc[rows]
    last = last.assign(
        N=last["config.n_symmetries"].astype(int),
        gamma_sigma0=(last["gamma"] * last["sigma0"]).round(12),
        above=last["metric.min_abs_delta"] > epsilon,
    )
    table = (
        last.groupby(["N", "gamma_sigma0"], as_index=False)
        .agg(probability=("above", "mean"), seeds=("above", "size"))
        .sort_values(["N", "gamma_sigma0"], ignore_index=True)
    )
    table["epsilon"] = epsilon
    table["bound"] = theorem4_bound(table["gamma_sigma0"].to_numpy(), table["N"].to_numpy(), epsilon)
    table["gamma_sigma0_per_N"] = table["gamma_sigma0"] / table["N"]
    return table


def _crossing(x: np.ndarray, p: np.ndarray, level: float) -> float:
    """First x where p reaches ``level``, linear in (log x, p) between grid points; nan if never."""
    for i in range(len(x)):
        if p[i] >= level:
            if i == 0:
                return float(x[0]) if p[0] == level else float("nan")  # below the grid: unknown
            lx0, lx1 = math.log(x[i - 1]), math.log(x[i])
            return math.exp(lx0 + (level - p[i - 1]) * (lx1 - lx0) / (p[i] - p[i - 1]))
    return float("nan")


def theorem4_thresholds(info: pd.DataFrame, level: float = 0.5) -> pd.DataFrame:
    """Per N: the measured γσ0 at which Pr(min|Δ| > ε) reaches ``level``, and the theorem's
    sufficient γσ0 = 2εN / (√(2π)(1 − level)) for δ = level."""
    rows = []
    for n, group in info.groupby("N"):
        group = group.sort_values("gamma_sigma0")
        epsilon = float(group["epsilon"].iloc[0])
        rows.append(
            {
                "N": int(n),
                "gamma_sigma0_measured": _crossing(
                    group["gamma_sigma0"].to_numpy(), group["probability"].to_numpy(), level
                ),
                "gamma_sigma0_theorem": 2.0 * epsilon * n / (_SQRT_2PI * (1.0 - level)),
                "level": level,
            }
        )
    return pd.DataFrame(rows)


def theorem4_slope(thresholds: pd.DataFrame) -> float:
    """Least-squares slope of log(measured threshold) against log N (nan with < 2 points)."""
    ok = thresholds.dropna(subset=["gamma_sigma0_measured"])
    if len(ok) < 2:
        return float("nan")
    slope, _ = np.polyfit(np.log(ok["N"].to_numpy(float)), np.log(ok["gamma_sigma0_measured"].to_numpy(float)), 1)
    return float(slope)


# --- draw step ---


def draw_theorem4(info: pd.DataFrame, thresholds: pd.DataFrame | None = None) -> Any:
    """Left: Pr(min|Δ| > ε) against γσ0, one curve per N, the theorem's bound dashed, and the
    measured crossings of ``thresholds`` (if given) marked ×. Right: the same against γσ0/N, where
    the curves collapse. Returns the Figure."""
    import seaborn as sns

    plt = pyplot()
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


# --- the files analyze() writes ---


def _tables(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    info = theorem4_info(df)
    thresholds = theorem4_thresholds(info)
    thresholds["loglog_slope_vs_N"] = theorem4_slope(thresholds)
    return info, thresholds


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """theorem4_probability.csv, theorem4_thresholds.csv (with the log-log slope) and theorem4.png/.pdf."""
    info, thresholds = _tables(df)
    written = [
        write_csv(info, out / "theorem4_probability.csv"),
        write_csv(thresholds, out / "theorem4_thresholds.csv"),
    ]
    return written + save_figure(draw_theorem4(info, thresholds), out, "theorem4")


def summary(df: pd.DataFrame) -> list[str]:
    """The measured and guaranteed threshold per N, and the log-log slope (the theorem: ≤ 1)."""
    _, thresholds = _tables(df)
    lines = [
        f"N={row.N}: Pr(min|Δ| > ε) "
        + (
            f"reaches {row.level:g} at γσ0 = {row.gamma_sigma0_measured:.4g}"
            if not math.isnan(row.gamma_sigma0_measured)
            else f"does not cross {row.level:g} within the γσ0 swept"
        )
        + f" (the theorem guarantees it by γσ0 = {row.gamma_sigma0_theorem:.4g})"
        for row in thresholds.itertuples()
    ]
    slope = theorem4_slope(thresholds)
    return [*lines, f"log-log slope of the measured threshold against N: {slope:.3g} (the theorem: at most 1)"]
