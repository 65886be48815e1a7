"""The seams the vision benchmarks share: per-seed Members, bf16 autocast that keeps syre's θ0 in
fp32, and the load-time check of ``params`` patterns."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from syre_tune.benchmarks._common import ConfigError
from syre_tune.benchmarks._members import Members
from syre_tune.benchmarks._methods import Parts, prepare
from syre_tune.benchmarks._vision import VisionConfig, autocast, check_vision


def net(parts: Parts) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), parts.activation("relu", 4, "0", dim=1),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 3))  # fmt: skip


def adam(params, **kwargs):
    return torch.optim.Adam(params, lr=1e-2, **kwargs)


def train(members: Members, steps: int, gen: torch.Generator) -> None:
    for _ in range(steps):
        x = torch.randn(5, 3, 8, 8, generator=gen)
        for member in members:
            member.step_(member.model(x).square().mean(), probe=x)


@pytest.mark.parametrize("method", ["syre", "shrink_perturb", "redo"])
def test_members_state_round_trip_continues_identically(method: str) -> None:
    cfg = VisionConfig(method=method, sigma0=0.5, gamma=0.01, redo_every=2, redo_tau=0.5, seeds=(1, 2))
    a = Members(cfg, net, cfg.seeds, optimizer=adam)
    train(a, 3, torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b = Members(cfg, net, cfg.seeds, optimizer=adam)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    train(a, 3, torch.Generator().manual_seed(1))
    train(b, 3, torch.Generator().manual_seed(1))
    for ma, mb in zip(a, b):
        for (name, pa), pb in zip(ma.model.state_dict().items(), mb.model.state_dict().values()):
            assert torch.equal(pa, pb), name


def test_member_is_the_seed_prepared_alone() -> None:
    cfg = VisionConfig(method="syre", sigma0=0.5, gamma=0.01, seeds=(7, 8))
    members = Members(cfg, net, cfg.seeds, optimizer=adam)
    alone = prepare(cfg, net, seed=8)
    for got, want in zip(members[1].model.state_dict().values(), alone.model.state_dict().values()):
        assert torch.equal(got, want)
    assert not torch.equal(members[0].model[0].weight, members[1].model[0].weight)


def test_bf16_autocast_keeps_parameters_theta0_and_the_penalty_in_fp32() -> None:
    cfg = VisionConfig(method="syre", sigma0=1e-3, gamma=0.1, precision="bf16")
    prepared = prepare(cfg, net, seed=0)
    theta0 = prepared.syre.theta0(prepared.model)
    x = torch.randn(4, 3, 8, 8)
    with autocast(cfg):
        out = prepared.model(x)
        assert out.dtype == torch.bfloat16  # the products ran in bf16
        loss = prepared.loss(out.float().square().mean())
    loss.backward()
    for name, p in prepared.model.named_parameters():
        assert p.dtype == torch.float32 and p.grad.dtype == torch.float32, name
    assert all(t.dtype == torch.float32 for t in theta0.values())
    # why it matters: θ0 here (std 1e-3/√27) is far below bf16's rounding of the weights, so a bf16 φ
    # would hold no trace of it (the parameters above are fp32)
    weight = prepared.model[0].weight.detach()
    rounding = (weight.to(torch.bfloat16).float() - weight).abs().max()
    assert rounding > theta0["0.weight"].abs().median()


def test_params_patterns_that_select_nothing_are_refused_at_load() -> None:
    check_vision(VisionConfig(dataset="synthetic_cifar10", params=("0.*", "4.weight")), net)
    with pytest.raises(ConfigError, match=r"params: expected patterns that each select a parameter \('head\.\*'"):
        check_vision(VisionConfig(dataset="synthetic_cifar10", params=("0.*", "head.*")), net)
