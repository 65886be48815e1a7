"""The reviewer's figures: Theorem 4's Wilson bands and seeds counted once, the tradeoff compared at
matched objective, headlines that carry the data steps' numbers, and labels the draw steps show."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from syre_tune.analysis.figures import symmetry_objective, theorem4

# --- Theorem 4 -------------------------------------------------------------------------------------


def theorem4_rows(points: dict[tuple[int, float, float], list[float]], epsilon: float = 0.1) -> pd.DataFrame:
    """Rows like the benchmark's, extra_dims 4: per grid point (N, γ, σ0) one trial, a row per seed
    (seeds 0, 1, ...) at iteration 10, and an earlier iteration whose values must be ignored."""
    rows = []
    for trial, ((n, gamma, sigma0), values) in enumerate(points.items()):
        for seed, value in enumerate(values):
            common = {"trial_id": f"t{trial}", "method": "syre", "gamma": gamma, "sigma0": sigma0, "seed": seed}
            common.update({"config.n_symmetries": n, "config.extra_dims": 4, "config.epsilon": epsilon})
            rows.append({**common, "iteration": 0, "metric.min_abs_delta": 99.0})
            rows.append({**common, "iteration": 10, "metric.min_abs_delta": value})
    return pd.DataFrame(rows)


def test_wilson_interval_is_scipys_and_the_hand_formula() -> None:
    k = np.array([0, 1, 3, 5, 10, 37])
    n = np.array([10, 10, 10, 10, 10, 64])
    low, high = theorem4.wilson_interval(k, n)
    for i in range(len(k)):
        ci = binomtest(int(k[i]), int(n[i])).proportion_ci(0.95, method="wilson")
        assert (low[i], high[i]) == pytest.approx((ci.low, ci.high), abs=1e-12)
    # 3 of 10 by hand: z = 1.959964, centre (3 + z²/2)/(10 + z²), half z√(3·7/10 + z²/4)/(10 + z²)
    z = 1.959963984540054
    centre, half = (3 + z * z / 2) / (10 + z * z), z * math.sqrt(2.1 + z * z / 4) / (10 + z * z)
    assert (low[2], high[2]) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert (low[2], high[2]) == pytest.approx((0.10779, 0.60322), abs=1e-5)
    with pytest.raises(ValueError, match="successes <= trials"):
        theorem4.wilson_interval(11, 10)


def test_theorem4_info_gives_each_point_its_wilson_interval() -> None:
    df = theorem4_rows({(1, 0.5, 0.2): [0.05, 0.2, 0.3, 0.01, 0.5], (4, 0.5, 0.4): [0.2, 0.3, 0.4, 0.5, 0.6]})
    info = theorem4.theorem4_info(df)
    assert info[["N", "d", "above", "seeds", "probability"]].to_dict("records") == [
        {"N": 1, "d": 5.0, "above": 3, "seeds": 5, "probability": 0.6},
        {"N": 4, "d": 8.0, "above": 5, "seeds": 5, "probability": 1.0},
    ]
    for row, (k, n) in zip(info.itertuples(), [(3, 5), (5, 5)]):
        ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert (row.low, row.high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert info["high"].iloc[1] == 1.0 and info["low"].iloc[1] < 1.0  # not empty at k = n


def test_theorem4_counts_seeds_once_where_grid_points_share_gamma_sigma0() -> None:
    """γ = 0.1, σ0 = 1 and γ = 1, σ0 = 0.1 share γσ0 = 0.1 and the seeds 0-3: the same seeds
    rescaled, not new draws, so two points of 4 seeds each (not one of 8); and a re-run of the
    first point (another trial, the same seeds) adds no seed."""
    df = theorem4_rows({(1, 0.1, 1.0): [0.2, 0.2, 0.2, 0.0], (1, 1.0, 0.1): [0.2, 0.0, 0.0, 0.0]})
    rerun = df[df["trial_id"] == "t0"].assign(trial_id="t9", **{"metric.min_abs_delta": 0.2})
    info = theorem4.theorem4_info(pd.concat([df, rerun], ignore_index=True))
    assert info[["gamma", "sigma0", "gamma_sigma0", "above", "seeds", "probability"]].to_dict("records") == [
        {"gamma": 0.1, "sigma0": 1.0, "gamma_sigma0": 0.1, "above": 3, "seeds": 4, "probability": 0.75},
        {"gamma": 1.0, "sigma0": 0.1, "gamma_sigma0": 0.1, "above": 1, "seeds": 4, "probability": 0.25},
    ]
    low, high = theorem4.wilson_interval(np.array([3, 1]), np.array([4, 4]))
    assert info["low"].tolist() == pytest.approx(low) and info["high"].tolist() == pytest.approx(high)
    thresholds = theorem4.theorem4_thresholds(info)  # one curve per γ
    assert thresholds[["N", "gamma"]].to_dict("records") == [{"N": 1, "gamma": 0.1}, {"N": 1, "gamma": 1.0}]
    assert thresholds["gamma_sigma0_measured"].isna().tolist() == [True, True]  # 0.75 at the first point: unknown
    assert theorem4.summary(pd.concat([df, rerun]))[2].startswith("from 4 seeds per point")


def test_theorem4_slope_shares_the_slope_across_gamma_and_keeps_their_intercepts() -> None:
    """Two γ families, each threshold exactly ∝ N (slope 1) but with different intercepts: the
    shared slope is 1, where one line through all four points would not be."""
    thresholds = pd.DataFrame(
        {
            "N": [1, 4, 2, 8],
            "gamma": [0.1, 0.1, 1.0, 1.0],
            "d": [5.0, 8.0, 6.0, 12.0],
            "gamma_sigma0_measured": [0.01, 0.04, 0.1, 0.4],
        }
    )
    assert theorem4.theorem4_slope(thresholds) == pytest.approx(1.0)
    pooled, _ = np.polyfit(np.log(thresholds["N"]), np.log(thresholds["gamma_sigma0_measured"]), 1)
    assert pooled != pytest.approx(1.0, abs=0.1)
    assert math.isnan(theorem4.theorem4_slope(thresholds.iloc[[0, 2]]))  # no family has two N


def t4_study() -> pd.DataFrame:
    return theorem4_rows(
        {
            (1, 0.5, 0.2): [0.05, 0.2, 0.3, 0.01],
            (1, 0.5, 0.4): [0.2, 0.3, 0.4, 0.5],
            (4, 0.5, 0.2): [0.0, 0.0, 0.0, 0.2],
            (4, 0.5, 0.4): [0.0, 0.11, 0.2, 0.09],
        }
    )


def test_theorem4_headline_carries_thresholds_slope_and_seeds() -> None:
    df = t4_study()
    info = theorem4.theorem4_info(df)
    thresholds = theorem4.theorem4_thresholds(info)
    slope = theorem4.theorem4_slope(thresholds)
    # N=1 reaches 0.5 at its first point (0.1); N=4 goes 0.25 → 0.5 over 0.1 → 0.2: at 0.2.
    assert thresholds["gamma_sigma0_measured"].tolist() == pytest.approx([0.1, 0.2])
    assert slope == pytest.approx(0.5)
    headline = theorem4.summary(df)[:3]
    assert headline[0] == (
        "Theorem 4: Pr(min|Δ| > ε = 0.1) reaches 0.5 at γσ0 = 0.1 (N=1), 0.2 (N=4); "
        "the theorem guarantees it by γσ0 = 0.1596, 0.6383 (N = 1, 4)"
    )
    assert headline[1].startswith(f"threshold slope in N (log-log fit over 2 thresholds): {slope:.3g}")
    assert headline[1].endswith("(the theorem: at most 1)")
    half = float(((info["high"] - info["low"]) / 2).max())
    assert headline[2] == f"from 4 seeds per point (95 % Wilson half-width ≤ {half:.2g}), N = 1–4, d = N + 4, γ = 0.5"


def test_draw_theorem4_has_bands_explained_markers_and_a_title_with_d_and_seeds() -> None:
    info = theorem4.theorem4_info(t4_study())
    fig = theorem4.draw_theorem4(info, theorem4.theorem4_thresholds(info))
    left, right = fig.axes
    assert len(left.collections) == 2 and len(right.collections) == 2  # a band per curve (N)
    band = left.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(info["low"].iloc[0]) and band.max() == pytest.approx(info["high"].iloc[1])
    legend = [t.get_text() for t in left.get_legend().get_texts()]
    assert legend[:2] == ["N=1", "N=4"]
    assert any("Wilson" in t for t in legend) and any("lower bound" in t for t in legend)
    assert any("first" in t and "reaches 0.5" in t for t in legend)  # the × markers
    crosses = [line for line in left.get_lines() if line.get_marker() == "x"]
    assert len(crosses) == 2
    title = fig._suptitle.get_text()
    assert "N = 1–4" in title and "d = N + 4" in title and "4 seeds per point" in title
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"


# --- the tradeoff ------------------------------------------------------------------------------------


def tradeoff_rows(runs: list[tuple], dim: int = 8) -> pd.DataFrame:
    """Per run (method, knob column, value, σ0, [(objective, degree) per seed]) two rows per seed
    on one spectrum, the earlier one to be ignored."""
    rows = []
    for trial, (method, knob, value, sigma0, seeds) in enumerate(runs):
        for seed, (objective, degree) in enumerate(seeds):
            row = {"trial_id": f"t{trial}", "method": method, "seed": seed, "config.spectrum": "s"}
            row.update({"gamma": np.nan, "sigma0": sigma0, "config.phi": 0.0, "config.dropout": 0.0})
            row["config.dim"] = dim
            if knob:
                row[knob] = value
            rows.append({**row, "iteration": 0, "metric.objective": 0.0, "metric.symmetry_degree": 100.0})
            rows.append({**row, "iteration": 5, "metric.objective": objective, "metric.symmetry_degree": degree})
    return pd.DataFrame(rows)


RUNS = [  # best objective −100: matched objective ≤ −95 at 5 %
    ("vanilla", None, None, None, [(-100.0, 8), (-100.0, 8)]),
    ("weight_decay", "gamma", 0.1, None, [(-99.0, 8), (-99.0, 8)]),
    ("syre", "gamma", 0.1, 1.0, [(-97.0, 5), (-97.0, 5)]),  # syre's lowest within the tolerance
    ("syre", "gamma", 10.0, 1.0, [(10.0, 0), (10.0, 0)]),  # its lowest degree: costs more than w = 0
    ("w_fix", "config.phi", 0.01, None, [(-96.0, 3), (-96.0, 3)]),  # the lowest within the tolerance
    ("w_fix", "config.phi", 0.1, None, [(-90.0, 1), (-90.0, 1)]),  # beyond it
    ("dropout", "config.dropout", 0.3, None, [(-50.0, 2), (-50.0, 2)]),  # beyond it
]


def test_tradeoff_check_compares_at_matched_objective() -> None:
    info = symmetry_objective.tradeoff_info(tradeoff_rows(RUNS))
    check = symmetry_objective.tradeoff_check(info).set_index("method")
    assert check["objective_tolerance"].tolist() == pytest.approx([5.0] * 5)
    assert check["objective_limit"].tolist() == pytest.approx([-95.0] * 5)
    assert check["matched_symmetry_degree"].to_dict() == pytest.approx(
        {"w_fix": 3.0, "syre": 5.0, "vanilla": 8.0, "weight_decay": 8.0, "dropout": np.nan}, nan_ok=True
    )
    assert check.loc["syre", ["matched_path", "matched_value", "matched_objective"]].tolist() == [
        "syre σ0=1",
        0.1,
        -97.0,
    ]
    assert check.loc["w_fix", "matched_value"] == 0.01  # not φ = 0.1, degree 1 at −90
    # The old comparison: syre's lowest degree at any objective, 0, costs +10 > f(0) = 0.
    assert check.loc["syre", ["min_symmetry_degree", "objective_at_min_degree"]].tolist() == [0.0, 10.0]
    assert check["lowest_at_matched"][check["lowest_at_matched"]].index.tolist() == ["w_fix"]
    assert not check["syre_lowest_degree"].any() and check["syre_objective_within_tolerance"].all()
    assert list(check.index) == ["w_fix", "syre", "vanilla", "weight_decay", "dropout"]  # by matched degree
    loose = symmetry_objective.tradeoff_check(info, tolerance=0.1).set_index("method")  # ≤ −90
    assert loose.loc["w_fix", "matched_symmetry_degree"] == 1.0
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        symmetry_objective.tradeoff_check(info, tolerance=-0.1)


def test_tradeoff_info_counts_a_rerun_seed_once() -> None:
    df = tradeoff_rows(RUNS)
    rerun = df[df["trial_id"] == "t2"].assign(trial_id="t9", **{"metric.objective": 0.0})
    info = symmetry_objective.tradeoff_info(pd.concat([df, rerun], ignore_index=True))
    syre = info[(info["method"] == "syre") & (info["value"] == 0.1)]
    assert syre[["seeds", "objective", "d"]].to_dict("records") == [{"seeds": 2, "objective": -97.0, "d": 8.0}]


def test_tradeoff_headline_carries_the_matched_degrees() -> None:
    df = tradeoff_rows(RUNS)
    check = symmetry_objective.tradeoff_check(symmetry_objective.tradeoff_info(df))
    headline = symmetry_objective.summary(df)[:3]
    assert headline[0] == (
        "Fig. 4 tradeoff at matched objective ≤ best + 5%·|best| (d = 8, 2 seeds per point): "
        "the lowest degree of symmetry each method reaches there"
    )
    assert headline[1] == (
        "s (best -100, objective ≤ -95): w_fix 3, syre 5, vanilla 8, weight_decay 8, dropout none in range; "
        "lowest: w_fix"
    )
    for row in check.dropna(subset=["matched_symmetry_degree"]).itertuples():
        assert f"{row.method} {row.matched_symmetry_degree:g}" in headline[1]
    assert headline[2].startswith("s, lowest degree at any objective (w = 0: objective 0): w_fix 1 at -90")
    assert "syre 0 at 10" in headline[2]


def test_draw_tradeoff_labels_every_point_and_titles_d_and_seeds() -> None:
    runs = [*RUNS, ("w_fix", "config.phi", 0.001, None, [(-96.0, 3), (-96.0, 3)])]  # on top of φ = 0.01
    info = symmetry_objective.tradeoff_info(tradeoff_rows(runs))
    fig = symmetry_objective.draw_tradeoff(info)
    (ax,) = fig.axes
    texts = [t.get_text() for t in ax.texts]
    # syre γ = 0.1 and 10, weight decay γ = 0.1; w_fix's φ = 0.001 and 0.01 share a point and a label
    assert sorted(texts) == sorted(["γ=0.1", "γ=10", "γ=0.1", "φ=0.001, 0.01", "φ=0.1", "p=0.3"])
    assert ax.get_title() == "s spectrum, d = 8, 2 seeds per point"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "dropout (p)" in legend and "w_fix (φ)" in legend and "syre σ0=1 (γ)" in legend
    assert any("matched objective" in t for t in legend) and "w = 0 (objective 0)" in legend
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"


def _scaling_info(seeds: int) -> pd.DataFrame:
    """Probabilities crossing 0.5 at γσ0 = 0.01·N^0.8 exactly (log-linear between grid points), as
    theorem4_info lays them out, with ``seeds`` per point."""
    rows = []
    grid = np.logspace(-3, 0, 13)
    for n in (1, 4, 16):
        centre = math.log(0.01 * n**0.8)
        for gs in grid:
            p = float(np.clip(0.5 + (math.log(gs) - centre) / 4.0, 0.0, 1.0))
            rows.append({"N": n, "gamma_sigma0": gs, "probability": p, "seeds": seeds, "epsilon": 0.01})
    return pd.DataFrame(rows)


def test_theorem4_slope_interval_covers_the_slope_and_narrows_with_seeds() -> None:
    """The data cross 0.5 at 0.01·N^0.8: slope 0.8. The bootstrap interval (seeds resampled within
    each point) covers it and narrows about as 1/√seeds (100× the seeds: about 10× narrower)."""
    wide = theorem4.theorem4_slope_interval(_scaling_info(100))
    narrow = theorem4.theorem4_slope_interval(_scaling_info(10_000))
    assert theorem4.theorem4_slope(theorem4.theorem4_thresholds(_scaling_info(100))) == pytest.approx(0.8)
    assert wide[0] < 0.8 < wide[1] and narrow[0] < 0.8 < narrow[1]
    ratio = (wide[1] - wide[0]) / (narrow[1] - narrow[0])
    assert 5 < ratio < 20
    assert theorem4.theorem4_slope_interval(_scaling_info(100), seed=1) != wide  # a different resampling
