"""ridge (paper Fig. 3 left) against the closed-form ridge solutions, solved here with numpy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from syre_tune import benchmarks, functional
from syre_tune._random import generator
from syre_tune.analysis.figures import ridge as figures
from syre_tune.benchmarks import ridge

pytestmark = pytest.mark.usefixtures("one_thread")


def collect(values: dict) -> list[tuple[int, dict]]:
    bench = benchmarks.get("ridge")
    reports: list[tuple[int, dict]] = []
    bench.run(
        bench.make_config(values),
        lambda it, m, state=None: reports.append((it, {k: np.asarray(v, dtype=np.float64) for k, v in m.items()})),
    )
    return reports


def plain_data(seed: int, n: int, d: int, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = torch.randn(n, d, generator=generator(seed, "data", "inputs"), dtype=torch.float64).numpy()
    w_star = torch.randn(d, generator=generator(seed, "teacher", "weights"), dtype=torch.float64).numpy() / math.sqrt(d)
    eps = torch.randn(n, generator=generator(seed, "data", "noise"), dtype=torch.float64).numpy()
    return x, x @ w_star + noise * eps, w_star


def losses(w: np.ndarray, x: np.ndarray, y: np.ndarray, w_star: np.ndarray, noise: float) -> tuple[float, float]:
    return float(np.sum((w - w_star) ** 2) + noise**2), float(np.mean((x @ w - y) ** 2))


SETUP = {"dim": 12, "train_size": 10, "noise": 0.3, "lr": 0.05, "steps": 3000, "report_every": 3000}


def test_weight_decay_converges_to_the_closed_form_ridge_solution() -> None:
    """GD on (1/N)‖Xw − y‖² + γ‖w‖² ends at (XᵀX + γN·I)⁻¹Xᵀy."""
    gamma, seeds = 0.2, (1, 4)
    rows = collect({**SETUP, "method": "weight_decay", "gamma": gamma, "seeds": seeds})[-1][1]
    for k, seed in enumerate(seeds):
        x, y, w_star = plain_data(seed, 10, 12, 0.3)
        w = np.linalg.solve(x.T @ x + gamma * 10 * np.eye(12), x.T @ y)
        test, train = losses(w, x, y, w_star, 0.3)
        np.testing.assert_allclose(rows["test_loss"][k], test, rtol=1e-8)
        np.testing.assert_allclose(rows["train_loss"][k], train, rtol=1e-8)


@pytest.mark.parametrize("sigma_d", [0.0, 0.2])
def test_syre_converges_to_the_closed_form_biased_ridge_solution(sigma_d: float) -> None:
    """GD on (1/N)‖X(θ + θ0) − y‖² + γ‖θ‖²_D ends at w = θ + θ0 = (XᵀX + γN·D)⁻¹(Xᵀy + γN·Dθ0)
    (Eq. 13), with θ0 ~ N(0, (σ0/√d)²) and D drawn from (seed, "w")."""
    gamma, sigma0, seeds = 0.2, 2.0, (3, 7)
    values = {**SETUP, "method": "syre", "gamma": gamma, "sigma0": sigma0, "sigma_d": sigma_d, "seeds": seeds}
    rows = collect(values)[-1][1]
    for k, seed in enumerate(seeds):
        x, y, w_star = plain_data(seed, 10, 12, 0.3)
        theta0 = functional.theta0({"w": (12,)}, sigma0, seed=seed, dtype=torch.float64)["w"].numpy()
        diag = np.ones(12) if sigma_d == 0 else functional.diag({"w": (12,)}, sigma_d, seed=seed)["w"].double().numpy()
        w = np.linalg.solve(x.T @ x + gamma * 10 * np.diag(diag), x.T @ y + gamma * 10 * diag * theta0)
        test, train = losses(w, x, y, w_star, 0.3)
        np.testing.assert_allclose(rows["test_loss"][k], test, rtol=1e-8)
        np.testing.assert_allclose(rows["train_loss"][k], train, rtol=1e-8)
        ridge_test, _ = losses(np.linalg.solve(x.T @ x + gamma * 10 * np.eye(12), x.T @ y), x, y, w_star, 0.3)
        assert abs(test - ridge_test) > 1e-3  # θ0 really moves the optimum: the test can tell the two apart


def test_vanilla_shows_the_double_descent_peak_that_decay_and_syre_remove() -> None:
    """Fig. 3 left at a small scale: vanilla's test loss at d = N is far above its neighbours',
    weight decay and syre (small σ0) stay low there."""
    common = {"train_size": 40, "steps": 2000, "report_every": 2000, "seeds": tuple(range(6))}

    def test_loss(dim: int, **method) -> float:
        return float(collect({**common, "dim": dim, **method})[-1][1]["test_loss"].mean())

    vanilla = {d: test_loss(d, method="vanilla") for d in (20, 40, 80)}
    assert vanilla[40] > 2 * max(vanilla[20], vanilla[80]), vanilla
    decay = test_loss(40, method="weight_decay", gamma=0.05)
    syre = test_loss(40, method="syre", gamma=0.05, sigma0=0.1)
    assert decay < vanilla[40] / 2 and syre < vanilla[40] / 2, (decay, syre, vanilla)
    assert abs(syre - decay) < 0.2 * decay  # syre ≈ weight decay (no reflection symmetry here)


def test_config_rejects_bad_values() -> None:
    for key, value in [("noise", -1.0), ("lr", 0.0), ("dim", 0)]:
        with pytest.raises(benchmarks.ConfigError, match=key):
            ridge.Config(**{key: value})


# --- figure data step ---


def _rows() -> pd.DataFrame:
    rows = []
    for method, base in [("vanilla", 1.0), ("weight_decay", 0.5)]:
        for dim in (10, 20):
            for seed in (0, 1):
                for iteration in (0, 100):
                    rows.append(
                        {
                            "trial_id": f"{method}-{dim}",
                            "method": method,
                            "sigma0": None,
                            "gamma": 0.05 if method == "weight_decay" else None,
                            "seed": seed,
                            "iteration": iteration,
                            "config.dim": dim,
                            "config.train_size": 20,
                            "metric.test_loss": base * dim + seed + iteration,
                            "metric.train_loss": 0.1,
                        }
                    )
    return pd.DataFrame(rows)


def test_figure_info_computes_d_over_n_from_the_last_report() -> None:
    table = figures.ridge_table(figures.ridge_info(_rows()))
    expected = pd.DataFrame(
        {
            "method": ["vanilla", "vanilla", "weight_decay", "weight_decay"],
            "label": ["", "", "", ""],
            "alpha_inv": [0.5, 1.0, 0.5, 1.0],
            "test_loss": [110.5, 120.5, 105.5, 110.5],
            "seeds": [2, 2, 2, 2],
        }
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert figures.summary(_rows())[0] == "vanilla: peak test loss 120.5 at d/N = 1"


def test_figure_writes_its_files(tmp_path) -> None:
    written = figures.write(_rows(), tmp_path)
    assert {p.name for p in written} >= {"ridge.csv", "ridge_table.csv", "ridge.png"}
