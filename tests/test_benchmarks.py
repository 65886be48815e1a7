"""Contract tests over the registry, and each benchmark against a plain reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from syre_tune import benchmarks, functional, metrics
from syre_tune._random import seeded_normal
from syre_tune.benchmarks import symmetry_objective, theorem4
from syre_tune.kernels import _philox, stream_key

TINY = {
    "symmetry_objective": {"dim": 12, "steps": 40, "report_every": 20},
    "theorem4": {"n_symmetries": 3, "steps": 50},
}
METHOD_VALUES = {
    "syre": {"sigma0": 1.0, "gamma": 0.5, "sigma_d": 0.1},
    "weight_decay": {"gamma": 0.5},
    "w_fix": {"phi": 0.2},
    "dropout": {"dropout": 0.2},
    "vanilla": {},
}


def collect(name: str, values: dict) -> list[tuple[int, dict]]:
    bench = benchmarks.get(name)
    cfg = bench.make_config(values)
    reports: list[tuple[int, dict]] = []
    bench.run(
        cfg, lambda iteration, m, state=None: reports.append((iteration, {k: np.asarray(v) for k, v in m.items()}))
    )
    return reports


RESUMABLE = {
    "symmetry_objective": {"dim": 12, "steps": 300, "report_every": 100},
    "theorem4": {"n_symmetries": 3, "steps": 60, "report_every": 20},
}


@pytest.mark.parametrize(
    ("name", "method"),
    [(name, method) for name in sorted(RESUMABLE) for method in ("syre", "weight_decay")]
    + [("symmetry_objective", "dropout"), ("theorem4", "vanilla")],
)
@pytest.mark.parametrize("sigma_d", [0.0, 0.1])
def test_resuming_from_a_saved_state_continues_exactly(name: str, method: str, sigma_d: float, tmp_path) -> None:
    """Interrupted after a report, saved with torch.save, loaded with weights_only=True and
    resumed: the remaining reports equal the uninterrupted run's, bit for bit."""
    bench = benchmarks.get(name)
    values = {**RESUMABLE[name], **METHOD_VALUES[method], "method": method, "seeds": (2, 9)}
    if method == "syre":
        values["sigma_d"] = sigma_d
    cfg = bench.make_config(values)
    full: list[tuple[int, dict]] = []
    saved: dict[int, object] = {}

    def keep(iteration, m, state=None):
        full.append((iteration, {k: np.asarray(v).copy() for k, v in m.items()}))
        path = tmp_path / f"{iteration}.pt"
        torch.save(state() if callable(state) else state, path)
        saved[iteration] = torch.load(path, weights_only=True)

    bench.run(cfg, keep)
    assert len(full) >= 3
    for cut in range(1, len(full)):
        rest: list[tuple[int, dict]] = []
        bench.run(
            cfg,
            lambda it, m, state=None, rest=rest: rest.append((it, {k: np.asarray(v) for k, v in m.items()})),
            resume=saved[full[cut - 1][0]],
        )
        assert [it for it, _ in rest] == [it for it, _ in full[cut:]]
        for (_, a), (_, b) in zip(rest, full[cut:]):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])
    # resuming from the last report has nothing left to do
    last: list = []
    bench.run(cfg, lambda it, m, state=None: last.append(it), resume=saved[full[-1][0]])
    assert last == []


@pytest.mark.parametrize("method", sorted(METHOD_VALUES))
def test_symmetry_objective_runs_every_method(method: str) -> None:
    reports = collect("symmetry_objective", {**TINY["symmetry_objective"], "method": method, **METHOD_VALUES[method]})
    assert len(reports) == 3  # steps 0, 20 and the end


def test_symmetry_objective_gradient_is_the_literal_objective() -> None:
    """The hand-written gradient 4(wᵀw)w − 2Bw equals autograd of (wᵀw)² − wᵀBw."""
    cfg = symmetry_objective.Config(dim=9, seeds=(0, 1))
    spectrum, eigvecs, eigvals = symmetry_objective.make_problem(cfg, torch.float64)
    w = torch.randn(2, 9, dtype=torch.float64, requires_grad=True)
    literal = ((w * w).sum(-1) ** 2 - torch.einsum("sd,sde,se->s", w, spectrum, w)).sum()
    (grad,) = torch.autograd.grad(literal, w)
    f, ours = symmetry_objective.objective_and_grad(w.detach(), spectrum, structured=False)
    torch.testing.assert_close(ours, grad)
    # the eigendecomposition is of B: B v_i = λ_i v_i
    torch.testing.assert_close(torch.bmm(spectrum, eigvecs), eigvecs * eigvals.unsqueeze(1))


def test_symmetry_objective_vanilla_collapses_and_syre_keeps_coordinates() -> None:
    common = {"spectrum": "structured", "dim": 40, "steps": 3000, "report_every": 3000, "seeds": (0, 1)}
    vanilla = collect("symmetry_objective", {**common, "method": "vanilla"})[-1][1]
    syre = collect("symmetry_objective", {**common, "method": "syre", "sigma0": 20.0, "gamma": 10.0})[-1][1]
    assert syre["symmetry_degree"].mean() < vanilla["symmetry_degree"].mean() - 5


def test_theorem4_delta_matches_reflection_strength_and_closed_form() -> None:
    """The vectorised Eq. 9 equals metrics.reflection_strength on the literal l_ar, and with D = I
    equals −4γ v_iᵀθ0 (so |Δ_i| = 4γ|v_iᵀθ0|)."""
    cfg = theorem4.Config(n_symmetries=3, extra_dims=2, seeds=(5,), sigma0=0.3, gamma=0.2, steps=300)
    reports = []
    theorem4.run(cfg, lambda it, m, state=None: reports.append(m))
    measured = float(reports[-1]["min_abs_delta"][0])

    basis, target = theorem4.make_problem(cfg)
    basis, target = basis[0], target[0]
    theta0 = functional.theta0({"w": (cfg.dim,)}, cfg.sigma0, seed=5, relative=False, dtype=torch.float64)["w"]
    w = seeded_normal((cfg.dim,), cfg.init_std, seed=5, name="init", dtype=torch.float64)
    theta = w - theta0
    for _ in range(cfg.steps):  # plain GD on the literal objective with autograd
        theta = theta.detach().requires_grad_(True)
        objective = (
            theorem4.loss((theta + theta0)[None], basis[None], target[None], 3)[0] + cfg.gamma * (theta**2).sum()
        )
        (grad,) = torch.autograd.grad(objective, theta)
        theta = theta - cfg.lr * grad
    theta = theta.detach()

    def loss_ar(t: torch.Tensor) -> torch.Tensor:
        return theorem4.loss((t + theta0)[None], basis[None], target[None], 3)[0] + cfg.gamma * (t**2).sum()

    projectors = [torch.outer(basis[:, i], basis[:, i]) for i in range(3)]
    centres = [-(p @ theta0) for p in projectors]
    delta = metrics.reflection_strength(loss_ar, theta, projectors, centres)
    assert measured == pytest.approx(delta.abs().min().item(), rel=1e-6)
    closed_form = 4 * cfg.gamma * (basis[:, :3].T @ theta0).abs()
    torch.testing.assert_close(delta.abs(), closed_form, rtol=1e-6, atol=1e-12)


def test_theorem4_probability_is_monotone_in_gamma_sigma0() -> None:
    probabilities = []
    for sigma0 in (0.01, 0.1, 1.0):
        reports = collect(
            "theorem4", {"n_symmetries": 4, "sigma0": sigma0, "gamma": 0.1, "seeds": tuple(range(64)), "steps": 200}
        )
        probabilities.append(float((reports[-1][1]["min_abs_delta"] > 0.01).mean()))
    assert probabilities == sorted(probabilities) and probabilities[0] < 0.2 and probabilities[-1] > 0.8


def test_theorem4_without_syre_is_exactly_symmetric() -> None:
    reports = collect(
        "theorem4", {"n_symmetries": 2, "method": "weight_decay", "gamma": 0.1, "seeds": (0, 1), "steps": 50}
    )
    assert np.all(reports[-1][1]["min_abs_delta"] < 1e-12)  # zero up to rounding in the rotated basis


def test_config_errors_name_the_key() -> None:
    bench = benchmarks.get("theorem4")
    with pytest.raises(benchmarks.ConfigError, match="n_symetries"):
        bench.make_config({"n_symetries": 2})
    with pytest.raises(benchmarks.ConfigError, match="sigma0"):
        bench.make_config({"sigma0": -1.0})
    assert math.isclose(bench.make_config({"sigma0": 1}).sigma0, 1.0)


def test_theorem4_rotated_and_plain_descent_agree() -> None:
    """The σ_D = 0 fast path (descent in Vᵀθ coordinates) matches descent in θ, which σ_D > 0 uses:
    a tiny σ_D changes the result only slightly."""
    common = {"n_symmetries": 3, "sigma0": 0.5, "gamma": 0.2, "seeds": (0, 1, 2), "steps": 300}
    fast = collect("theorem4", common)[-1][1]["min_abs_delta"]
    plain = collect("theorem4", {**common, "sigma_d": 1e-9})[-1][1]["min_abs_delta"]
    np.testing.assert_allclose(fast, plain, rtol=1e-6)


def final_w(values: dict) -> torch.Tensor:
    """The trainable w after the run, from the state of its last report."""
    bench = benchmarks.get("symmetry_objective")
    states = []
    bench.run(bench.make_config(values), lambda it, m, state=None: states.append(state()))
    return states[-1]["w"]


@pytest.mark.parametrize("method", ["syre", "weight_decay", "w_fix", "dropout", "vanilla"])
def test_symmetry_objective_steps_are_the_literal_update_of_each_method(method: str) -> None:
    """Three gradient steps of each method against a plain loop written here: autograd of
    f(w) = (wᵀw)² − wᵀBw, θ0 / D / mask / dropout masks drawn by hand from the seeded generators."""
    from syre_tune._random import generator, seeded_mask

    dim, lr, steps, seed = 6, 1e-2, 3, 4
    values = {"dim": dim, "lr": lr, "steps": steps, "report_every": steps, "seeds": (seed,), "method": method}
    values.update({"sigma0": 3.0, "gamma": 0.5, "sigma_d": 0.2, "phi": 0.5, "dropout": 0.3})
    cfg = symmetry_objective.Config(**values)
    spectrum = symmetry_objective.make_problem(cfg, torch.float32)[0][0]
    w = seeded_normal((dim,), cfg.init_std, seed=seed, name="init", dtype=torch.float32)
    theta0, diag, gamma = torch.zeros(dim), torch.ones(dim), 0.0
    if method == "syre":
        index = torch.arange(dim)  # Triton's Philox, keyed by blake2b(seed, name, what)
        theta0 = _philox.randn(stream_key(seed, "w", "theta0"), index) * 3.0 / math.sqrt(dim)
        diag = 1 + (2 * _philox.rand(stream_key(seed, "w", "diag"), index) - 1) * math.sqrt(3) * 0.2
        gamma = 0.5
    elif method == "weight_decay":
        gamma = 0.5
    mask = seeded_mask((dim,), 0.5, seed=seed, name="w") if method == "w_fix" else torch.zeros(dim, dtype=torch.bool)
    if method == "w_fix":
        w = torch.where(mask, seeded_normal((dim,), 0.01, seed=seed, name="w_fix"), w)
    drops = torch.rand(256, dim, generator=generator(seed, "w", "dropout"))

    def f(v: torch.Tensor) -> torch.Tensor:
        return (v @ v) ** 2 - v @ spectrum @ v

    for step in range(steps):
        w_ = w.clone().requires_grad_(True)
        if method == "dropout":
            keep = (drops[step] >= 0.3).float() / 0.7  # inverted dropout: kept entries scaled by 1/(1−p)
            (grad,) = torch.autograd.grad(f(w_ * keep), w_)
        else:
            (grad,) = torch.autograd.grad(f(w_ + theta0), w_)
        grad = grad + 2 * gamma * diag * w  # γ‖θ‖²_D
        w = w - lr * grad.masked_fill(mask, 0.0)
    torch.testing.assert_close(final_w(values)[0], w, rtol=1e-5, atol=1e-6)
