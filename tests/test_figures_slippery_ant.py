"""The figures of slippery_ant (data steps against values worked out by hand, ``write`` smoke) and
the plasticity baselines (l2_init, shrink_perturb, redo) in continual_permuted's figure."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from syre_tune.analysis import curves_info
from syre_tune.analysis.figures import continual_permuted, slippery_ant

# --- the labels: a setting one method sweeps is not in another method's label -------------------


def test_curves_info_by_method_labels_each_method_with_its_own_varying_settings() -> None:
    runs = [("syre", 0.1, 0.999), ("syre", 1.0, 0.999), ("shrink_perturb", None, 0.99)]
    runs += [("shrink_perturb", None, 0.999)]
    df = pd.DataFrame(
        [
            {"trial_id": f"t{i}", "method": m, "sigma0": s, "seed": 0, "iteration": 1}
            | {"config.shrink": shrink, "metric.loss": float(i)}
            for i, (m, s, shrink) in enumerate(runs)
        ]
    )
    # by default every label names every setting that varies within some method
    assert curves_info(df)["label"].tolist() == [
        "shrink=0.99",
        "shrink=0.999",
        "sigma0=0.1, shrink=0.999",
        "sigma0=1, shrink=0.999",
    ]
    by_method = curves_info(df, by_method=True)
    assert by_method["label"].tolist() == ["shrink=0.99", "shrink=0.999", "sigma0=0.1", "sigma0=1"]
    assert by_method["value"].tolist() == [2.0, 3.0, 0.0, 1.0]


# --- slippery_ant ---------------------------------------------------------------------------------

# Friction in force at the reports 10, 20, ..., 60: seed 0 changes at 30 and 50, seed 1 (another
# schedule) at 40 only.
FRICTION = {0: [0.5, 0.5, 1.0, 1.0, 0.2, 0.2], 1: [0.5, 0.5, 0.5, 2.0, 2.0, 2.0]}
# trial, method, sigma0, seeds, return offset, rank offset
RUNS = [("t0", "syre", 0.5, (0, 1), 100.0, 50.0), ("t1", "syre", 1.0, (0,), 200.0, 60.0)]
RUNS += [("t2", "vanilla", None, (0, 1), 0.0, 20.0)]


def ant_rows() -> pd.DataFrame:
    """return = offset + iteration (NaN for t2 seed 1 at 60: no episode ended);
    effective_rank = offset − iteration/10 + seed; an error marker row of a failed trial."""
    rows = []
    for trial, method, sigma0, seeds, ret, rank in RUNS:
        for seed in seeds:
            for index, iteration in enumerate(range(10, 61, 10)):
                no_episode = (trial, seed, iteration) == ("t2", 1, 60)
                rows.append(
                    {
                        "study": "ant",
                        "trial_id": trial,
                        "benchmark": "slippery_ant",
                        "method": method,
                        "sigma0": sigma0,
                        "sigma_d": 0.0 if method == "syre" else None,
                        "gamma": 1e-4 if method == "syre" else None,
                        "seed": seed,
                        "iteration": iteration,
                        "status": "ok",
                        "config.change_every_steps": 20,
                        "config.shrink": 0.999,
                        "config.device": "cpu" if trial != "t1" else "cuda:0",
                        "metric.episodic_return": np.nan if no_episode else ret + iteration,
                        "metric.friction": FRICTION[seed][index],
                        "metric.effective_rank": rank - iteration / 10 + seed,
                    }
                )
    rows.append({"trial_id": "t3", "method": "syre", "sigma0": 9.0, "seed": 0, "status": "error"})
    return pd.DataFrame(rows)


def test_ant_info_labels_the_syre_settings_and_drops_missing_returns() -> None:
    info = slippery_ant.ant_info(ant_rows())
    assert list(info.columns) == ["method", "label", "trial_id", "seed", "iteration", "metric", "value"]
    labels = info.groupby("trial_id")["label"].unique().map(list).to_dict()
    assert labels == {"t0": ["sigma0=0.5"], "t1": ["sigma0=1"], "t2": [""]}
    returns = info[(info["metric"] == "episodic_return") & (info["trial_id"] == "t2") & (info["seed"] == 1)]
    assert returns["iteration"].tolist() == [10, 20, 30, 40, 50]


def test_friction_changes_are_the_reports_where_the_friction_differs_from_the_last() -> None:
    changes = slippery_ant.friction_changes(slippery_ant.ant_info(ant_rows()))
    assert list(changes.columns) == ["method", "label", "trial_id", "seed", "iteration", "friction_before", "friction"]
    assert [tuple(r) for r in changes.itertuples(index=False)] == [
        ("syre", "sigma0=0.5", "t0", 0, 30, 0.5, 1.0),
        ("syre", "sigma0=0.5", "t0", 0, 50, 1.0, 0.2),
        ("syre", "sigma0=0.5", "t0", 1, 40, 0.5, 2.0),
        ("syre", "sigma0=1", "t1", 0, 30, 0.5, 1.0),
        ("syre", "sigma0=1", "t1", 0, 50, 1.0, 0.2),
        ("vanilla", "", "t2", 0, 30, 0.5, 1.0),
        ("vanilla", "", "t2", 0, 50, 1.0, 0.2),
        ("vanilla", "", "t2", 1, 40, 0.5, 2.0),
    ]


def test_friction_changes_follow_the_period_index_where_reported() -> None:
    df = ant_rows()
    # seed 0 enters a 4th period at 60 whose friction equals the 3rd's: a change all the same
    period = {0: [0, 0, 1, 1, 2, 3], 1: [0, 0, 0, 1, 1, 1]}
    measured = df["iteration"].notna()  # not the error marker
    df.loc[measured, "metric.friction_period"] = [
        float(period[seed][int(iteration) // 10 - 1])
        for seed, iteration in zip(df.loc[measured, "seed"], df.loc[measured, "iteration"])
    ]
    info = slippery_ant.ant_info(df)
    changes = slippery_ant.friction_changes(info)
    t0 = changes[changes["trial_id"] == "t0"]
    assert t0[["seed", "iteration", "friction_before", "friction"]].values.tolist() == [
        [0, 30, 0.5, 1.0],
        [0, 50, 1.0, 0.2],
        [0, 60, 0.2, 0.2],
        [1, 40, 0.5, 2.0],
    ]
    table = slippery_ant.last_period(info).set_index("label")
    assert table.loc["sigma0=1", ["start", "episodic_return"]].tolist() == [60, 260.0]


def test_last_period_averages_each_run_from_its_last_change_then_over_seeds() -> None:
    table = slippery_ant.last_period(slippery_ant.ant_info(ant_rows()))
    assert list(table.columns) == [
        "method",
        "label",
        "seeds",
        "start",
        "end",
        "episodic_return",
        "episodic_return_sem",
        "effective_rank",
        "effective_rank_sem",
    ]
    # Seed 0's last period is reports 50, 60; seed 1's is 40, 50, 60 (t2's return at 60 is NaN).
    # syre σ0=0.5: returns (150+160)/2 = 155 and (140+150+160)/3 = 150, ranks (45+44)/2 = 44.5 and
    # (47+46+45)/3 = 46. vanilla: returns 55 and (40+50)/2 = 45, ranks 14.5 and 16.
    # s.e. of two values a, b: |a − b| / 2.
    expected = [
        ("syre", "sigma0=1", 1, 50, 60, 255.0, math.nan, 54.5, math.nan),
        ("syre", "sigma0=0.5", 2, 40, 60, 152.5, 2.5, 45.25, 0.75),
        ("vanilla", "", 2, 40, 60, 50.0, 5.0, 15.25, 0.75),
    ]
    got = [tuple(r) for r in table.itertuples(index=False)]
    assert [r[:5] for r in got] == [r[:5] for r in expected]
    np.testing.assert_allclose([r[5:] for r in got], [r[5:] for r in expected], rtol=1e-12)


def test_last_period_without_a_friction_change_is_the_whole_run() -> None:
    df = ant_rows().drop(columns="metric.friction")
    info = slippery_ant.ant_info(df)
    assert slippery_ant.friction_changes(info).empty
    table = slippery_ant.last_period(info).set_index("label")
    assert table.loc["sigma0=1", ["start", "end", "episodic_return", "effective_rank"]].tolist() == [10, 60, 235, 56.5]
    empty = slippery_ant.last_period(slippery_ant.ant_info(df.iloc[-1:]))  # the error marker only
    assert empty.empty and "effective_rank_sem" in empty.columns


def test_curves_binned_averages_each_run_over_equal_bins_of_reports() -> None:
    info = slippery_ant.ant_info(ant_rows())
    # 6 reports 10 apart, at most 3 points: bins of 2 reports, (0, 20], (20, 40], (40, 60].
    binned = slippery_ant.curves_binned(info, points=3)
    assert list(binned.columns) == list(info.columns)
    t2 = binned[(binned["trial_id"] == "t2") & (binned["metric"] == "episodic_return")]
    assert t2[["seed", "iteration", "value"]].values.tolist() == [
        [0, 20, 15.0],
        [0, 40, 35.0],
        [0, 60, 55.0],
        [1, 20, 15.0],
        [1, 40, 35.0],
        [1, 60, 50.0],  # the report at 60 had no episode: 50 alone
    ]
    # 4 points: bins of 2 reports still (3 would be too few, ceil(6 / 4) = 2)
    assert sorted(slippery_ant.curves_binned(info, points=4)["iteration"].unique()) == [20, 40, 60]
    pd.testing.assert_frame_equal(slippery_ant.curves_binned(info, points=6), info)
    with pytest.raises(ValueError, match="points must be >= 1"):
        slippery_ant.curves_binned(info, points=0)


def test_summary_says_the_last_period_and_whether_syre_keeps_its_rank() -> None:
    assert slippery_ant.summary(ant_rows()) == [
        "last friction period, mean effective rank: syre (sigma0=1) 54.5, vanilla 15.25 (5 runs)",
        "last friction period, mean episodic return: syre (sigma0=1) 255, vanilla 50",
        "syre higher than vanilla in the last period: effective rank yes, episodic return yes",
        "friction changes: 8 in 5 runs (5 with a change), at 3 distinct report iterations",
        "last friction period, mean episodic return ± s.e. over seeds: "
        "syre (sigma0=1) 255 (1 run), syre (sigma0=0.5) 152.5 ± 2.5, vanilla 50 ± 5",
        "last friction period, mean effective rank ± s.e. over seeds: "
        "syre (sigma0=1) 54.5 (1 run), syre (sigma0=0.5) 45.25 ± 0.75, vanilla 15.25 ± 0.75",
        "syre keeps a higher effective rank than vanilla in the last period: yes: "
        "syre (sigma0=1) 54.5 vs vanilla 15.25",
        "syre keeps a higher episodic return than vanilla in the last period: yes: syre (sigma0=1) 255 vs vanilla 50",
    ]
    assert slippery_ant.summary(ant_rows().iloc[-1:]) == ["no measurements"]


def test_summary_compares_syre_with_every_other_method() -> None:
    df = ant_rows()
    other = df[df["trial_id"] == "t2"].assign(trial_id="t4", method="l2_init", gamma=0.01)
    other["metric.effective_rank"] += 100  # l2_init keeps the highest rank
    lines = slippery_ant.summary(pd.concat([df, other], ignore_index=True))
    assert lines[0] == (
        "last friction period, mean effective rank: "
        "syre (sigma0=1) 54.5, vanilla 15.25, best other l2_init 115.2 (7 runs)"
    )
    assert "syre keeps a higher effective rank than vanilla in the last period: yes" in lines[6]
    assert lines[7] == (
        "syre has a higher effective rank than every other method in the last period: no: "
        "syre (sigma0=1) 54.5 vs l2_init 115.2"
    )


def test_draw_marks_the_friction_changes_on_every_panel() -> None:
    info = slippery_ant.ant_info(ant_rows())
    fig = slippery_ant.draw_slippery_ant(info, [30, 40, 50], n_boot=20)
    assert [ax.get_ylabel() for ax in fig.axes] == ["episodic_return", "effective_rank"]  # the panels it has
    for ax in fig.axes:
        vertical = [line.get_xdata()[0] for line in ax.lines if list(line.get_ydata()) == [0, 1]]  # axvline
        assert sorted(vertical) == [30, 40, 50]
        assert ax.get_xlabel() == "environment steps"
    assert fig.axes[0].get_legend() is None  # beside the panels, over no line
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"syre", "vanilla", "sigma0=0.5", "sigma0=1"} <= set(labels)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"
    assert slippery_ant._steps(2_500_000) == "2.5M" and slippery_ant._steps(500_000) == "500k"


def test_write_writes_the_tables_the_markdown_and_a_figure_that_opens(tmp_path: Path) -> None:
    from PIL import Image

    written = slippery_ant.write(ant_rows(), tmp_path)
    assert [p.name for p in written] == [
        "slippery_ant.csv",
        "friction_changes.csv",
        "last_period.csv",
        "last_period.md",
        "slippery_ant.png",
        "slippery_ant.pdf",
    ]
    assert all(p.parent == tmp_path and p.stat().st_size > 0 for p in written)
    with Image.open(tmp_path / "slippery_ant.png") as image:
        image.verify()
        assert image.size[0] > 1000
    table = pd.read_csv(tmp_path / "last_period.csv", keep_default_na=False, na_values=[""])
    assert table["episodic_return"].tolist() == [255.0, 152.5, 50.0]
    markdown = (tmp_path / "last_period.md").read_text().splitlines()
    assert "| method | setting | seeds | steps | episodic return | effective rank |" in markdown
    assert "| syre | sigma0=0.5 | 2 | 40 – 60 | 152.5 ± 2.5 | 45.25 ± 0.75 |" in markdown
    assert "| syre | sigma0=1 | 1 | 50 – 60 | 255 | 54.5 |" in markdown
    assert "| vanilla | – | 2 | 40 – 60 | 50 ± 5 | 15.25 ± 0.75 |" in markdown


# --- continual_permuted with the plasticity baselines ---------------------------------------------

# method, trial, gamma, config.shrink, task accuracy at task 0 (−0.1 at task 1)
BASELINES = [
    ("syre", "a", 0.01, 0.999, 0.9),
    ("weight_decay", "b", 0.01, 0.999, 0.5),
    ("l2_init", "c", 0.01, 0.999, 0.8),
    ("l2_init", "d", 0.001, 0.999, 0.95),
    ("shrink_perturb", "e", None, 0.999, 0.6),
    ("shrink_perturb", "f", None, 0.99, 0.7),
    ("redo", "g", None, 0.999, 0.4),
]


def continual_rows() -> pd.DataFrame:
    """Two tasks of 10 steps, a task-end report each; the knobs of the new methods as columns
    (config.shrink varies within shrink_perturb only; config.redo_tau is the same everywhere)."""
    rows = []
    for method, trial, gamma, shrink, accuracy in BASELINES:
        for seed in (0, 1):
            for task in (0, 1):
                rows.append(
                    {
                        "trial_id": trial,
                        "status": "ok",
                        "method": method,
                        "sigma0": 1.0 if method == "syre" else None,
                        "sigma_d": None,
                        "gamma": gamma,
                        "seed": seed,
                        "iteration": 10 * (task + 1),
                        "config.steps_per_task": 10,
                        "config.phi": 0.0,
                        "config.shrink": shrink,
                        "config.perturb": 0.01,
                        "config.redo_tau": 0.025,
                        "config.redo_every": 1000,
                        "metric.task": float(task),
                        "metric.task_accuracy": accuracy - 0.1 * task + 0.01 * seed,
                        "metric.mean_accuracy": accuracy / 2,
                        "metric.conv_rank": 100 * accuracy - seed,
                    }
                )
    return pd.DataFrame(rows)


def test_continual_figure_draws_a_line_per_baseline_and_its_setting(tmp_path: Path) -> None:
    info = continual_permuted.continual_info(continual_rows())
    labels = info.groupby("method")["label"].unique().map(sorted).to_dict()
    assert labels == {
        "l2_init": ["gamma=0.001", "gamma=0.01"],
        "redo": [""],
        "shrink_perturb": ["shrink=0.99", "shrink=0.999"],
        "syre": [""],
        "weight_decay": [""],
    }
    last = continual_permuted.continual_last(info)
    accuracy = last[last["metric"] == "task_accuracy"].set_index(["method", "label"])["value"]
    assert accuracy.to_dict() == pytest.approx(
        {
            ("l2_init", "gamma=0.001"): 0.855,  # 0.95 − 0.1 + (0 + 0.01) / 2
            ("l2_init", "gamma=0.01"): 0.705,
            ("redo", ""): 0.305,
            ("shrink_perturb", "shrink=0.99"): 0.605,
            ("shrink_perturb", "shrink=0.999"): 0.505,
            ("syre", ""): 0.805,
            ("weight_decay", ""): 0.405,
        }
    )
    written = continual_permuted.write(continual_rows(), tmp_path)
    assert {p.name for p in written} == {"continual.csv", "continual_last.csv", "continual.png", "continual.pdf"}


def test_continual_summary_compares_syre_with_the_best_other_method() -> None:
    lines = continual_permuted.summary(continual_rows())
    assert lines[:2] == [
        "last task conv_rank: syre 89.5 vs weight_decay 49.5; syre higher: yes",
        "last task task_accuracy: syre 0.805 vs weight_decay 0.405; syre higher: yes",
    ]
    assert lines[2:] == [
        "last task task_accuracy: syre 0.805 vs the best other method, l2_init (gamma=0.001), 0.855; syre higher: no",
        "last task mean_accuracy: syre 0.45 vs the best other method, l2_init (gamma=0.001), 0.475; syre higher: no",
        "last task conv_rank: syre 89.5 vs the best other method, l2_init (gamma=0.001), 94.5; syre higher: no",
    ]
