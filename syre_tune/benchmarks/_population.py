"""K small networks of one architecture trained as one batched model (a vectorised population).

Each member k has its own seed (initial weights, θ0, D, W-fix mask, σ-Asym gates, batch order)
and may have its own σ0 and γ; the parameters are stacked (K, ...) leaf tensors
(``torch.func.stack_module_state``) and the forward pass is ``torch.func.vmap`` over
``torch.func.functional_call``. The loss is the *sum* of the members' losses, so the gradient with
respect to member k's slice is exactly member k's own gradient, and an elementwise optimizer (SGD,
Adam) on the stacks takes every member's own step: a member equals the same seed trained alone
(tested). One backward pass trains all K, which is what makes ``seeds_per_trial`` seeds cost
about one training run.

The method (``cfg.method``) is applied to the stacks with the functional core:

- syre: anchor form, φ = init + θ0 with θ0 (K, ...) drawn per member seed; the loss adds
  γ_k Σ D (φ − θ0)² per member (Eq. 7).
- weight_decay: the loss adds γ_k Σ φ² per member (the same coupled L2 as ``weight_decay=2γ``).
- w_fix: each member's seeded fraction φ of every weight matrix held at N(0, κ²), gradients masked.
- sigma_asym: each member built with its own fixed gates (buffers, stacked).
- l2_init: the loss adds γ_k Σ (φ − θ_init)² per member, θ_init each member's own initial weights.
- shrink_perturb, redo: :mod:`syre_tune.plasticity` on the stacks, each member's draws from its
  own seed; ReDo scores member k on its own batch (``step_(..., probe=inputs)``).
- vanilla: nothing. dropout is not vectorised (per-member masks under vmap differ from a lone
  run's); benchmarks that offer it run one model per seed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from syre_tune import functional
from syre_tune._random import seeded_mask, seeded_normal
from syre_tune.benchmarks._methods import Parts, seeded_init
from syre_tune.plasticity import ReDo, ShrinkPerturb

__all__ = ["POPULATION_METHODS", "Population"]

POPULATION_METHODS = ("vanilla", "weight_decay", "syre", "w_fix", "sigma_asym", "l2_init", "shrink_perturb", "redo")


class Population:
    """K members of ``build(parts)``, one per seed, with ``cfg.method`` applied per member.

    Args:
        cfg: a config with the Common fields (method, sigma0, sigma_d, gamma, phi, kappa, device).
        build: the model builder (see :class:`~syre_tune.benchmarks._methods.Parts`).
        seeds: one seed per member.
        sigma0, gamma: per-member values (K,) overriding ``cfg.sigma0`` / ``cfg.gamma``.
        params: names of the parameters syre / weight decay act on (default: all).
        relative: σ0 in units of 1/√fan_in (the paper's convention).
    """

    def __init__(
        self,
        cfg: Any,
        build: Callable[[Parts], nn.Module],
        seeds: Sequence[int],
        *,
        sigma0: functional.PerMember | None = None,
        gamma: functional.PerMember | None = None,
        params: Sequence[str] | None = None,
        relative: bool = True,
    ) -> None:
        if cfg.method not in POPULATION_METHODS:
            raise ValueError(f"a population runs {list(POPULATION_METHODS)}, got method={cfg.method!r}")
        self.method, self.seeds, self.device = cfg.method, tuple(int(s) for s in seeds), torch.device(cfg.device)
        self.build = build
        members = []
        for seed in self.seeds:
            with seeded_init(seed):
                members.append(build(Parts(cfg.method, seed=seed, dropout=0.0)).to(self.device))
        stacked, buffers = torch.func.stack_module_state(members)
        self.params: dict[str, torch.Tensor] = {name: p.detach().requires_grad_(True) for name, p in stacked.items()}
        self.buffers: dict[str, torch.Tensor] = buffers
        self.base = copy.deepcopy(members[0]).to("meta")  # the architecture only; no weights
        count = len(self.seeds)
        self.gamma = functional.member_values(cfg.gamma if gamma is None else gamma, count, device=self.device)
        chosen = list(self.params) if params is None else list(params)
        shapes = {name: tuple(self.params[name].shape[1:]) for name in chosen}
        dtype = next(iter(self.params.values())).dtype
        self.theta0: dict[str, torch.Tensor] | None = None
        self.diag: dict[str, torch.Tensor] | None = None
        self.penalised = chosen if cfg.method in ("syre", "weight_decay", "l2_init") else []
        if cfg.method == "l2_init":  # anchor at each member's own initial weights
            self.theta0 = {name: self.params[name].detach().clone() for name in chosen}
        self.shrink_perturb = self.redo = None
        if cfg.method == "shrink_perturb":
            picked = {name: self.params[name] for name in chosen}
            self.shrink_perturb = ShrinkPerturb(picked, shrink=cfg.shrink, perturb=cfg.perturb, seeds=self.seeds)
        if cfg.method == "redo":
            self.redo = ReDo(self.base, self.params, tau=cfg.redo_tau, every=cfg.redo_every, seeds=self.seeds)
        if cfg.method == "syre":
            sigma = cfg.sigma0 if sigma0 is None else sigma0
            draws = {"seed": self.seeds, "device": self.device, "dtype": dtype}
            self.theta0 = functional.theta0(shapes, sigma, relative=relative, **draws)
            self.diag = functional.diag(shapes, cfg.sigma_d, **draws)
            with torch.no_grad():
                for name, theta0 in self.theta0.items():
                    self.params[name].add_(theta0)  # φ = init + θ0: the effective start, as Syre.attach
        self.fixed: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if cfg.method == "w_fix":  # as WFix.attach: weight matrices only, masks and values per seed
            for name, stack in self.params.items():
                shape = tuple(stack.shape[1:])
                if len(shape) < 2:
                    continue
                mask = torch.stack([seeded_mask(shape, cfg.phi, seed=s, name=name) for s in self.seeds])
                values = torch.stack(
                    [seeded_normal(shape, cfg.kappa, seed=s, name=name, dtype=dtype) for s in self.seeds]
                )
                self.fixed[name] = (mask.to(self.device), values.to(self.device))
            self.refix_()

    def __len__(self) -> int:
        return len(self.seeds)

    def parameters(self) -> list[torch.Tensor]:
        """The stacked leaf tensors, for an optimizer."""
        return list(self.params.values())

    def __call__(self, x: torch.Tensor, *, shared: bool = False, **kwargs: Any) -> Any:
        """Every member's forward pass: ``x`` (K, B, ...) one batch per member, or (B, ...) one
        batch for all with ``shared``. Returns the model's output with a leading K."""

        def one(params: dict, buffers: dict, inputs: torch.Tensor) -> Any:
            return torch.func.functional_call(self.base, (params, buffers), (inputs,), kwargs)

        return torch.func.vmap(one, in_dims=(0, 0, None if shared else 0))(self.params, self.buffers, x)

    def penalty(self) -> torch.Tensor:
        """(K,): γ_k Σ D (φ − θ0)² for syre, γ_k Σ (φ − θ_init)² for l2_init, γ_k Σ φ² for
        weight_decay, zeros otherwise."""
        if not self.penalised:
            return torch.zeros(len(self), device=self.device)
        chosen = {name: self.params[name] for name in self.penalised}
        theta = functional.offsets(chosen, self.theta0)
        return functional.penalty(theta, self.gamma, self.diag, population=True)

    def loss(self, task_losses: torch.Tensor) -> torch.Tensor:
        """The scalar to backpropagate: Σ_k (task loss_k + penalty_k), so each member's gradient is
        its own. ``task_losses`` is (K,)."""
        return (task_losses + self.penalty()).sum()

    def step_(
        self, optimizer: torch.optim.Optimizer, task_losses: torch.Tensor, probe: torch.Tensor | None = None
    ) -> None:
        """One optimisation step of every member: backpropagate :meth:`loss` of ``task_losses`` (K,),
        keep W-fix's entries fixed (gradients masked, values put back after the step), then
        Shrink & Perturb, or ReDo scored on member k's inputs ``probe[k]`` (``probe``: (K, B, ...))."""
        optimizer.zero_grad(set_to_none=True)
        self.loss(task_losses).backward()
        self.mask_grads_()
        optimizer.step()
        self.refix_()
        if self.shrink_perturb is not None:
            self.shrink_perturb.step_()
        if self.redo is not None:
            if probe is None:
                raise ValueError("redo: step_ needs the members' inputs (probe) to score the units on")
            self.redo.step_(optimizer, lambda k: (self.member(k, self.build), probe[k]))

    def mask_grads_(self) -> None:
        """W-fix: zero the gradients of the fixed entries (call after backward)."""
        for name, (mask, _) in self.fixed.items():
            grad = self.params[name].grad
            if grad is not None:
                grad.masked_fill_(mask, 0.0)

    @torch.no_grad()
    def refix_(self) -> None:
        """W-fix: put the fixed entries back (call after the optimizer step; an optimizer's own
        decay would otherwise move them)."""
        for name, (mask, values) in self.fixed.items():
            self.params[name].copy_(torch.where(mask, values, self.params[name]))

    def effective(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's parameters as the forward pass uses them (θ + θ0 for syre)."""
        return {name: p[k].detach() for name, p in self.params.items()}

    def member(self, k: int, build: Callable[[Parts], nn.Module]) -> nn.Module:
        """Member k as a plain module (its effective parameters and its buffers)."""
        with seeded_init(self.seeds[k]):
            module = build(Parts(self.method, seed=self.seeds[k])).to(self.device)
        state = {**self.effective(k), **{name: b[k] for name, b in self.buffers.items()}}
        module.load_state_dict(state)
        return module

    # --- checkpoint state: tensors only (torch.load(weights_only=True))
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {name: p.detach() for name, p in self.params.items()}
        for name in ("shrink_perturb", "redo"):  # the method's own random state
            if getattr(self, name) is not None:
                state[f"method.{name}"] = getattr(self, name).state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(state[name])
        for name in ("shrink_perturb", "redo"):
            if getattr(self, name) is not None:
                getattr(self, name).load_state_dict(state[f"method.{name}"])
