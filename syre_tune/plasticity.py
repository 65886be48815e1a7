"""Plasticity baselines beyond the paper: Shrink & Perturb and ReDo (pure PyTorch, no Ray).

The third, L2 Init (Kumar et al. 2023: λ‖θ − θ_init‖²), is syre's anchor form with θ0 := the
network's own initial parameters and σ0 = 0: ``Syre(0.0, λ, theta0="init", mode="anchor")``.

- :class:`ShrinkPerturb` (Ash & Adams 2020, used per step in continual learning by Kumar et al.):
  after every optimizer step ``θ ← (1 − shrink)·θ + perturb·ε`` with ε drawn from the
  initialisation distribution. That distribution is taken per tensor as U(−b, b) with
  b = √3 · std(initial values): exactly the initialiser's for the uniform initialisers used here
  (torch's default Linear/Conv init, LeCun-uniform); a tensor initialised to zeros (a bias under
  LeCun init, a log-std) gets no noise, as its initialiser would give none.
- :class:`ReDo` (Sokar et al. 2023): every ``every`` steps, the τ-dormant units of each hidden
  layer (score s_i = E|h_i| / mean_j E|h_j| ≤ τ, :func:`syre_tune.metrics.dormant_scores`) get fresh
  incoming weights and biases (from the same initialisation distribution), zero outgoing weights,
  and zeroed optimizer moments for all those entries (Adam's exp_avg and exp_avg_sq, SGD's momentum).

Both work on one model or on a vectorised population (parameters stacked (K, ...) with one seed per
member): every random draw comes from a generator keyed by (member seed, method), so a member of a
population draws what the same seed draws alone. Their state (the generators) is a
``state_dict`` of tensors, for exact resume.

Which units ReDo sees: the hidden nonlinearities a model builder took from
:class:`~syre_tune.benchmarks._methods.Parts` carry the name of the layer whose outputs they gate
(``parts.activation("relu", 256, "policy.0")``, attribute :data:`UNIT_ATTR`); the outgoing layer is
the next Linear/Conv after it in the model's definition order. A Conv feeding a Linear through a
flatten is handled (each channel owns a contiguous block of the Linear's inputs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from syre_tune import metrics
from syre_tune._random import SeedGenerators

__all__ = ["UNIT_ATTR", "ReDo", "ShrinkPerturb", "Unit", "hidden_units", "init_bounds"]

UNIT_ATTR = "syre_unit"
"""Attribute a hidden nonlinearity carries: the name of the layer whose outputs it gates."""

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def init_bounds(params: Mapping[str, torch.Tensor], *, population: bool = False) -> dict[str, torch.Tensor]:
    """b = √3 · std of each tensor's values (population: per member over the rest, shape (K,)):
    the bound of the uniform distribution with that std. Population std is taken over all entries
    (not unbiased), so a 1-element or all-zero tensor gets b = 0."""
    bounds = {}
    for name, value in params.items():
        flat = value.detach().reshape(value.shape[0], -1) if population else value.detach().reshape(1, -1)
        std = flat.double().std(dim=1, unbiased=False)
        bound = (math.sqrt(3.0) * std).to(value.dtype)
        bounds[name] = bound if population else bound[0]
    return bounds


def _uniform(shape: tuple[int, ...], bound: torch.Tensor, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """U(−bound, bound) of ``shape`` drawn on the CPU from ``gen`` (same bits on every device)."""
    values = torch.rand(shape, generator=gen, dtype=torch.float32).mul_(2.0).sub_(1.0)
    return values.to(device=like.device, dtype=like.dtype) * bound.to(like.device)


def _seeds(seeds: int | Sequence[int]) -> tuple[tuple[int, ...], bool]:
    if isinstance(seeds, int):
        return (seeds,), False
    return tuple(int(s) for s in seeds), True


def _members(params: Mapping[str, torch.Tensor], population: bool, k: int) -> dict[str, torch.Tensor]:
    """Member k's views of the parameters (all of them for a single model)."""
    return {name: (p[k] if population else p) for name, p in params.items()}


class ShrinkPerturb:
    """θ ← (1 − shrink)·θ + perturb·ε after every optimizer step (Ash & Adams 2020).

    Args:
        params: name → parameter (stacked (K, ...) for a population), at their initial values:
            the noise bounds are measured from them here.
        shrink: 1 − p in Kumar et al.'s θ ← pθ + σε; in [0, 1) (Kumar et al.: 1e-3).
        perturb: σ, the scale of ε (Kumar et al.: 1e-2); >= 0.
        seeds: one seed (a single model) or one per member (a population).
    """

    def __init__(
        self, params: Mapping[str, torch.Tensor], *, shrink: float, perturb: float, seeds: int | Sequence[int]
    ) -> None:
        if not 0.0 <= shrink < 1.0:
            raise ValueError(f"shrink must be in [0, 1), got {shrink=}")
        if perturb < 0:
            raise ValueError(f"perturb must be >= 0, got {perturb=}")
        self.params, self.shrink, self.perturb = dict(params), float(shrink), float(perturb)
        self.seeds, self.population = _seeds(seeds)
        self.bounds = init_bounds(self.params, population=self.population)
        self.generators = SeedGenerators(self.seeds, "shrink_perturb", "noise")

    @torch.no_grad()
    def step_(self) -> None:
        """One shrink-and-perturb of every parameter (call after the optimizer step)."""
        for k, gen in enumerate(self.generators):
            for name, value in _members(self.params, self.population, k).items():
                bound = self.bounds[name][k] if self.population else self.bounds[name]
                noise = _uniform(tuple(value.shape), bound, gen, value)
                value.mul_(1.0 - self.shrink).add_(noise, alpha=self.perturb)

    def state_dict(self) -> dict[str, Any]:
        return self.generators.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generators.load_state_dict(state)


@dataclass(frozen=True)
class Unit:
    """A hidden layer ReDo can reset: its nonlinearity (module path), the layer producing its units
    (``incoming``), the layer reading them (``outgoing``), and how many of the outgoing layer's
    inputs each unit owns (``group``: 1, or H·W for a conv feeding a Linear through a flatten)."""

    activation: str
    incoming: str
    outgoing: str
    units: int
    group: int
    dim: int  # where the units are in the activation's output: -1 (Linear) or 1 (Conv)


def hidden_units(model: nn.Module) -> list[Unit]:
    """The hidden layers of ``model``: every module tagged with :data:`UNIT_ATTR`, paired with the
    layers on either side (see the module docstring)."""
    modules = dict(model.named_modules())
    layers = [name for name, module in modules.items() if isinstance(module, _LAYERS)]
    found = []
    for path, module in modules.items():
        incoming = getattr(module, UNIT_ATTR, None)
        if incoming is None:
            continue
        if incoming not in layers:
            raise ValueError(f"{path}: gates {incoming!r}, which is not a Linear/Conv layer of the model ({layers})")
        position = layers.index(incoming)
        if position + 1 == len(layers):
            raise ValueError(f"{path}: the layer {incoming!r} it gates is the model's last; it has no outgoing layer")
        outgoing = layers[position + 1]
        source, target = modules[incoming], modules[outgoing]
        units = source.out_features if isinstance(source, nn.Linear) else source.out_channels
        inputs = target.in_features if isinstance(target, nn.Linear) else target.in_channels
        if inputs % units:
            raise ValueError(f"{outgoing!r} reads {inputs} inputs, not a multiple of {incoming!r}'s {units} units")
        dim = -1 if isinstance(source, nn.Linear) else 1
        found.append(Unit(path, incoming, outgoing, units, inputs // units, dim))
    return found


class ReDo:
    """Recycle dormant units every ``every`` optimizer steps (Sokar et al. 2023).

    Args:
        model: the architecture (a member of a population, or the model itself); its hidden units
            are found by :func:`hidden_units`.
        params: name → parameter of that architecture (stacked (K, ...) for a population), at
            their initial values: the re-initialisation bounds are measured from them here.
        tau: a unit is dormant when its score is <= tau (Sokar et al.: 0.025–0.1); >= 0.
        every: steps between two recyclings (F); >= 1.
        seeds: one seed (a single model) or one per member (a population).
    """

    def __init__(
        self,
        model: nn.Module,
        params: Mapping[str, torch.Tensor],
        *,
        tau: float,
        every: int,
        seeds: int | Sequence[int],
    ) -> None:
        if tau < 0:
            raise ValueError(f"tau must be >= 0, got {tau=}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every=}")
        self.units = hidden_units(model)
        if not self.units:
            raise ValueError(f"ReDo: {type(model).__name__} has no hidden layer built with Parts.activation")
        self.params, self.tau, self.every = dict(params), float(tau), int(every)
        self.seeds, self.population = _seeds(seeds)
        incoming = {name: self.params[name] for name in self._incoming_names()}
        self.bounds = init_bounds(incoming, population=self.population)
        self.generators = SeedGenerators(self.seeds, "redo", "reinit")
        self.steps = 0

    def _incoming_names(self) -> Iterator[str]:
        for unit in self.units:
            yield f"{unit.incoming}.weight"
            if f"{unit.incoming}.bias" in self.params:
                yield f"{unit.incoming}.bias"

    def scores(self, module: nn.Module, inputs: Any) -> dict[str, torch.Tensor]:
        """Unit path → (units,) dormancy scores of ``module`` (one member) on a batch of ``inputs``."""
        with torch.no_grad(), metrics.capture(module, [unit.activation for unit in self.units]) as seen:
            module(inputs)
        return {unit.activation: metrics.dormant_scores(seen[unit.activation], unit.dim) for unit in self.units}

    def step_(self, optimizer: torch.optim.Optimizer, probe: Callable[[int], tuple[nn.Module, Any]]) -> int:
        """Count one optimizer step; on every ``every``-th, recycle each member's dormant units.
        ``probe(k)`` gives member k as a plain module and a batch of its inputs (the scores are
        measured on it). Returns the number of units recycled (0 between recyclings)."""
        self.steps += 1
        if self.steps % self.every:
            return 0
        recycled = 0
        for k in range(len(self.seeds)):
            module, inputs = probe(k)
            dormant = {path: score <= self.tau for path, score in self.scores(module, inputs).items()}
            recycled += self.recycle_(k, dormant, optimizer)
        return recycled

    @torch.no_grad()
    def recycle_(self, k: int, dormant: Mapping[str, torch.Tensor], optimizer: torch.optim.Optimizer | None) -> int:
        """Member k (0 for a single model): for each unit path's (units,) boolean mask, fresh
        incoming weights and bias, zero outgoing weights, zero optimizer moments of those entries."""
        gen = self.generators[k]
        masks = {unit.activation: dormant[unit.activation].to(torch.bool) for unit in self.units}
        for unit in self.units:  # first every fresh incoming row, then every zeroed outgoing column:
            rows_of = masks[unit.activation]  # a recycled unit's outgoing weights stay zero even when
            for name in (f"{unit.incoming}.weight", f"{unit.incoming}.bias"):  # the next unit is recycled too
                if name not in self.params:
                    continue
                value = self._member(name, k)
                rows = rows_of.to(value.device).view(-1, *[1] * (value.ndim - 1)).expand_as(value)
                bound = self.bounds[name][k] if self.population else self.bounds[name]
                fresh = _uniform(tuple(value.shape), bound, gen, value)  # drawn whatever the mask: same stream
                value.copy_(torch.where(rows, fresh, value))
                self._zero_moments(optimizer, name, k, rows)
        for unit in self.units:
            name = f"{unit.outgoing}.weight"
            value = self._member(name, k)
            columns = masks[unit.activation].to(value.device).repeat_interleave(unit.group)  # (outgoing inputs,)
            columns = columns.view(1, -1, *[1] * (value.ndim - 2)).expand_as(value)
            value.masked_fill_(columns, 0.0)
            self._zero_moments(optimizer, name, k, columns)
        count = sum(int(mask.sum()) for mask in masks.values())
        return count

    def _member(self, name: str, k: int) -> torch.Tensor:
        return self.params[name][k] if self.population else self.params[name]

    def _zero_moments(self, optimizer: torch.optim.Optimizer | None, name: str, k: int, where: torch.Tensor) -> None:
        """Zero the optimizer's per-entry state (Adam's moments, SGD's momentum) at ``where``."""
        if optimizer is None:
            return
        param = self.params[name]
        for value in optimizer.state.get(param, {}).values():
            if torch.is_tensor(value) and value.shape == param.shape:
                (value[k] if self.population else value).masked_fill_(where, 0.0)

    def state_dict(self) -> dict[str, Any]:
        return {**self.generators.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generators.load_state_dict(state)
        self.steps = int(state["steps"])
