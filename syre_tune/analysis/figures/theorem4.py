"""The figures of the ``theorem4`` benchmark: Theorem 4 (paper §5.3), scaling with N.

Data steps (pure pandas/numpy, tested for exact values), from its rows (one per seed,
``metric.min_abs_delta``):

- :func:`theorem4_info`: Pr(min_i |Δ_i| > ε) per grid point (N, γ, σ0), its 95 % Wilson score
  interval over the seeds (:func:`wilson_interval`), and the theorem's guarantee
  Pr ≥ 1 − 2εN / (√(2π) γσ0) (the proof's Eq. 62-66 rearranged) beside it;
- :func:`theorem4_thresholds`: the γσ0 at which the probability first reaches a level (0.5) on
  each curve (one per N, and per γ where several are swept), interpolated in log γσ0, and the
  theorem's sufficient γσ0 for δ = that level;
- :func:`theorem4_slope`: the fitted log-log slope of that threshold against N (the theorem
  predicts at most linear growth, slope ≤ 1).

Seeds are counted once per grid point. Two grid points that share a product γσ0 (say γ = 0.1,
σ0 = 1 and γ = 1, σ0 = 0.1) are *not* pooled: the benchmark draws each seed's basis V, targets,
initial point and the unit-normal direction of θ0 from the seed alone, so the same seed at both
points is the same draw rescaled, not a second independent one. Pooling them would count every
seed twice (the "seeds 128" of a 64-seed study) and give a binomial interval that is too narrow;
they stay separate points, on separate curves (one per γ). A seed reported twice for one grid
point (a re-run trial) is the same deterministic draw and counts once, its first run.

Draw step: :func:`draw_theorem4`. Files (:func:`write`): theorem4_probability.csv,
theorem4_thresholds.csv, theorem4.png/.pdf. :func:`summary` starts with three headline lines:
the thresholds, the slope, and the seeds and d they come from.
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
    "CONFIDENCE",
    "LEVEL",
    "draw_theorem4",
    "summary",
    "theorem4_bound",
    "theorem4_info",
    "theorem4_slope",
    "theorem4_slope_interval",
    "theorem4_thresholds",
    "wilson_interval",
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
    "config.extra_dims",
    "config.epsilon",
    "metric.min_abs_delta",
)
"""The results columns :func:`theorem4_info` reads (``syre-tune analyze`` loads only these)."""

CONFIDENCE = 0.95
"""The coverage of the binomial interval drawn around each probability."""
LEVEL = 0.5
"""The probability whose crossing :func:`theorem4_thresholds` locates (the theorem's δ)."""

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: two-sided 95 %
_POINT = ["N", "d", "gamma", "sigma0"]  # a grid point; d = N + extra_dims
_CURVE = ["N", "d", "gamma"]  # a curve: its points differ in σ0 only


def theorem4_bound(gamma_sigma0: np.ndarray | float, n: np.ndarray | float, epsilon: float) -> np.ndarray:
    """The theorem's lower bound on Pr(min_i |Δ_i| > ε): max(0, 1 − 2εN / (√(2π) γσ0))."""
    gs = np.asarray(gamma_sigma0, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.clip(1.0 - 2.0 * epsilon * np.asarray(n, dtype=np.float64) / (_SQRT_2PI * gs), 0.0, 1.0)


def wilson_interval(
    successes: np.ndarray | float, trials: np.ndarray | float, z: float = _Z95
) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval (no continuity correction) of a binomial proportion k/n:
    centre (k + z²/2) / (n + z²), half-width z √(k(n − k)/n + z²/4) / (n + z²); z = 1.96 for
    95 %. The same as ``scipy.stats.binomtest(k, n).proportion_ci(0.95, method="wilson")``;
    unlike the normal approximation it stays inside [0, 1] and is not empty at k = 0 or k = n."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError(f"wilson_interval: expected 0 <= successes <= trials and trials > 0, got {k=}, {n=}")
    centre = (k + z**2 / 2.0) / (n + z**2)
    half = z * np.sqrt(k * (n - k) / n + z**2 / 4.0) / (n + z**2)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def theorem4_info(df: pd.DataFrame, epsilon: float | None = None) -> pd.DataFrame:
    """One row per grid point (N, d, γ, σ0), sorted by N, d, γ, γσ0: ``probability`` =
    ``above`` / ``seeds`` (seeds with min|Δ| > ε over distinct seeds), its 95 % Wilson interval
    ``low``, ``high``, the theorem's ``bound``, ``gamma_sigma0`` and ``gamma_sigma0_per_N``.

    Uses each run's last iteration (a run: a trial and seed), each seed once per grid point (see
    the module's docstring); ``d`` is N + ``config.extra_dims`` (NaN where that is not stored).
    ``epsilon`` defaults to the runs' ``config.epsilon``.
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
    last = data[["config.n_symmetries", "gamma", "sigma0", "seed", "metric.min_abs_delta"]].iloc[rows]
    n = last["config.n_symmetries"].to_numpy(int)
    extra = np.nan  # d = N + extra_dims; unknown where extra_dims is not stored
    if "config.extra_dims" in data.columns:  # by position: the labels of df need not be unique
        extra = pd.to_numeric(data["config.extra_dims"].iloc[rows], errors="coerce").to_numpy(float)
    last = last.assign(
        N=n,
        d=n + extra,
        gamma=last["gamma"].astype(float),
        sigma0=last["sigma0"].astype(float),
        above=last["metric.min_abs_delta"] > epsilon,
    )
    # Each seed once per grid point: a re-run trial repeats the same deterministic draw.
    last = last.drop_duplicates(subset=[*_POINT, "seed"], keep="first")
    table = last.groupby(_POINT, as_index=False, dropna=False).agg(above=("above", "sum"), seeds=("seed", "nunique"))
    table["above"] = table["above"].astype(int)
    table["probability"] = table["above"] / table["seeds"]
    table["low"], table["high"] = wilson_interval(table["above"].to_numpy(), table["seeds"].to_numpy())
    table["gamma_sigma0"] = (table["gamma"] * table["sigma0"]).round(12)
    table["epsilon"] = epsilon
    table["bound"] = theorem4_bound(table["gamma_sigma0"].to_numpy(), table["N"].to_numpy(), epsilon)
    table["gamma_sigma0_per_N"] = table["gamma_sigma0"] / table["N"]
    order = ["N", "gamma_sigma0", "probability", "low", "high", "above", "seeds", "epsilon", "bound"]
    table = table[[*order, "gamma_sigma0_per_N", "d", "gamma", "sigma0"]]
    return table.sort_values(["N", "d", "gamma", "gamma_sigma0"], ignore_index=True)


def _crossing(x: np.ndarray, p: np.ndarray, level: float) -> float:
    """First x where p reaches ``level``, linear in (log x, p) between grid points; nan if never."""
    for i in range(len(x)):
        if p[i] >= level:
            if i == 0:
                return float(x[0]) if p[0] == level else float("nan")  # below the grid: unknown
            lx0, lx1 = math.log(x[i - 1]), math.log(x[i])
            return math.exp(lx0 + (level - p[i - 1]) * (lx1 - lx0) / (p[i] - p[i - 1]))
    return float("nan")


def _curves(info: pd.DataFrame) -> Any:
    """(key, rows sorted by γσ0) per curve: per N, and per d and γ where several (a table without
    the ``d`` or ``gamma`` column is one curve per N)."""
    keys = [k for k in _CURVE if k in info.columns]
    for key, group in info.groupby(keys, dropna=False, sort=True):
        yield dict(zip(keys, key)), group.sort_values("gamma_sigma0")


def theorem4_thresholds(info: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Per curve (N; d and γ where the table has them): the measured γσ0 at which
    Pr(min|Δ| > ε) first reaches ``level``, and the theorem's sufficient γσ0 =
    2εN / (√(2π)(1 − level)) for δ = level."""
    rows = []
    for key, group in _curves(info):
        n = int(key["N"])
        epsilon = float(group["epsilon"].iloc[0])
        rows.append(
            {
                "N": n,
                "gamma_sigma0_measured": _crossing(
                    group["gamma_sigma0"].to_numpy(), group["probability"].to_numpy(), level
                ),
                "gamma_sigma0_theorem": 2.0 * epsilon * n / (_SQRT_2PI * (1.0 - level)),
                "level": level,
                **{k: float(v) for k, v in key.items() if k != "N"},
            }
        )
    return pd.DataFrame(rows)


def theorem4_slope(thresholds: pd.DataFrame) -> float:
    """Least-squares slope of log(measured threshold) against log N (nan with < 2 points). Where
    there are several curve families (γ, or d − N), each gets its own intercept and they share
    the slope; with one family this is the plain fit."""
    ok = thresholds.dropna(subset=["gamma_sigma0_measured"])
    if len(ok) < 2:
        return float("nan")
    log_n = np.log(ok["N"].to_numpy(float))
    log_t = np.log(ok["gamma_sigma0_measured"].to_numpy(float))
    # The family of each threshold: (d − N, γ), -1 standing in for what the table lacks.
    extra = (ok["d"] - ok["N"]) if "d" in ok.columns else pd.Series(np.nan, index=ok.index)
    gamma = ok["gamma"] if "gamma" in ok.columns else pd.Series(np.nan, index=ok.index)
    by = [extra.fillna(-1.0).to_numpy(), gamma.fillna(-1.0).to_numpy()]
    x = log_n - pd.Series(log_n).groupby(by).transform("mean").to_numpy()
    y = log_t - pd.Series(log_t).groupby(by).transform("mean").to_numpy()
    if not np.any(x != 0):
        return float("nan")  # no family has two N
    return float((x * y).sum() / (x * x).sum())


def theorem4_slope_interval(
    info: pd.DataFrame, level: float = LEVEL, boots: int = 400, seed: int = 0
) -> tuple[float, float]:
    """A 95 % percentile bootstrap interval of :func:`theorem4_slope`, resampling the seeds of each
    grid point: a point's seeds are independent Bernoulli outcomes (above ε or not), so resampling
    them with replacement draws its count of successes from Binomial(seeds, probability). Each
    draw goes through :func:`theorem4_thresholds` and the fit as the data did; draws whose fit is
    undefined (a threshold not crossed) are left out, nan where more than half are."""
    rng = np.random.default_rng(seed)
    seeds = info["seeds"].to_numpy(int)
    observed = info["probability"].to_numpy(float)
    slopes = []
    for _ in range(boots):
        drawn = info.assign(probability=rng.binomial(seeds, observed) / seeds)
        slopes.append(theorem4_slope(theorem4_thresholds(drawn, level)))
    slopes = np.asarray(slopes)
    kept = slopes[~np.isnan(slopes)]
    if len(kept) * 2 < boots:
        return float("nan"), float("nan")
    low, high = np.percentile(kept, [2.5, 97.5])
    return float(low), float(high)


# --- draw step ---


def _span(values: pd.Series, unit: str = "") -> str:
    """'400' or '50–400' (the distinct values' range), with an optional unit after."""
    values = values.dropna()
    if values.empty:
        return "?"
    low, high = values.min(), values.max()
    return (f"{low:g}" if low == high else f"{low:g}–{high:g}") + unit


def _extra_dims(info: pd.DataFrame) -> str:
    """'d = N + 4' (or 'd = N + 2…8'; '' when d is not stored)."""
    if "d" not in info.columns or info["d"].isna().all():
        return ""
    extra = (info["d"] - info["N"]).dropna().astype(int).unique()
    return f"d = N + {extra[0]}" if len(extra) == 1 else f"d = N + {min(extra)}…{max(extra)}"


def _curve_label(key: dict, info: pd.DataFrame) -> str:
    """'N=4', with γ and d added only where they vary across the table."""
    label = f"N={int(key['N'])}"
    if "gamma" in key and info["gamma"].nunique() > 1:
        label += f", γ={key['gamma']:g}"
    if "d" in key and (info["d"] - info["N"]).nunique() > 1:
        label += f", d={key['d']:g}"
    return label


def draw_theorem4(info: pd.DataFrame, thresholds: pd.DataFrame | None = None) -> Any:
    """Left: Pr(min|Δ| > ε) against γσ0, one curve per N (per N and γ where several γ are swept)
    with its 95 % Wilson band over seeds, the theorem's bound dashed in the curve's colour, and
    the measured crossings of ``thresholds`` (if given) marked ×. Right: the same against γσ0/N,
    where the curves collapse onto the one bound. Every marker is in a legend; the title gives
    N, d, ε and the seeds per point. Returns the Figure."""
    import seaborn as sns
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    info = info[info["gamma_sigma0"] > 0]  # log axes: γσ0 = 0 (no syre) has no place on them
    if info.empty:
        for ax in axes:
            ax.text(0.5, 0.5, "no run with γσ0 > 0 to draw", ha="center", va="center", transform=ax.transAxes)
        return fig
    ns = sorted(info["N"].unique())
    palette = dict(zip(ns, sns.color_palette("viridis", len(ns))))
    gammas = sorted(info["gamma"].dropna().unique()) if "gamma" in info.columns else []
    styles = dict(zip(gammas, ["-", ":", "-.", (0, (5, 1))] * len(gammas)))
    epsilon = float(info["epsilon"].iloc[0])
    level = LEVEL
    for ax, x in zip(axes, ("gamma_sigma0", "gamma_sigma0_per_N")):
        for key, group in _curves(info):
            color = palette[key["N"]]
            group = group.sort_values(x)
            ls = styles.get(key.get("gamma"), "-")
            ax.fill_between(group[x], group["low"], group["high"], color=color, alpha=0.2, lw=0)
            ax.plot(
                group[x], group["probability"], marker="o", ms=3.5, ls=ls, color=color, label=_curve_label(key, info)
            )
        grid = np.geomspace(info[x].min(), info[x].max(), 200)
        if x == "gamma_sigma0":
            for n in ns:
                ax.plot(grid, theorem4_bound(grid, n, epsilon), ls="--", lw=1, color=palette[n])
        else:
            ax.plot(grid, theorem4_bound(grid, 1, epsilon), ls="--", lw=1.2, color="black")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"Pr(min$_i$ |Δ$_i$| > ε),  ε = {epsilon:g}")
    crossings = []
    if thresholds is not None:
        crossings = list(thresholds.dropna(subset=["gamma_sigma0_measured"]).itertuples())
        for row in crossings:
            color = palette.get(row.N, "black")
            axes[0].plot(row.gamma_sigma0_measured, row.level, marker="x", ms=9, mew=2, ls="none", color=color)
            level = row.level
    axes[0].set_xlabel("γσ0")
    axes[1].set_xlabel("γσ0 / N")
    axes[0].set_title("against γσ0")
    axes[1].set_title("collapse under γσ0/N")
    marks = [
        Line2D([], [], ls="--", color="grey", label="Theorem 4's lower bound\n1 − 2εN/(√(2π)γσ0), per N"),
        Patch(color="grey", alpha=0.25, label=f"{CONFIDENCE:.0%} Wilson interval over seeds"),
    ]
    if crossings:
        marks.append(
            Line2D(
                [],
                [],
                marker="x",
                mew=2,
                ls="none",
                color="grey",
                label=f"measured γσ0 where Pr first\nreaches {level:g}",
            )
        )
    handles, _ = axes[0].get_legend_handles_labels()
    axes[0].legend(handles=[*handles, *marks], frameon=False, loc="upper left", fontsize=8)
    bound = Line2D([], [], ls="--", color="black", label="Theorem 4's lower bound\n1 − 2ε/(√(2π)·γσ0/N)")
    axes[1].legend(handles=[bound, marks[1]], frameon=False, loc="lower right", fontsize=8)
    dims = _extra_dims(info)
    fig.suptitle(
        f"Theorem 4 (§5.3): N = {_span(info['N'])} reflection symmetries"
        + (f", {dims}" if dims else "")
        + f", ε = {epsilon:g}, {_span(info['seeds'])} seeds per point"
    )
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


def _g(value: float) -> str:
    return "not reached" if math.isnan(value) else f"{value:.4g}"


def summary(df: pd.DataFrame) -> list[str]:
    """Three headline lines: the measured γσ0 where Pr(min|Δ| > ε) reaches 0.5 per N (and the
    theorem's sufficient γσ0), the log-log slope of that threshold in N (the theorem: ≤ 1), and
    the seeds and d behind them. Then one line per curve and how many points fall below the
    theorem's bound by more than their 95 % interval."""
    info, thresholds = _tables(df)
    several = len(thresholds) > thresholds["N"].nunique()  # several γ or d per N
    curves = [_curve_label(dict(row._asdict()), info) for row in thresholds.itertuples()] if several else None
    names = curves or [f"N={row.N}" for row in thresholds.itertuples()]
    level = float(thresholds["level"].iloc[0]) if len(thresholds) else LEVEL
    epsilon = float(info["epsilon"].iloc[0])
    measured = ", ".join(f"{_g(t)} ({name})" for t, name in zip(thresholds["gamma_sigma0_measured"], names))
    theorem = ", ".join(f"{t:.4g}" for t in thresholds.drop_duplicates("N")["gamma_sigma0_theorem"])
    n_order = ", ".join(f"{n}" for n in thresholds["N"].unique())
    slope = theorem4_slope(thresholds)
    low, high = theorem4_slope_interval(info, level)
    interval = "" if math.isnan(low) else f" [95 % bootstrap over seeds: {low:.3g}–{high:.3g}]"
    half = float(((info["high"] - info["low"]) / 2).max())
    dims = _extra_dims(info)
    gammas = info["gamma"].dropna().unique()
    headline = [
        f"Theorem 4: Pr(min|Δ| > ε = {epsilon:g}) reaches {level:g} at γσ0 = {measured}; "
        f"the theorem guarantees it by γσ0 = {theorem} (N = {n_order})",
        f"threshold slope in N (log-log fit over {thresholds['gamma_sigma0_measured'].notna().sum()} thresholds): "
        f"{slope:.3g}{interval} (the theorem: at most 1)",
        f"from {_span(info['seeds'])} seeds per point (95 % Wilson half-width ≤ {half:.2g}), "
        f"N = {_span(info['N'])}" + (f", {dims}" if dims else "") + f", γ = {', '.join(f'{g:g}' for g in gammas)}",
    ]
    lines = [
        f"{name}: Pr(min|Δ| > ε) "
        + (
            f"reaches {row.level:g} at γσ0 = {row.gamma_sigma0_measured:.4g}"
            if not math.isnan(row.gamma_sigma0_measured)
            else f"does not cross {row.level:g} within the γσ0 swept"
        )
        + f" (the theorem guarantees it by γσ0 = {row.gamma_sigma0_theorem:.4g})"
        for name, row in zip(names, thresholds.itertuples())
    ]
    below = int((info["high"] < info["bound"]).sum())
    lines.append(f"points below the theorem's bound by more than their 95 % interval: {below} of {len(info)}")
    return [*headline, *lines]
