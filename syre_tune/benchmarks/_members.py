"""K models of one architecture trained side by side, one per seed: for networks a vectorised
:class:`~syre_tune.benchmarks._population.Population` does not suit (BatchNorm's running statistics,
large convnets whose one step already fills the device).

Each member is :func:`~syre_tune.benchmarks._methods.prepare` d on its own seed (initial weights,
θ0, D, the method's generators) with its own optimizer; a benchmark steps them in turn and reports
one value per seed. Its state (models, optimizers, methods) is one ``state_dict`` for
:class:`~syre_tune.benchmarks._loop.Loop`::

    members = Members(cfg, build, cfg.seeds, optimizer=lambda params, **kw: torch.optim.SGD(params, lr=0.1, **kw))
    for member in members:
        member.step_(x, loss_fn)   # or member.prepared / member.optimizer directly
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from syre_tune._core import ParamSelector
from syre_tune.benchmarks._methods import Parts, Prepared, prepare

__all__ = ["Member", "Members"]


@dataclass
class Member:
    """One seed's model (method applied) and optimizer."""

    seed: int
    prepared: Prepared
    optimizer: torch.optim.Optimizer

    @property
    def model(self) -> nn.Module:
        return self.prepared.model

    def step_(self, task_loss: torch.Tensor, probe: Any = None) -> torch.Tensor:
        """One optimisation step of the objective (task loss + the method's penalty; then the
        method's after-step). Returns the objective."""
        return self.prepared.step_(self.optimizer, task_loss, probe=probe)


class Members:
    """One :class:`Member` per seed of ``seeds``.

    Args:
        cfg: a config with the Common fields (method and its knobs, device).
        build: the model builder (see :class:`~syre_tune.benchmarks._methods.Parts`).
        seeds: one per member.
        optimizer: ``optimizer(parameters, **kwargs)`` → a torch optimizer; ``kwargs`` are the
            method's (``weight_decay=2γ`` for weight_decay), so pass them on.
        params: the tensors the method acts on (default all; see :class:`~syre_tune.Syre`).
        relative: σ0 in units of 1/√fan_in.
    """

    def __init__(
        self,
        cfg: Any,
        build: Callable[[Parts], nn.Module],
        seeds: Sequence[int],
        *,
        optimizer: Callable[..., torch.optim.Optimizer],
        params: ParamSelector = None,
        relative: bool = True,
    ) -> None:
        self.members: list[Member] = []
        for seed in seeds:
            prepared = prepare(cfg, build, seed=int(seed), params=params, relative=relative)
            self.members.append(
                Member(int(seed), prepared, optimizer(prepared.model.parameters(), **prepared.optimizer_kwargs))
            )

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, k: int) -> Member:
        return self.members[k]

    def train(self, mode: bool = True) -> Members:
        for member in self.members:
            member.model.train(mode)
        return self

    def eval(self) -> Members:
        return self.train(False)

    # --- checkpoint state: tensors, numbers and lists only
    def state_dict(self) -> dict[str, list]:
        return {
            "models": [m.model.state_dict() for m in self.members],
            "optimizers": [m.optimizer.state_dict() for m in self.members],
            "methods": [m.prepared.state_dict() for m in self.members],
        }

    def load_state_dict(self, state: dict[str, list]) -> None:
        for member, model, optimizer, method in zip(
            self.members, state["models"], state["optimizers"], state["methods"], strict=True
        ):
            member.model.load_state_dict(model)
            member.optimizer.load_state_dict(optimizer)
            member.prepared.load_state_dict(method)
