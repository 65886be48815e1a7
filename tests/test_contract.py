"""The contract every registered benchmark keeps, parametrised over the registry: a tiny config
runs every method the benchmark declares, reports exactly its declared metrics (one value per
seed), is deterministic for a seed, and resumes from a saved state (torch.save, then
torch.load(weights_only=True)) to the same rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from syre_tune import benchmarks

# A tiny config per benchmark (seconds on 2 cores); a benchmark added to the registry adds its line.
TINY: dict[str, dict] = {
    "symmetry_objective": {"dim": 12, "steps": 300, "report_every": 100},
    "theorem4": {"n_symmetries": 3, "steps": 60, "report_every": 20},
    "teacher_student": {
        "input_dim": 5,
        "hidden": 16,
        "classes": 3,
        "train_size": 64,
        "test_size": 32,
        "steps": 20,
        "report_every": 10,
    },
    "ridge": {"dim": 6, "train_size": 5, "steps": 40, "report_every": 20},
    "reparam_regression": {"dim": 6, "train_size": 20, "batch_size": 4, "steps": 30, "report_every": 10},
    "continual_permuted": {"tasks": 2, "steps_per_task": 4, "report_every": 3, "test_size": 30, "rank_batch": 50},
    "mode_connectivity": {"hidden": [8], "steps": 4, "report_every": 2, "lambdas": 3, "test_size": 30},
    "low_capacity_init": {"width": 8, "steps": 6, "report_every": 3, "train_size": 64, "test_size": 32},
    "fcn_collapse": {"width": 8, "steps": 4, "report_every": 2, "train_size": 64, "test_size": 32},
    "ntk_rank": {"hidden": 6, "points": 40, "steps": 3, "collapsed": (0, 2, 4)},
    "resnet_cifar": {
        "dataset": "synthetic_cifar10",
        "width": 4,
        "train_size": 32,
        "test_size": 32,
        "batch_size": 16,
        "epochs": 2,
        "report_every": 1,
    },
    "simclr": {
        "width": 2,
        "projection_dim": 4,
        "train_size": 16,
        "test_size": 16,
        "batch_size": 8,
        "epochs": 2,
        "report_every_epochs": 1,
        "probe_steps": 3,
        "dataset": "synthetic_cifar100",
    },
    "vit_cifar": {
        "dataset": "synthetic_cifar10",
        "train_size": 64,
        "test_size": 32,
        "eval_size": 32,
        "rank_samples": 32,
        "batch_size": 16,
        "dim": 8,
        "depth": 1,
        "heads": 2,
        "head_dim": 4,
        "mlp_dim": 8,
        "patch": 8,
        "steps": 4,
        "report_every": 2,
    },
    "vae_posterior_collapse": {
        "dataset": "digits",
        "hidden": 8,
        "latent": 4,
        "batch_size": 16,
        "train_size": 64,
        "test_size": 16,
        "steps": 4,
        "report_every": 2,
        "rank_samples": 32,
        "eval_size": 32,
        "reconstructions": 1,
    },
    "slippery_ant": {
        "total_steps": 192,
        "rollout_steps": 64,
        "minibatches": 2,
        "epochs": 1,
        "hidden": [8],
        "report_every_steps": 64,
        "max_episode_steps": 50,
        "change_every_steps": 60,
    },
}
METHOD_VALUES = {
    "syre": {"sigma0": 0.5, "gamma": 0.01, "sigma_d": 0.1},
    "weight_decay": {"gamma": 0.01},
    "w_fix": {"phi": 0.3},
    "dropout": {"dropout": 0.2},
    "vanilla": {},
    "sigma_asym": {},
    "l2_init": {"gamma": 0.01},
    "shrink_perturb": {"shrink": 0.01, "perturb": 0.01},
    "redo": {"redo_tau": 0.5, "redo_every": 2},
}


def _run(bench, cfg, resume=None, save_at=None, tmp_path=None):
    reports, saved = [], None

    def report(iteration, metrics, state=None):
        nonlocal saved
        reports.append((iteration, {k: np.asarray(torch.as_tensor(v).detach().cpu()) for k, v in metrics.items()}))
        if save_at is not None and len(reports) == save_at:
            assert state is not None, "a report without a state cannot be resumed"
            path = tmp_path / "state.pt"
            torch.save(state() if callable(state) else state, path)
            saved = torch.load(path, weights_only=True)

    bench.run(cfg, report, resume=resume)
    return reports, saved


def _assert_same(a, b) -> None:
    assert [i for i, _ in a] == [i for i, _ in b]
    for (_, x), (_, y) in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_allclose(x[key], y[key], rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=key)


def test_every_registered_benchmark_has_a_tiny_config() -> None:
    assert sorted(TINY) == sorted(benchmarks.available())


CASES = [(name, method) for name in benchmarks.available() for method in benchmarks.get(name).methods if name in TINY]


@pytest.mark.parametrize(("name", "method"), CASES)
def test_benchmark_contract(name: str, method: str, tmp_path) -> None:
    bench = benchmarks.get(name)
    cfg = bench.make_config({**TINY[name], **METHOD_VALUES[method], "method": method, "seeds": (3, 5)})
    first, _ = _run(bench, cfg)
    assert len(first) >= 2, "a tiny run should report at least twice (so resume can be tested)"
    for iteration, metrics in first:
        assert set(metrics) == set(bench.metrics), f"iteration {iteration}: reported {sorted(metrics)}"
        for key, value in metrics.items():
            assert value.size in (1, 2), f"{key}: one value per seed expected, got shape {value.shape}"
    iterations = [i for i, _ in first]
    assert iterations == sorted(iterations) and len(set(iterations)) == len(iterations)
    again, saved = _run(bench, cfg, save_at=1, tmp_path=tmp_path)
    _assert_same(first, again)  # deterministic for the seeds
    resumed, _ = _run(bench, cfg, resume=saved)
    _assert_same(first[1:], resumed)  # right after the saved report, the same rows


@pytest.mark.parametrize("name", sorted(TINY))
def test_a_seed_gives_the_same_rows_whatever_batch_it_runs_in(name: str) -> None:
    """Vectorised seeds are independent: seed 7 alone equals seed 7 among others (float tolerance:
    batched kernels sum in another order)."""
    bench = benchmarks.get(name)
    alone, _ = _run(bench, bench.make_config({**TINY[name], "seeds": (7,)}))
    batched, _ = _run(bench, bench.make_config({**TINY[name], "seeds": (3, 7)}))
    assert [i for i, _ in alone] == [i for i, _ in batched]
    for (_, a), (_, b) in zip(alone, batched):
        for key in a:
            one = a[key].reshape(-1)[0]
            two = b[key].reshape(-1)[1] if b[key].size == 2 else b[key].reshape(-1)[0]
            np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-6, equal_nan=True, err_msg=key)
