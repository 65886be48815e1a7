"""Theorem 4 (paper §5.3): the data steps. Pure pandas/numpy, tested for exact values.

From rows of the ``theorem4`` benchmark (one per seed, ``metric.min_abs_delta``):

- :func:`theorem4_info`: Pr(min_i |Δ_i| > ε) per (N, γσ0), with the theorem's guarantee
  Pr ≥ 1 − 2εN / (√(2π) γσ0) (the proof's Eq. 62-66 rearranged) beside it;
- :func:`theorem4_thresholds`: the γσ0 at which the probability first reaches a level (0.5) for
  each N, interpolated in log γσ0, and the theorem's sufficient γσ0 for δ = that level;
- :func:`theorem4_slope`: the fitted log-log slope of that threshold against N (the theorem
  predicts at most linear growth, slope ≤ 1).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "theorem4_bound", "theorem4_info", "theorem4_slope", "theorem4_thresholds"]

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
