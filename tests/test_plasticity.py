"""The plasticity baselines (L2 Init, Shrink & Perturb, ReDo) against their literal updates,
written out by hand here."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from syre_tune import metrics
from syre_tune._random import generator
from syre_tune.benchmarks._common import Common, ConfigError, build_config
from syre_tune.benchmarks._methods import Parts, prepare, seeded_init
from syre_tune.plasticity import ReDo, ShrinkPerturb, hidden_units, init_bounds


def mlp(parts: Parts) -> nn.Module:
    return nn.Sequential(
        nn.Linear(4, 6), parts.activation("relu", 6, "0"), nn.Linear(6, 6), parts.activation("relu", 6, "2"),
        nn.Linear(6, 2),
    )  # fmt: skip


class CNN(nn.Module):
    def __init__(self, parts: Parts) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.act = parts.activation("relu", 3, "conv", dim=1)
        self.fc = nn.Linear(3 * 4 * 4, 5)
        self.act2 = parts.activation("relu", 5, "fc")
        self.out = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act2(self.fc(self.act(self.conv(x)).flatten(1))))


def test_dormant_scores_are_mean_absolute_activation_over_the_layer_mean() -> None:
    h = torch.tensor([[0.0, 1.0, -3.0], [0.0, 3.0, 1.0]])  # E|h| = (0, 2, 2), mean 4/3
    torch.testing.assert_close(metrics.dormant_scores(h), torch.tensor([0.0, 1.5, 1.5]))
    conv = torch.zeros(2, 2, 2, 2)
    conv[:, 1] = 1.0  # channel 0 silent, channel 1 always 1: E|h| = (0, 1), mean 0.5
    torch.testing.assert_close(metrics.dormant_scores(conv, dim=1), torch.tensor([0.0, 2.0]))
    assert metrics.dormant_scores(torch.zeros(3, 4)).tolist() == [0.0] * 4


def test_init_bounds_recover_the_uniform_initialisers_bound() -> None:
    layer = nn.Linear(400, 300)  # torch's default: weight and bias U(−1/√400, 1/√400)
    bounds = init_bounds(dict(layer.named_parameters()))
    assert bounds["weight"].item() == pytest.approx(1 / math.sqrt(400), rel=0.01)
    assert bounds["bias"].item() == pytest.approx(1 / math.sqrt(400), rel=0.1)
    assert init_bounds({"zeros": torch.zeros(5)})["zeros"].item() == 0.0


def test_hidden_units_pair_each_gate_with_its_layers_and_a_conv_with_its_flattened_block() -> None:
    units = hidden_units(CNN(Parts("redo", seed=0)))
    assert [(u.incoming, u.outgoing, u.units, u.group, u.dim) for u in units] == [
        ("conv", "fc", 3, 16, 1),
        ("fc", "out", 5, 1, -1),
    ]


def test_l2_init_gradient_is_the_literal_objectives() -> None:
    cfg = Common(method="l2_init", gamma=0.3)
    prepared = prepare(cfg, mlp, seed=5)
    with seeded_init(5):
        start = mlp(Parts("vanilla", seed=5))
    moved = {n: p.detach() + 0.1 * torch.randn_like(p) for n, p in prepared.model.named_parameters()}
    with torch.no_grad():
        for name, p in prepared.model.named_parameters():
            p.copy_(moved[name])
    x = torch.randn(8, 4)
    prepared.loss(prepared.model(x).square().mean()).backward()
    plain = mlp(Parts("vanilla", seed=5))
    plain.load_state_dict(moved)
    literal = plain(x).square().mean() + 0.3 * sum(
        ((p - s.detach()) ** 2).sum() for p, s in zip(plain.parameters(), start.parameters())
    )
    literal.backward()
    for (name, got), want in zip(prepared.model.named_parameters(), plain.parameters()):
        torch.testing.assert_close(got.grad, want.grad, msg=name)


def test_shrink_perturb_step_is_the_literal_update_with_noise_from_the_init_distribution() -> None:
    with seeded_init(2):
        model = mlp(Parts("vanilla", seed=2))
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    method = ShrinkPerturb(dict(model.named_parameters()), shrink=0.2, perturb=0.5, seeds=2)
    method.step_()
    method.step_()
    # by hand: the same draws, in parameter order, step after step
    gen = generator(2, "shrink_perturb", "noise")
    expected = {n: v.clone() for n, v in start.items()}
    for _ in range(2):
        for name in expected:
            b = math.sqrt(3.0) * start[name].double().std(unbiased=False).item()
            eps = (torch.rand(tuple(expected[name].shape), generator=gen) * 2 - 1) * b
            expected[name] = 0.8 * expected[name] + 0.5 * eps
    for name, value in model.named_parameters():
        torch.testing.assert_close(value.detach(), expected[name], msg=name)
    for shrink, perturb in ((-0.1, 0.1), (1.0, 0.1), (0.1, -0.01)):  # θ ← (1 − shrink)θ + perturb·ε: shrink in [0, 1)
        with pytest.raises(ValueError, match="shrink" if perturb >= 0 else "perturb"):
            ShrinkPerturb(dict(model.named_parameters()), shrink=shrink, perturb=perturb, seeds=0)
    ShrinkPerturb(dict(model.named_parameters()), shrink=0.0, perturb=0.0, seeds=0)  # both ends allowed: a no-op


def test_redo_recycles_exactly_the_dormant_units_and_their_adam_moments() -> None:
    torch.manual_seed(0)
    model = mlp(Parts("redo", seed=1))
    with torch.no_grad():
        model[0].bias[[1, 4]] = -100.0  # units 1 and 4 of layer 0 never fire: score 0
    params = dict(model.named_parameters())
    redo = ReDo(model, params, tau=0.0, every=2, seeds=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(64, 4)
    model(x).square().mean().backward()
    optimizer.step()
    before = {n: p.detach().clone() for n, p in params.items()}
    moments = {n: {k: v.clone() for k, v in optimizer.state[p].items()} for n, p in params.items()}
    assert redo.step_(optimizer, lambda k: (model, x)) == 0  # not yet due
    dormant = {"1": metrics.dormant_scores(torch.relu(model[0](x))) <= 0.0}
    dormant["3"] = metrics.dormant_scores(torch.relu(model[2](torch.relu(model[0](x))))) <= 0.0
    assert dormant["1"].tolist() == [False, True, False, False, True, False]
    recycled = redo.step_(optimizer, lambda k: (model, x))
    assert recycled == int(dormant["1"].sum() + dormant["3"].sum())
    rows = dormant["1"]
    bound = math.sqrt(3.0) * before["0.weight"].double().std(unbiased=False).item()  # measured at construction
    after = {n: p.detach() for n, p in params.items()}
    torch.testing.assert_close(after["0.weight"][~rows], before["0.weight"][~rows])  # live units untouched
    assert not torch.equal(after["0.weight"][rows], before["0.weight"][rows])
    assert after["0.weight"][rows].abs().max() <= bound
    assert (after["2.weight"][:, rows] == 0).all()  # outgoing weights zeroed
    for n in ("0.weight", "0.bias"):
        assert (optimizer.state[params[n]]["exp_avg"][rows] == 0).all()
        assert (optimizer.state[params[n]]["exp_avg_sq"][rows] == 0).all()
        torch.testing.assert_close(optimizer.state[params[n]]["exp_avg"][~rows], moments[n]["exp_avg"][~rows])
    assert (optimizer.state[params["2.weight"]]["exp_avg"][:, rows] == 0).all()


def test_redo_on_a_conv_zeroes_the_channels_flattened_block_of_the_next_linear() -> None:
    model = CNN(Parts("redo", seed=0))
    with torch.no_grad():
        model.conv.bias[1] = -100.0
    redo = ReDo(model, dict(model.named_parameters()), tau=0.0, every=1, seeds=0)
    redo.step_(None, lambda k: (model, torch.randn(5, 1, 6, 6)))
    assert (model.fc.weight[:, 16:32] == 0).all() and (model.fc.weight[:, :16] != 0).all()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("shrink", -0.1, "[0, 1)"), ("perturb", -1.0, ">= 0"), ("redo_tau", -0.5, ">= 0"), ("redo_every", 0, ">= 1")],
)
def test_bad_plasticity_knobs_are_refused_naming_the_key(key: str, value: float, expected: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}: expected .*{re.escape(expected)}"):
        build_config(Common, {"method": "shrink_perturb", key: value})
