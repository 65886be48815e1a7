"""The functional core, the method layer and the vectorised population, each against its
literal formula or a plain reference (σ0 ≠ 0, σ_D > 0), never against another of our paths."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from references import reference_diag, reference_theta0, reference_theta0s
from torch import nn

from syre_tune import functional
from syre_tune._random import seeded_mask, seeded_normal
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._methods import Parts, prepare, seeded_init
from syre_tune.benchmarks._population import Population


@dataclass(frozen=True)
class Cfg:
    method: str = "syre"
    sigma0: float = 0.7
    sigma_d: float = 0.2
    gamma: float = 0.05
    phi: float = 0.3
    kappa: float = 0.01
    dropout: float = 0.0
    shrink: float = 0.1
    perturb: float = 0.05
    redo_tau: float = 0.9  # high, so that some units are recycled in a 5-step test
    redo_every: int = 2
    device: str = "cpu"


def mlp(parts: Parts) -> nn.Module:
    return nn.Sequential(nn.Linear(6, 5), parts.activation("relu", 5, "0"), parts.dropout(), nn.Linear(5, 3))


# ------------------------------------------------------------------ functional core
def test_functional_theta0_population_rows_are_the_single_draws_with_each_members_sigma0() -> None:
    shapes = {"a.weight": (4, 3), "a.bias": (4,)}
    stack = functional.theta0(shapes, [0.5, 2.0], seed=(7, 8))
    for k, (seed, sigma0) in enumerate(((7, 0.5), (8, 2.0))):
        for name, shape in shapes.items():
            layer = shapes["a.weight"] if name == "a.bias" else None  # a bias takes its layer's fan-in, 3
            torch.testing.assert_close(stack[name][k], reference_theta0(shape, sigma0, seed, name, layer))


def test_functional_penalty_is_the_literal_sum() -> None:
    theta = {"w": torch.randn(2, 3, 4), "b": torch.randn(2, 4)}
    diag = {"w": torch.rand(2, 3, 4) + 0.5, "b": torch.rand(2, 4) + 0.5}
    gamma = torch.tensor([0.1, 3.0])
    per_member = functional.penalty(theta, gamma, diag, population=True)
    for k in range(2):
        literal = gamma[k] * sum(float((diag[n][k] * theta[n][k] ** 2).sum()) for n in theta)
        assert float(per_member[k]) == pytest.approx(float(literal), rel=1e-6)
    single = functional.penalty({"w": theta["w"][0]}, 0.1, {"w": diag["w"][0]})
    assert float(single) == pytest.approx(0.1 * float((diag["w"][0] * theta["w"][0] ** 2).sum()), rel=1e-6)


def test_functional_offsets_subtract_theta0_where_given() -> None:
    phi = {"a": torch.tensor([3.0, 4.0]), "b": torch.tensor([5.0])}
    theta = functional.offsets(phi, {"a": torch.tensor([1.0, 1.0])})  # b has no θ0: θ = φ
    assert theta["a"].tolist() == [2.0, 3.0] and theta["b"].tolist() == [5.0]
    assert functional.offsets(phi, None) == phi


@pytest.mark.parametrize("with_diag", [False, True])
@pytest.mark.parametrize("per_member", [False, True])
def test_functional_decay_moves_toward_theta0_by_rate_times_d(with_diag: bool, per_member: bool) -> None:
    phi = torch.randn(3, 5)
    theta0 = torch.randn(3, 5)  # σ0 ≠ 0: decaying toward 0 instead would fail
    diag = torch.rand(3, 5) + 0.5 if with_diag else None
    rate = torch.tensor([0.1, 0.2, 0.3]) if per_member else 0.2
    expected = phi - (rate.reshape(3, 1) if per_member else rate) * (diag if with_diag else 1.0) * (phi - theta0)
    param = phi.clone()
    functional.decay_([param], [theta0], rate, [diag] if with_diag else None)
    torch.testing.assert_close(param, expected)


# ------------------------------------------------------------------ the method layer
def literal_objective(model: nn.Module, plain: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: Cfg, seed: int):
    """l(θ + θ0) + γ Σ D θ² on a plain copy: θ = φ − θ0 with θ0, D drawn by hand."""
    total = nn.functional.mse_loss(plain(x), y)
    theta0s = reference_theta0s({name: tuple(p.shape) for name, p in plain.named_parameters()}, cfg.sigma0, seed)
    for name, phi in plain.named_parameters():
        theta0 = theta0s[name]
        diag = reference_diag(tuple(phi.shape), cfg.sigma_d, seed, name)
        total = total + cfg.gamma * (diag * (phi - theta0) ** 2).sum()
    return total


def test_syre_method_gradient_is_the_literal_objectives() -> None:
    cfg = Cfg()
    prepared = prepare(cfg, mlp, seed=3)
    with seeded_init(3):
        init = mlp(Parts("vanilla", seed=3))
    x, y = torch.randn(8, 6), torch.randn(8, 3)
    # the effective start is init + θ0
    theta0s = reference_theta0s({name: tuple(p.shape) for name, p in init.named_parameters()}, 0.7, 3)
    for (name, phi), start in zip(prepared.model.named_parameters(), init.parameters()):
        torch.testing.assert_close(phi.detach(), start.detach() + theta0s[name])
    prepared.loss(nn.functional.mse_loss(prepared.model(x), y)).backward()
    plain = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Identity(), nn.Linear(5, 3))
    plain.load_state_dict({n: p.detach() for n, p in prepared.model.named_parameters()})
    literal_objective(prepared.model, plain, x, y, cfg, 3).backward()
    for (name, got), want in zip(prepared.model.named_parameters(), plain.parameters()):
        torch.testing.assert_close(got.grad, want.grad, msg=name)


def test_weight_decay_method_is_coupled_two_gamma() -> None:
    cfg = Cfg(method="weight_decay", gamma=0.25)
    prepared = prepare(cfg, mlp, seed=1)
    assert prepared.optimizer_kwargs == {"weight_decay": 0.5}
    before = [p.detach().clone() for p in prepared.model.parameters()]
    x, y = torch.randn(8, 6), torch.randn(8, 3)
    optimizer = torch.optim.SGD(prepared.model.parameters(), lr=0.1, **prepared.optimizer_kwargs)
    loss = prepared.loss(nn.functional.mse_loss(prepared.model(x), y))
    loss.backward()
    grads = [p.grad.clone() for p in prepared.model.parameters()]
    optimizer.step()
    for after, start, grad in zip(prepared.model.parameters(), before, grads):
        torch.testing.assert_close(after.detach(), start - 0.1 * (grad + 2 * 0.25 * start))


def test_w_fix_method_holds_its_seeded_fraction_fixed_through_training() -> None:
    cfg = Cfg(method="w_fix", phi=0.4, kappa=0.01)
    prepared = prepare(cfg, mlp, seed=5)
    optimizer = torch.optim.AdamW(prepared.model.parameters(), lr=0.1, weight_decay=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        prepared.loss(prepared.model(torch.randn(8, 6)).pow(2).mean()).backward()
        optimizer.step()
    prepared.model(torch.randn(1, 6))  # the refix happens before each forward pass
    weight = prepared.model[0].weight.detach()
    mask = seeded_mask((5, 6), 0.4, seed=5, name="0.weight")
    assert int(mask.sum()) == 12
    torch.testing.assert_close(weight[mask], seeded_normal((5, 6), 0.01, seed=5, name="0.weight")[mask])
    with seeded_init(5):
        init = mlp(Parts("vanilla", seed=5))
    assert (weight[~mask] != init[0].weight.detach()[~mask]).all()  # the others trained


def test_dropout_part_drops_and_rescales_only_under_dropout() -> None:
    layer = Parts("dropout", seed=0, dropout=0.5).dropout()
    out = layer.train()(torch.ones(10_000))
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert 0.45 < float((out == 0).float().mean()) < 0.55
    assert isinstance(Parts("syre", seed=0, dropout=0.5).dropout(), nn.Identity)


def test_sigma_asym_part_is_the_gated_formula_with_a_fixed_seeded_c() -> None:
    act = Parts("sigma_asym", seed=4).activation("relu", 5, "h1")
    x = torch.randn(7, 5)
    c = seeded_normal((5, 5), 1 / math.sqrt(5), seed=4, name="h1")
    torch.testing.assert_close(act(x), torch.sigmoid(x @ c.T) * x)
    assert list(act.parameters()) == []  # C is fixed
    conv_act = Parts("sigma_asym", seed=4).activation("relu", 5, "h1", dim=1)
    image = torch.randn(2, 5, 3, 3)
    expected = torch.sigmoid(torch.einsum("oc,nchw->nohw", c, image)) * image
    torch.testing.assert_close(conv_act(image), expected)
    assert isinstance(Parts("vanilla", seed=4).activation("relu", 5, "h1"), nn.ReLU)


# ------------------------------------------------------------------ the population
def train_alone(cfg: Cfg, seed: int, batches: list[tuple[torch.Tensor, torch.Tensor]], optimizer_name: str):
    prepared = prepare(cfg, mlp, seed=seed)
    model = prepared.model
    make = torch.optim.SGD if optimizer_name == "sgd" else torch.optim.Adam
    # every penalty through the loss (weight_decay as γ‖θ‖², the population's form)
    optimizer = make(model.parameters(), lr=0.05)
    for x, y in batches:
        loss = nn.functional.mse_loss(model(x), y)
        if cfg.method == "weight_decay":
            loss = loss + cfg.gamma * sum((p**2).sum() for p in model.parameters())
        prepared.step_(optimizer, loss, probe=x)
    model(batches[0][0])  # W-fix refixes before a forward pass
    return [p.detach() for p in model.parameters()]


@pytest.mark.parametrize(
    "method", ["syre", "weight_decay", "vanilla", "w_fix", "sigma_asym", "l2_init", "shrink_perturb", "redo"]
)
@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_population_members_equal_the_same_members_trained_alone(method: str, optimizer_name: str) -> None:
    cfg = Cfg(method=method)
    seeds = (11, 12, 13)
    gen = torch.Generator().manual_seed(0)
    data = [[(torch.randn(8, 6, generator=gen), torch.randn(8, 3, generator=gen)) for _ in range(5)] for _ in seeds]
    population = Population(cfg, mlp, seeds)
    make = torch.optim.SGD if optimizer_name == "sgd" else torch.optim.Adam
    optimizer = make(population.parameters(), lr=0.05)
    for step in range(5):
        x = torch.stack([data[k][step][0] for k in range(3)])
        y = torch.stack([data[k][step][1] for k in range(3)])
        losses = nn.functional.mse_loss(population(x), y, reduction="none").flatten(1).mean(1)
        population.step_(optimizer, losses, probe=x)
    for k, seed in enumerate(seeds):
        alone = train_alone(cfg, seed, data[k], optimizer_name)
        for (name, stack), want in zip(population.params.items(), alone):
            torch.testing.assert_close(stack[k].detach(), want, rtol=1e-5, atol=1e-6, msg=f"{method} {name}")


def test_population_rejects_dropout() -> None:
    with pytest.raises(ValueError, match="population runs"):
        Population(Cfg(method="dropout", dropout=0.1), mlp, (0,))


# ------------------------------------------------------------------ the loop contract
def run_loop(report, resume=None) -> None:
    with seeded_init(0):
        model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loop = Loop(report, steps=9, every=4, resume=resume, state={"model": model, "optimizer": optimizer})
    if loop.fresh:
        loop.report({"w": model[0].weight.sum().detach()})
    for _ in loop:
        optimizer.zero_grad()
        model(torch.randn(5, 3)).pow(2).mean().backward()  # global RNG: data and dropout
        optimizer.step()
        if loop.due:
            loop.report({"w": model[0].weight.sum().detach()})


def test_loop_reports_every_k_and_resumes_right_after_a_report_with_identical_rows(tmp_path) -> None:
    torch.manual_seed(123)
    full, states = [], {}

    def record(iteration, metrics, state=None):
        full.append((iteration, float(metrics["w"])))
        path = tmp_path / f"{iteration}.pt"
        torch.save(state(), path)
        states[iteration] = path

    run_loop(record)
    assert [i for i, _ in full] == [0, 4, 8, 9]
    resumed = []
    torch.manual_seed(999)  # whatever the global RNG is now, the state restores it
    run_loop(lambda i, m, state=None: resumed.append((i, float(m["w"]))), torch.load(states[4], weights_only=True))
    assert resumed == full[2:]
