"""reparam_regression (paper Fig. 3 right) against plain SGD loops written here with numpy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from syre_tune import benchmarks, functional
from syre_tune._random import generator, seeded_mask, seeded_normal
from syre_tune.analysis.figures import reparam_regression as figures
from syre_tune.benchmarks import reparam_regression as rr
from syre_tune.data import Batches

pytestmark = pytest.mark.usefixtures("one_thread")


def collect(values: dict) -> list[tuple[int, dict]]:
    bench = benchmarks.get("reparam_regression")
    reports: list[tuple[int, dict]] = []
    bench.run(
        bench.make_config(values),
        lambda it, m, state=None: reports.append((it, {k: np.asarray(v, dtype=np.float64) for k, v in m.items()})),
    )
    return reports


D, N, B = 8, 30, 3
SMALL = {"dim": D, "train_size": N, "batch_size": B, "lr": 0.05, "noise": 0.1, "init_std": 0.3}


def plain_sgd(seed: int, steps: int, method: str, gamma: float = 0.0, sigma0: float = 0.0, phi: float = 0.0):
    """The paper's loop for one seed, literally: per step a batch in the seeded order, the gradient
    of mean ((u ⊙ w)ᵀx − y)² + γ(‖θu‖² + ‖θw‖²) by hand, fixed W-fix entries left alone."""
    x = torch.randn(N, D, generator=generator(seed, "data", "inputs")).double().numpy()
    v = torch.randn(D, generator=generator(seed, "teacher", "weights")).double().numpy() / math.sqrt(D)
    y = x @ v + 0.1 * torch.randn(N, generator=generator(seed, "data", "noise")).double().numpy()
    theta = {n: seeded_normal((D,), 0.3, seed=seed, name=f"init.{n}").double().numpy() for n in ("u", "w")}
    offset = {n: np.zeros(D) for n in ("u", "w")}
    free = {n: np.ones(D) for n in ("u", "w")}
    if method == "syre":
        offset = {
            n: t.double().numpy() for n, t in functional.theta0({"u": (D,), "w": (D,)}, sigma0, seed=seed).items()
        }
    if method == "w_fix":
        for n in ("u", "w"):
            mask = seeded_mask((D,), phi, seed=seed, name=n).numpy()
            theta[n] = np.where(mask, seeded_normal((D,), 0.01, seed=seed, name=n).double().numpy(), theta[n])
            free[n] = ~mask
    order = Batches(N, B, seed=generator(seed, "data", "batches").initial_seed())
    for _ in range(steps):
        idx = order.next().numpy()
        u, w = theta["u"] + offset["u"], theta["w"] + offset["w"]
        residual = x[idx] @ (u * w) - y[idx]
        common = 2 * (residual[:, None] * x[idx]).mean(0)
        grad_u, grad_w = common * w + 2 * gamma * theta["u"], common * u + 2 * gamma * theta["w"]
        theta["u"] = theta["u"] - 0.05 * grad_u * free["u"]
        theta["w"] = theta["w"] - 0.05 * grad_w * free["w"]
    u, w = theta["u"] + offset["u"], theta["w"] + offset["w"]
    return u, w, x, y, v


@pytest.mark.parametrize(
    "method, knobs",
    [
        ("vanilla", {}),
        ("weight_decay", {"gamma": 0.1}),
        ("syre", {"gamma": 0.1, "sigma0": 2.0}),
        ("w_fix", {"phi": 0.25, "wfix_gamma": 0.1}),
    ],
)
def test_sgd_matches_the_plain_loop(method: str, knobs: dict) -> None:
    steps, seeds = 40, (2, 5)
    rows = collect({**SMALL, **knobs, "method": method, "steps": steps, "report_every": steps, "seeds": seeds})
    last = rows[-1][1]
    for k, seed in enumerate(seeds):
        gamma = knobs.get("gamma", knobs.get("wfix_gamma", 0.0))
        u, w, x, y, v = plain_sgd(seed, steps, method, gamma, knobs.get("sigma0", 0.0), knobs.get("phi", 0.0))
        np.testing.assert_allclose(last["train_loss"][k], np.mean((x @ (u * w) - y) ** 2), rtol=1e-4)
        np.testing.assert_allclose(last["test_loss"][k], np.sum((u * w - v) ** 2) + 0.01, rtol=1e-4)
        assert last["dead_units"][k] == np.sum((np.abs(u) < 1e-3) & (np.abs(w) < 1e-3))


def test_dead_units_counts_coordinates_where_both_factors_are_small() -> None:
    """A large threshold counts every unit whose |u_i| and |w_i| are both below it, at the start."""
    seeds = (1,)
    first = collect({**SMALL, "method": "vanilla", "steps": 1, "dead_threshold": 0.3, "seeds": seeds})[0][1]
    u = seeded_normal((D,), 0.3, seed=1, name="init.u").numpy()
    w = seeded_normal((D,), 0.3, seed=1, name="init.w").numpy()
    assert first["dead_units"][0] == np.sum((np.abs(u) < 0.3) & (np.abs(w) < 0.3)) > 0


def test_syre_ends_with_fewer_dead_units_than_sgd_and_w_fix() -> None:
    """Fig. 3 right at a small scale: with the same γ, weight decay (the paper's SGD) and W-fix
    collapse units to (0, 0), syre keeps none dead."""
    common = {"dim": 100, "train_size": 300, "lr": 0.01, "steps": 4000, "report_every": 4000, "seeds": (0, 1)}
    dead = {
        "weight_decay": collect({**common, "method": "weight_decay", "gamma": 0.05}),
        "w_fix": collect({**common, "method": "w_fix", "phi": 0.3, "wfix_gamma": 0.05}),
        "syre": collect({**common, "method": "syre", "gamma": 0.05, "sigma0": 1.0}),
    }
    dead = {method: rows[-1][1]["dead_units"].mean() for method, rows in dead.items()}
    assert dead["syre"] < dead["weight_decay"] and dead["syre"] < dead["w_fix"], dead
    assert dead["weight_decay"] >= 5, dead  # the collapse is there to be avoided


def test_config_rejects_bad_values() -> None:
    for key, value in [("dead_threshold", 0.0), ("wfix_gamma", -1.0), ("batch_size", 2000)]:
        with pytest.raises(benchmarks.ConfigError, match=key):
            rr.Config(**{key: value})


# --- figure data step ---


def _rows() -> pd.DataFrame:
    rows = []
    for method, dead in [("weight_decay", 10.0), ("syre", 0.0)]:
        for seed in (0, 1):
            for iteration in (0, 50):
                rows.append(
                    {
                        "trial_id": method,
                        "method": method,
                        "sigma0": 1.0 if method == "syre" else None,
                        "gamma": 0.05,
                        "seed": seed,
                        "iteration": iteration,
                        "metric.dead_units": dead * iteration / 50 + seed,
                        "metric.test_loss": 0.5 + seed,
                        "metric.train_loss": 0.4,
                    }
                )
    return pd.DataFrame(rows)


def test_figure_table_takes_the_last_report() -> None:
    table = figures.dead_table(figures.reparam_info(_rows()))
    expected = pd.DataFrame(
        {"method": ["syre", "weight_decay"], "label": ["", ""], "dead_units": [0.5, 10.5], "test_loss": [1.0, 1.0]}
    )
    pd.testing.assert_frame_equal(table.drop(columns="seeds"), expected, check_dtype=False)
    assert figures.summary(_rows())[-1] == "syre has the fewest dead units: yes"


def test_figure_writes_its_files(tmp_path) -> None:
    written = figures.write(_rows(), tmp_path)
    assert {p.name for p in written} >= {"reparam_regression.csv", "reparam_dead.csv", "reparam_regression.png"}
