"""The one place that turns ``cfg.method`` into what a training loop needs.

A benchmark builds its model through :func:`prepare` (one model) or
:class:`~syre_tune.benchmarks._population.Population` (K members as one) and never branches on
``cfg.method`` itself. Its model builder receives :class:`Parts`, which hands out the
nonlinearities and dropout layers the method asks for; the rest is a wrapper around the model:

============  =====================================================================================
method        what the training loop gets
============  =====================================================================================
vanilla       the plain model
weight_decay  ``optimizer_kwargs = {"weight_decay": 2γ}``: coupled L2, the gradient of γ‖θ‖² (with
              ``params`` selecting some tensors: γ‖θ‖² of those in ``loss`` instead)
syre          ``Syre(σ0, γ, σ_D, seed)`` attached in anchor form; ``loss`` adds γ Σ D (φ − θ0)² (Eq. 7)
w_fix         ``WFix(φ, κ, seed)``: a seeded fraction φ of each weight matrix fixed at N(0, κ²)
dropout       ``Parts.dropout()`` is ``nn.Dropout(p)`` (identity for every other method)
sigma_asym    ``Parts.activation`` is σ-Asym: sigmoid(C x) ⊙ x with a fixed seeded C per layer
l2_init       ``Syre(0, γ, theta0="init")``: ``loss`` adds γ‖φ − θ_init‖² (Kumar et al. 2023's L2 Init)
shrink_perturb after every step θ ← (1 − shrink)·θ + perturb·ε (:class:`~syre_tune.plasticity.ShrinkPerturb`)
redo          every ``redo_every`` steps, τ-dormant units recycled (:class:`~syre_tune.plasticity.ReDo`)
============  =====================================================================================

A loop takes its optimisation step with :meth:`Prepared.step_` (backward of ``loss``, the optimizer
step, then whatever the method does after it), and keeps :meth:`Prepared.state_dict` (the method's
own random state) in its checkpoint.

Every model is initialised under :func:`seeded_init`, so a member of a population and the same
seed trained alone start from the same weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from syre_tune._core import ParamSelector, SigmaAsym, Syre, WFix, _select
from syre_tune._random import generator
from syre_tune.plasticity import UNIT_ATTR, ReDo, ShrinkPerturb

__all__ = ["ACTIVATIONS", "Parts", "Prepared", "prepare", "seeded_init"]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


@contextlib.contextmanager
def seeded_init(seed: int, name: str = "model") -> Iterator[None]:
    """Run a model's construction with torch's global RNG seeded from (seed, name), then put the
    global RNG back: initial weights depend on the seed alone, not on what ran before."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(generator(seed, name, "init").initial_seed())
        yield


class Parts:
    """What a model builder asks the method layer for: its nonlinearities and dropout layers.

    ``parts.activation("relu", width, "layer1")`` is ``nn.ReLU()``, or under ``sigma_asym`` the
    σ-Asym gate with its own fixed C for that layer (seeded by (seed, name)); ``parts.dropout()``
    is ``nn.Dropout(p)`` under ``dropout`` and ``nn.Identity()`` otherwise.
    """

    def __init__(self, method: str, *, seed: int, dropout: float = 0.0) -> None:
        self.method, self.seed, self.rate = method, seed, dropout

    def activation(self, kind: str, width: int, name: str, *, dim: int = -1) -> nn.Module:
        """The nonlinearity of a layer of ``width`` units (``dim``: where they are, 1 for a conv's
        channels)."""
        if kind not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {kind!r}")
        if self.method == "sigma_asym":
            module: nn.Module = SigmaAsym(width, seed=self.seed, name=name, dim=dim)
        else:
            module = ACTIVATIONS[kind]()
        setattr(module, UNIT_ATTR, name)  # the layer it gates, for ReDo and feature capture
        return module

    def dropout(self) -> nn.Module:
        return nn.Dropout(self.rate) if self.method == "dropout" and self.rate > 0 else nn.Identity()


@dataclass
class Prepared:
    """A model with its method applied, and what the loop adds: ``loss(task_loss)`` (the penalty)
    and ``optimizer_kwargs`` (the optimizer's weight decay). Syre is attached in anchor form, so
    the model's parameters are already the effective θ + θ0."""

    method: str
    model: nn.Module
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    syre: Syre | None = None
    wfix: WFix | None = None
    shrink_perturb: ShrinkPerturb | None = None
    redo: ReDo | None = None

    def loss(self, task_loss: torch.Tensor) -> torch.Tensor:
        """The training objective: task loss + γ Σ D θ² under syre (γ‖φ − θ_init‖² under l2_init),
        the task loss otherwise."""
        return task_loss + self.syre.penalty(self.model) if self.syre is not None else task_loss

    def step_(self, optimizer: torch.optim.Optimizer, task_loss: torch.Tensor, probe: Any = None) -> torch.Tensor:
        """One optimisation step: backward of :meth:`loss`, the optimizer step, then the method's
        after-step (Shrink & Perturb; ReDo every ``redo_every`` steps, scored on the model's
        forward pass of ``probe``, a batch of inputs). Returns the objective."""
        objective = self.loss(task_loss)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        if self.shrink_perturb is not None:
            self.shrink_perturb.step_()
        if self.redo is not None:
            if probe is None:
                raise ValueError("redo: step_ needs a probe batch to score the units on")
            self.redo.step_(optimizer, lambda _k: (self.model, probe))
        return objective

    def state_dict(self) -> dict[str, Any]:
        """The method's own state (generators, step counter), tensors and numbers only."""
        state = {}
        for name in ("shrink_perturb", "redo"):
            if getattr(self, name) is not None:
                state[name] = getattr(self, name).state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, saved in state.items():
            getattr(self, name).load_state_dict(saved)


def prepare(
    cfg: Any,
    build: Callable[[Parts], nn.Module],
    *,
    seed: int,
    params: ParamSelector = None,
    relative: bool = True,
) -> Prepared:
    """Build the model of one seed and apply ``cfg.method`` to it (on ``cfg.device``).

    ``cfg`` has the :class:`~syre_tune.benchmarks._common.Common` fields (method, sigma0,
    sigma_d, gamma, phi, kappa, dropout, device); ``params`` selects the tensors syre acts on
    (default: all trainable ones)."""
    parts = Parts(cfg.method, seed=seed, dropout=cfg.dropout)
    with seeded_init(seed):
        model = build(parts).to(cfg.device)
    prepared = Prepared(cfg.method, model)
    if cfg.method == "weight_decay" and params is None:
        prepared.optimizer_kwargs["weight_decay"] = 2.0 * cfg.gamma  # ∇ γ‖θ‖² = 2γθ
    elif cfg.method == "weight_decay":  # on some parameters only: the penalty γ‖θ‖² = γ‖θ − 0‖² in the loss
        zeros = {name: torch.zeros_like(p) for name, p in _select(model, params, "params")}
        prepared.syre = Syre(0.0, cfg.gamma, seed=seed, params=params, mode="anchor", theta0=zeros)
        prepared.syre.attach(model)
    elif cfg.method == "syre":
        syre = Syre(
            cfg.sigma0, cfg.gamma, sigma_d=cfg.sigma_d, seed=seed, relative=relative, params=params, mode="anchor"
        )
        prepared.syre = syre
        syre.attach(model)
    elif cfg.method == "l2_init":
        prepared.syre = Syre(0.0, cfg.gamma, seed=seed, params=params, mode="anchor", theta0="init")
        prepared.syre.attach(model)
    elif cfg.method == "w_fix":
        prepared.wfix = WFix(cfg.phi, cfg.kappa, seed=seed)
        prepared.wfix.attach(model)
    elif cfg.method in ("shrink_perturb", "redo"):
        chosen = dict(_select(model, params, "params"))
        if cfg.method == "shrink_perturb":
            prepared.shrink_perturb = ShrinkPerturb(chosen, shrink=cfg.shrink, perturb=cfg.perturb, seeds=seed)
        else:
            prepared.redo = ReDo(
                model, dict(model.named_parameters()), tau=cfg.redo_tau, every=cfg.redo_every, seeds=seed
            )
    return prepared
