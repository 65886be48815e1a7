"""Runner pieces that need no Ray cluster: the submission-time resource check."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray

from syre_tune import runner, study
from syre_tune.benchmarks import METHOD_KNOBS

ROOT = Path(__file__).resolve().parents[1]
KNOBS = {knob for knobs in METHOD_KNOBS.values() for knob in knobs}


def gpu_study(tmp_path: Path, gpu: float) -> study.Study:
    path = tmp_path / "s.yaml"
    path.write_text(f"benchmark: theorem4\nresources: {{cpu: 1, gpu: {gpu}}}\n")
    return study.load(path)[0]


def test_resource_check_counts_nodes_the_autoscaler_can_start(tmp_path: Path, monkeypatch) -> None:
    head_only = [{"Alive": True, "Resources": {"CPU": 4.0}}, {"Alive": False, "Resources": {"CPU": 8.0, "GPU": 1.0}}]
    monkeypatch.setattr(ray, "nodes", lambda: head_only)
    monkeypatch.setenv("SYRE_TUNE_AUTOSCALER_CONFIG", str(tmp_path / "absent.yaml"))
    with pytest.raises(runner.RunError, match="the largest node has 4 CPUs and 0 GPUs"):
        runner._check_resources(gpu_study(tmp_path, 0.25))
    # on the head of the shipped cluster, GPU workers (min_workers 0) can still be started
    monkeypatch.setenv("SYRE_TUNE_AUTOSCALER_CONFIG", str(ROOT / "cluster.yaml"))
    runner._check_resources(gpu_study(tmp_path, 0.25))
    runner._check_resources(gpu_study(tmp_path, 1))
    with pytest.raises(runner.RunError, match="gpu: 2"):
        runner._check_resources(gpu_study(tmp_path, 2))
    # another autoscaler's node types, described as docs/cluster.md shows
    described = tmp_path / "gpu-nodes.yaml"
    described.write_text("available_node_types:\n  gpu_worker: {resources: {CPU: 8, GPU: 1}}\n")
    monkeypatch.setenv("SYRE_TUNE_AUTOSCALER_CONFIG", str(described))
    runner._check_resources(gpu_study(tmp_path, 1))


@pytest.mark.parametrize("name", study.SAMPLERS)
def test_every_sampler_a_study_may_name_samples(name: str) -> None:
    """Each sampler is installed with the package and draws reproducibly from its seed."""
    import optuna

    def draws() -> list[float]:
        searched = optuna.create_study(sampler=runner._sampler(name, seed=3))
        searched.optimize(lambda t: (t.suggest_float("sigma0", 0.01, 10.0, log=True) - 1.0) ** 2, n_trials=12)
        return [t.params["sigma0"] for t in searched.trials]

    first = draws()
    assert first == draws() and all(0.01 <= x <= 10.0 for x in first)


def test_the_progress_table_shows_each_trials_own_settings() -> None:
    """One `settings` label per grid point: what varies between points, as this point sets it;
    never a knob the point leaves unset (None) or its method does not read."""
    points = [
        {"method": "vanilla", "spectrum": "structured"},
        {"method": "syre", "spectrum": "structured", "gamma": 0.1, "sigma0": 2.0},
        {"method": "w_fix", "spectrum": "structured", "phi": 0.001, "sigma0": None},
        {"method": "dropout", "spectrum": "unstructured", "dropout": 0.6, "gamma": 1.0},  # dropout reads no gamma
    ]
    assert runner._settings(points) == [
        "method=vanilla spectrum=structured",
        "method=syre spectrum=structured gamma=0.1 sigma0=2",
        "method=w_fix spectrum=structured phi=0.001",
        "method=dropout spectrum=unstructured dropout=0.6",
    ]
    assert runner._settings([{"sigma0": 0.1}, {"sigma0": 1.0}], fixed={"method": "vanilla"}) == ["", ""]
    assert runner._settings([{"method": "syre", "gamma": 0.1}, {"method": "syre", "gamma": None}]) == ["gamma=0.1", ""]
    assert runner._settings([{"gamma": 0.5}]) == [""]  # nothing varies: no column

    (tradeoff,) = study.load(ROOT / "studies" / "tradeoff.yaml", smoke=True)
    labels = runner._settings(tradeoff.points, tradeoff.fixed)
    assert len(set(labels)) == len(tradeoff.points)  # every trial tells which point it runs
    for point, label in zip(tradeoff.points, labels):
        shown = {item.split("=")[0] for item in label.split()}
        assert "None" not in label and not shown & (KNOBS - set(METHOD_KNOBS[point["method"]])), label


def test_a_trial_leaves_its_settings_label_out_of_its_config(tmp_path: Path) -> None:
    from syre_tune import layout, results
    from syre_tune.runner import _trial

    (tradeoff,) = study.load(ROOT / "studies" / "tradeoff.yaml", smoke=True)
    plan = _trial.plan_for(tradeoff, results.location(tmp_path))
    point = {"method": "syre", "spectrum": "structured", "gamma": 0.1, "sigma0": 1.0, "phi": None}
    config = {"point": {**point, _trial.SETTINGS: "method=syre gamma=0.1 sigma0=1"}, "seed_block": 0}
    _, cfg, rows = _trial.row_buffer(plan, "t1", config, "cpu")
    assert (cfg.method, cfg.gamma, cfg.sigma0) == ("syre", 0.1, 1.0)
    assert plan.results == results.location(tmp_path) / layout.RESULTS_DIR
    name = layout.part_file("a-b_00001", 7)
    assert name == "part-a-b_00001-00007.parquet" and layout.is_part(name)
    assert layout.trial_of(name) == layout.trial_of(layout.part_file("a-b_00001", "error")) == "a-b_00001"
