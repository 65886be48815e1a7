"""Runner pieces that need no Ray cluster: the submission-time resource check."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray

from syre_tune import runner, study

ROOT = Path(__file__).resolve().parents[1]


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
