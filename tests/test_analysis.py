"""Analysis data steps against hand-computed values; draw steps smoke-rendered to a buffer."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from syre_tune import analysis


def theorem4_rows(deltas: dict[tuple[int, float], list[float]], epsilon: float = 0.1) -> pd.DataFrame:
    """Rows like the benchmark's: one per seed, for (N, σ0) with γ = 0.5, plus an earlier
    iteration whose values must be ignored."""
    rows = []
    for trial, ((n, sigma0), values) in enumerate(deltas.items()):
        for seed, value in enumerate(values):
            common = {"trial_id": f"t{trial}", "method": "syre", "gamma": 0.5, "sigma0": sigma0, "seed": seed}
            common.update({"config.n_symmetries": n, "config.epsilon": epsilon})
            rows.append({**common, "iteration": 0, "metric.min_abs_delta": 99.0})
            rows.append({**common, "iteration": 10, "metric.min_abs_delta": value})
    return pd.DataFrame(rows)


def test_theorem4_info_exact() -> None:
    df = theorem4_rows(
        {(1, 0.2): [0.05, 0.2, 0.3, 0.01], (1, 0.4): [0.2, 0.3, 0.4, 0.5], (4, 0.4): [0.0, 0.11, 0.2, 0.09]}
    )
    info = analysis.theorem4_info(df)
    assert info[["N", "gamma_sigma0", "probability", "seeds"]].to_dict("records") == [
        {"N": 1, "gamma_sigma0": 0.1, "probability": 0.5, "seeds": 4},
        {"N": 1, "gamma_sigma0": 0.2, "probability": 1.0, "seeds": 4},
        {"N": 4, "gamma_sigma0": 0.2, "probability": 0.5, "seeds": 4},
    ]
    # bound = max(0, 1 − 2εN/(√(2π)γσ0)): N=1, γσ0=0.2 → 1 − 0.2/(0.2·2.5066) = 0.601
    assert info["bound"].iloc[1] == pytest.approx(1 - 0.2 / (math.sqrt(2 * math.pi) * 0.2))
    assert info["bound"].iloc[2] == 0.0
    assert info["gamma_sigma0_per_N"].tolist() == pytest.approx([0.1, 0.2, 0.05])


def test_theorem4_info_counts_each_run_once_at_its_first_last_row() -> None:
    df = theorem4_rows({(1, 0.2): [0.05, 0.2]})  # ε = 0.1: seed 0 below, seed 1 above
    repeat = df[(df["seed"] == 0) & (df["iteration"] == 10)].assign(**{"metric.min_abs_delta": 0.3})
    df = pd.concat([df, repeat])  # seed 0 reported twice at its last iteration: the first row counts
    df.index = [7, 3, 9, 1, 5]  # labels that are not positions
    info = analysis.theorem4_info(df)
    assert info[["N", "probability", "seeds"]].to_dict("records") == [{"N": 1, "probability": 0.5, "seeds": 2}]


def test_analyze_theorem4_reads_only_its_columns(tmp_path, monkeypatch) -> None:
    import pyarrow as pa

    from syre_tune import results
    from syre_tune.analysis.figures.theorem4 import COLUMNS
    from syre_tune.benchmarks import theorem4
    from syre_tune.benchmarks._common import config_fields

    df = theorem4_rows({(1, 0.2): [0.05, 0.2, 0.3, 0.01], (4, 0.4): [0.0, 0.11, 0.2, 0.09]})
    schema = results.schema_for(config_fields(theorem4.Config), theorem4.METRICS)
    columns = {f.name: pa.array(df[f.name], f.type) if f.name in df else pa.nulls(len(df), f.type) for f in schema}
    study = tmp_path / "study"
    results.write_table_atomic(pa.table(columns, schema=schema), study / "results" / "part-t0.parquet")
    results.write_json_atomic({"benchmark": "theorem4"}, study / "provenance.json")
    read, asked = results.read, []

    def recording_read(*args, **kwargs):
        asked.append(kwargs.get("columns"))
        return read(*args, **kwargs)

    monkeypatch.setattr(results, "read", recording_read)
    analysis.analyze(study)
    assert asked == [list(COLUMNS)]
    written = pd.read_csv(study / "figures" / "theorem4_probability.csv")
    expected = analysis.theorem4_info(read(study))  # every column
    assert written[["N", "probability", "seeds"]].to_dict("records") == [
        {"N": 1, "probability": 0.5, "seeds": 4},
        {"N": 4, "probability": 0.5, "seeds": 4},
    ]
    assert written["gamma_sigma0"].tolist() == pytest.approx(expected["gamma_sigma0"].tolist())
    assert written["probability"].tolist() == expected["probability"].tolist()
    summary = (study / "figures" / "summary.txt").read_text().splitlines()
    assert summary[1].startswith("threshold slope in N (log-log fit over 2 thresholds): 0.5")


def test_theorem4_thresholds_interpolate_in_log_and_slope() -> None:
    info = pd.DataFrame(
        {
            "N": [1, 1, 1, 2, 2, 2],
            "gamma_sigma0": [0.01, 0.1, 1.0, 0.01, 0.1, 1.0],
            "probability": [0.0, 0.25, 0.75, 0.0, 0.0, 0.5],
            "epsilon": 0.1,
        }
    )
    thresholds = analysis.theorem4_thresholds(info)
    # N=1: halfway between 0.1 and 1 in log → √0.1; N=2: exactly 1.0
    assert thresholds["gamma_sigma0_measured"].tolist() == pytest.approx([math.sqrt(0.1), 1.0])
    assert thresholds["gamma_sigma0_theorem"].tolist() == pytest.approx(
        [0.4 / math.sqrt(2 * math.pi), 0.8 / math.sqrt(2 * math.pi)]
    )
    assert analysis.theorem4_slope(thresholds) == pytest.approx(math.log(1 / math.sqrt(0.1)) / math.log(2))
    never = analysis.theorem4_thresholds(info.assign(probability=0.1))
    assert never["gamma_sigma0_measured"].isna().all()


def tradeoff_rows() -> pd.DataFrame:
    runs = [  # (spectrum, method, knob column, knob value, sigma0, [(objective, degree) per seed])
        ("s", "vanilla", None, None, None, [(-10.0, 90), (-10.0, 92)]),
        ("s", "weight_decay", "gamma", 0.1, None, [(-10.0, 90), (-9.0, 90)]),
        ("s", "weight_decay", "gamma", 1.0, None, [(-8.0, 95), (-8.0, 95)]),
        ("s", "syre", "gamma", 0.1, 2.0, [(-9.8, 40), (-9.6, 50)]),
        ("s", "syre", "gamma", 1.0, 2.0, [(-5.0, 10), (-5.0, 12)]),
        ("s", "w_fix", "config.phi", 0.1, None, [(-9.0, 60), (-9.0, 60)]),
        ("s", "dropout", "config.dropout", 0.1, None, [(-9.0, 80), (-9.0, 80)]),
    ]
    rows = []
    for trial, (spectrum, method, knob, value, sigma0, seeds) in enumerate(runs):
        for seed, (objective, degree) in enumerate(seeds):
            row = {"trial_id": f"t{trial}", "method": method, "seed": seed, "config.spectrum": spectrum}
            row.update({"gamma": np.nan, "sigma0": sigma0, "config.phi": 0.0, "config.dropout": 0.0})
            if knob:
                row[knob] = value
            rows.append({**row, "iteration": 0, "metric.objective": 0.0, "metric.symmetry_degree": 100.0})
            rows.append({**row, "iteration": 5, "metric.objective": objective, "metric.symmetry_degree": degree})
    return pd.DataFrame(rows)


def test_tradeoff_info_and_check_exact() -> None:
    info = analysis.tradeoff_info(tradeoff_rows())
    syre = info[info["method"] == "syre"]
    assert syre["path"].tolist() == ["syre σ0=2", "syre σ0=2"]
    assert syre["value"].tolist() == [0.1, 1.0]
    assert syre["objective"].tolist() == pytest.approx([-9.7, -5.0])
    assert syre["symmetry_degree"].tolist() == pytest.approx([45.0, 11.0])
    assert info.loc[info["method"] == "w_fix", "value"].tolist() == [0.1]
    assert info["excess_objective"].min() == 0.0
    assert info.loc[info["method"] == "syre", "excess_objective"].tolist() == pytest.approx([0.3, 5.0])
    check = analysis.tradeoff_check(info).set_index("method")
    # best −10 (vanilla): matched objective ≤ −10 + 5 %·10 = −9.5
    assert check["objective_limit"].tolist() == pytest.approx([-9.5] * 5)
    assert check.loc["syre", "min_symmetry_degree"] == 11.0  # at −5: beyond the tolerance
    assert check.loc["syre", "objective_at_min_degree"] == pytest.approx(-5.0)
    assert check.loc["syre", "matched_symmetry_degree"] == 45.0  # γ = 0.1, −9.7
    assert check.loc["syre", "matched_value"] == 0.1
    assert check.loc["weight_decay", "matched_symmetry_degree"] == 90.0  # γ = 0.1, −9.5: on the limit
    assert check.loc[["w_fix", "dropout"], "matched_symmetry_degree"].isna().all()  # −9 > −9.5
    assert check.loc["weight_decay", "best_objective"] == -9.5
    assert check["lowest_at_matched"].to_dict() == {
        "syre": True,
        "weight_decay": False,
        "vanilla": False,
        "dropout": False,
        "w_fix": False,
    }
    assert check["syre_lowest_degree"].all()
    assert check["syre_objective_within_tolerance"].all()
    strict = analysis.tradeoff_check(info.assign(objective=info["objective"].where(info["method"] != "syre", -8.0)))
    assert not strict["syre_objective_within_tolerance"].any()  # −8 > −9.5: no syre point matched
    assert not strict["syre_lowest_degree"].any()


def test_summaries_exact() -> None:
    from syre_tune.analysis.figures import symmetry_objective, theorem4

    df = theorem4_rows(
        {(1, 0.2): [0.05, 0.2, 0.3, 0.01], (1, 0.4): [0.2, 0.3, 0.4, 0.5], (4, 0.4): [0.0, 0.11, 0.2, 0.09]}
    )
    assert theorem4.summary(df) == [
        "Theorem 4: Pr(min|Δ| > ε = 0.1) reaches 0.5 at γσ0 = 0.1 (N=1), 0.2 (N=4); "
        "the theorem guarantees it by γσ0 = 0.1596, 0.6383 (N = 1, 4)",
        "threshold slope in N (log-log fit over 2 thresholds): 0.5 (the theorem: at most 1)",
        # Wilson 95 % at 2 of 4: 0.5 ± 1.96·√(1 + 0.96)/7.84 = 0.5 ± 0.35
        "from 4 seeds per point (95 % Wilson half-width ≤ 0.35), N = 1–4, γ = 0.5",
        "N=1: Pr(min|Δ| > ε) reaches 0.5 at γσ0 = 0.1 (the theorem guarantees it by γσ0 = 0.1596)",
        "N=4: Pr(min|Δ| > ε) reaches 0.5 at γσ0 = 0.2 (the theorem guarantees it by γσ0 = 0.6383)",
        "points below the theorem's bound by more than their 95 % interval: 0 of 3",
    ]
    assert symmetry_objective.summary(tradeoff_rows())[:3] == [
        "Fig. 4 tradeoff at matched objective ≤ best + 5%·|best| (2 seeds per point): "
        "the lowest degree of symmetry each method reaches there",
        "s (best -10, objective ≤ -9.5): syre 45, weight_decay 90, vanilla 91, dropout none in range, "
        "w_fix none in range; lowest: syre",
        "s, lowest degree at any objective (w = 0: objective 0): syre 11 at -5, weight_decay 90 at -9.5, "
        "vanilla 91 at -10, dropout 80 at -9, w_fix 60 at -9",
    ]


def test_draw_steps_render() -> None:
    df = theorem4_rows({(1, 0.2): [0.05, 0.2], (1, 0.4): [0.2, 0.3], (4, 0.4): [0.0, 0.11]})
    info = analysis.theorem4_info(df)
    for fig in (
        analysis.draw_theorem4(info, analysis.theorem4_thresholds(info)),
        analysis.draw_tradeoff(analysis.tradeoff_info(tradeoff_rows())),
    ):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        assert buffer.getvalue()[:4] == b"\x89PNG"
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)


def test_analysis_imports_neither_torch_nor_ray() -> None:
    import subprocess
    import sys

    code = "import sys, syre_tune.analysis, syre_tune.results; print('torch' in sys.modules, 'ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_theorem4_threshold_is_the_first_crossing_of_a_non_monotone_curve() -> None:
    """A noisy curve that reaches the level, dips and reaches it again: the threshold is where it
    first gets there (the last crossing would be 10.0)."""
    info = pd.DataFrame(
        {
            "N": [1] * 5,
            "gamma_sigma0": [0.01, 0.1, 1.0, 3.0, 10.0],
            "probability": [0.0, 0.5, 0.4, 0.3, 0.9],
            "epsilon": 0.1,
        }
    )
    assert analysis.theorem4_thresholds(info)["gamma_sigma0_measured"].tolist() == pytest.approx([0.1])


def test_tradeoff_check_says_no_when_another_method_reaches_a_lower_degree() -> None:
    info = analysis.tradeoff_info(tradeoff_rows())
    w_fix, dropout = info["method"] == "w_fix", info["method"] == "dropout"
    lower = info.assign(symmetry_degree=info["symmetry_degree"].mask(w_fix, 5.0))
    assert analysis.tradeoff_check(lower)["syre_lowest_degree"].all()  # w_fix's −9 is beyond −9.5
    assert not analysis.tradeoff_check(lower, tolerance=0.1)["syre_lowest_degree"].any()  # now −9 ≤ −9
    lower_matched = lower.assign(objective=lower["objective"].mask(w_fix, -9.6))
    assert not analysis.tradeoff_check(lower_matched)["syre_lowest_degree"].any()
    tie = info.assign(
        symmetry_degree=info["symmetry_degree"].mask(dropout, 45.0), objective=info["objective"].mask(dropout, -9.9)
    )
    checked = analysis.tradeoff_check(tie).set_index("method")
    assert not checked["syre_lowest_degree"].any()  # strictly lowest
    assert checked.loc[["syre", "dropout"], "lowest_at_matched"].all()
