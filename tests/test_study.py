"""Study files: expansion and validation at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from syre_tune import study

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_studies_load_full_and_smoke(tmp_path: Path, monkeypatch) -> None:
    """Full studies name the real data sets: loading them checks the files are there (tiny files in
    the data sets' own formats stand in for them); smoke studies use the data that ships."""
    from test_data import write_mnist
    from test_data_cifar import write_cifar

    for folder in ("MNIST", "FashionMNIST"):
        write_mnist(tmp_path, folder)
    for name in ("cifar10", "cifar100"):
        write_cifar(tmp_path, name)
    monkeypatch.setenv("SYRE_DATA", str(tmp_path))
    for path in sorted((ROOT / "studies").glob("*.yaml")):
        for smoke in (False, True):
            assert study.load(path, smoke=smoke), path
    monkeypatch.setenv("SYRE_DATA", str(tmp_path / "empty"))
    for path in sorted((ROOT / "studies").glob("*.yaml")):
        assert study.load(path, smoke=True), f"{path}: a smoke study must run without downloaded data"


def test_theorem4_smoke_covers_three_n_and_fifty_seeds() -> None:
    (s,) = study.load(ROOT / "studies/theorem4.yaml", smoke=True)
    assert len({p["n_symmetries"] for p in s.points}) >= 3
    assert len(s.seeds) >= 50


def test_variants_cross_the_study_sweep(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
benchmark: symmetry_objective
sweep: {spectrum: {grid: [unstructured, structured]}}
variants:
  - config: {method: vanilla}
  - config: {method: syre}
    sweep: {gamma: {grid: [0.1, 1.0]}, sigma0: {logspace: [1.0, 100.0, 3]}}
seeds: 10
seeds_per_trial: 4
""",
    )
    (s,) = study.load(path)
    assert len(s.points) == 2 * (1 + 2 * 3)
    assert {p["sigma0"] for p in s.points if "sigma0" in p} == {1.0, 10.0, 100.0}
    assert s.seed_blocks == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)]
    assert s.num_trials == 14 * 3
    assert s.name == "s"


def test_smoke_block_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "benchmark: theorem4\nconfig: {steps: 1000, gamma: 0.1}\nseeds: 500\nsmoke: {config: {steps: 10}, seeds: 3}\n",
    )
    (full,) = study.load(path)
    (smoke,) = study.load(path, smoke=True)
    assert full.fixed == {"steps": 1000, "gamma": 0.1} and len(full.seeds) == 500
    assert smoke.fixed == {"steps": 10, "gamma": 0.1} and smoke.seeds == (0, 1, 2)


def test_random_search_axes(tmp_path: Path) -> None:
    path = write(
        tmp_path, "benchmark: theorem4\nsearch: random\nnum_samples: 5\nsweep: {sigma0: {loguniform: [0.001, 1.0]}}\n"
    )
    (s,) = study.load(path)
    assert s.sampled[0].kind == "loguniform" and s.num_trials == 5
    assert s.search_seed == 0


@pytest.mark.parametrize(
    "text,needle",
    [
        ("benchmark: nope\n", "benchmark: unknown benchmark 'nope'"),
        ("benchmark: theorem4\nconfig: {sigma0: -0.1}\n", "config.sigma0: expected a number >= 0, got -0.1"),
        ("benchmark: theorem4\nsweep: {gamma: {grid: [0.1, -1.0]}}\n", "sweep.gamma: expected a number >= 0, got -1.0"),
        ("benchmark: theorem4\nconfig: {n_symetries: 3}\n", "config.n_symetries: unknown key for benchmark theorem4"),
        ("benchmark: theorem4\nconfg: {}\n", "confg: unknown key"),
        ("benchmark: theorem4\nconfig: {steps: many}\n", "config.steps: expected an integer, got 'many'"),
        ("benchmark: theorem4\nsweep: {sigma0: {uniform: [0, 1]}}\n", "use search: random or optuna"),
        ("benchmark: theorem4\nsweep: {sigma0: [0.1, 1]}\n", "sweep.sigma0: expected one of {grid"),
        ("benchmark: theorem4\nmetric: accuracy\n", "metric: expected one of ['min_abs_delta', 'grad_norm']"),
        ("benchmark: theorem4\nseeds: 0\n", "seeds: expected a count >= 1"),
        ("benchmark: theorem4\nresources: {gpu: -1}\n", "resources.gpu: expected a number >= 0"),
        ("benchmark: theorem4\nconfig: {seeds: [1, 2]}\n", "config.seeds: is set by the study's `seeds`"),
        ("benchmark: theorem4\nsearch: bayes\n", "search: expected one of ['grid', 'random', 'optuna']"),
        (
            "benchmark: theorem4\nsearch: optuna\nsweep: {sigma0: {grid: [0.1, 1]}}\n",
            "sweep.sigma0: Optuna cannot sample a grid axis",
        ),
        (
            "benchmark: theorem4\nsearch: optuna\nsweep: {sigma0: {logspace: [0.1, 1, 3]}}\n",
            "sweep.sigma0: Optuna cannot sample a logspace grid",
        ),
        ("benchmark: theorem4\nsearch: optuna\n", "sweep: search: optuna needs at least one"),
        (
            "benchmark: theorem4\nsearch: optuna\nsweep: {sigma0: {loguniform: [0.1, 1]}}\nseeds: 4\n"
            "seeds_per_trial: 2\n",
            "seeds_per_trial: search: optuna runs every seed",
        ),
        (
            "benchmark: theorem4\nsearch: optuna\nsweep: {sigma0: {loguniform: [0.1, 1]}}\n"
            "optuna: {sampler: cmaes}\nmetric: [min_abs_delta, grad_norm]\n",
            "optuna.sampler: cmaes searches one objective",
        ),
        ("benchmark: theorem4\nmetric: [min_abs_delta, grad_norm]\n", "metric: several objectives need search: optuna"),
        (
            "benchmark: theorem4\nsearch: optuna\nsweep: {sigma0: {loguniform: [0.1, 1]}}\n"
            "metric: [min_abs_delta, grad_norm]\nmode: [min]\n",
            "mode: expected min or max (one per metric)",
        ),
        (
            "benchmark: theorem4\nsearch: optuna\nsweep: {sigma0: {loguniform: [0.1, 1]}}\n"
            "metric: [min_abs_delta, grad_norm]\nscheduler: asha\n",
            "scheduler: early stopping needs one objective",
        ),
        ("benchmark: theorem4\nscheduler: {asha: {reduction_factor: 1}}\n", "scheduler.asha.reduction_factor"),
        ("benchmark: theorem4\nscheduler: hyperband\n", "scheduler: expected {asha"),
        (
            "benchmark: theorem4\nscheduler: {asha: {grace_period: 5, max_t: 2}}\n",
            "scheduler.asha.max_t: expected >= grace_period (5), got 2",
        ),
        ("benchmark: theorem4\nmax_failures: -1\n", "max_failures: expected an integer >= 0"),
        ("benchmark: theorem4\noptuna: {sampler: tpe}\n", "optuna: is for search: optuna"),
        ("benchmark: theorem4\nconfig: {report_every: -1}\n", "config.report_every: expected an integer >= 0"),
        ("- just\n- a list\n", "expected a mapping of study keys"),
        ("benchmark: theorem4\nconfig: {method: syre\n", "not valid YAML"),
        (
            "benchmark: symmetry_objective\nconfig: {spectrum: diagonal}\n",
            "config.spectrum: expected one of ['unstructured', 'structured']",
        ),
    ],
)
def test_errors_name_file_key_value_and_expectation(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(study.StudyError) as info:
        study.load(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert needle in message, message
    assert "\n" not in message


def test_missing_file_and_smoke_without_block(tmp_path: Path) -> None:
    with pytest.raises(study.StudyError, match="no such study file"):
        study.load(tmp_path / "missing.yaml")
    path = write(tmp_path, "benchmark: theorem4\n")
    with pytest.raises(study.StudyError, match="no smoke: block"):
        study.load(path, smoke=True)


def test_optuna_study_maps_axes_and_objectives(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
benchmark: symmetry_objective
config: {method: syre, spectrum: structured}
sweep:
  sigma0: {loguniform: [0.1, 100.0]}
  gamma: {loguniform: [0.01, 10.0]}
search: optuna
optuna: {sampler: gp}
metric: [objective, symmetry_degree]
mode: [min, min]
num_samples: 12
seeds: 3
""",
    )
    (s,) = study.load(path)
    assert s.search == "optuna" and s.sampler == "gp" and s.num_trials == 12
    assert s.metrics == ("objective", "symmetry_degree") and s.modes == ("min", "min") and s.metric == "objective"
    assert {a.key: a.kind for a in s.sampled} == {"sigma0": "loguniform", "gamma": "loguniform"}
    assert s.max_concurrent == 4 and s.points == ({},) and s.scheduler is None and s.max_failures == 2


def test_scheduler_defaults(tmp_path: Path) -> None:
    (s,) = study.load(write(tmp_path, "benchmark: theorem4\nscheduler: {asha: {grace_period: 2}}\n"))
    assert s.scheduler == {"asha": {"grace_period": 2, "reduction_factor": 2, "max_t": 100}}


def test_errors_survive_copy_and_pickle() -> None:
    """Ray copies and pickles the exceptions raised in trials."""
    import copy
    import pickle

    from syre_tune.benchmarks import ConfigError

    for error in (ConfigError("lr", -1, "a number > 0"), study.StudyError("s.yaml", "seeds", "expected a count")):
        for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
            assert type(clone) is type(error) and str(clone) == str(error)
