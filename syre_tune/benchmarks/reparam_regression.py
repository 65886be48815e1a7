"""Reparametrised linear regression: dead units (u_i, w_i) → 0 under SGD, W-fix and syre (paper §6.1, Fig. 3 right).

Setup (§6.1 "Reparametrized Linear Regression", Poon & Peyré 2021): the model predicts
(u ⊙ w)ᵀx with u, w, x ∈ R^200, loss ℓ(u, w) = ((u ⊙ w)ᵀx − y)². The rescaling symmetry
(u_i, w_i) → (c u_i, w_i / c) makes u_i = w_i = 0 a low-capacity state: unit i is "dead". Data:
x ~ N(0, I), y = vᵀx + ε with a teacher v ~ N(0, I/d) and ε ~ N(0, ``noise``²); ``train_size``
samples per seed, mini-batch SGD (batches of ``batch_size`` in a seeded order) from
u, w ~ N(0, ``init_std``²). Every method trains with weight decay γ as in the paper's comparison:

    weight_decay:  ℓ(u, w) + γ(‖u‖² + ‖w‖²)                   (the paper's "vanilla SGD")
    syre:          ℓ(θ + θ0) + γ‖θ‖²_D,  (u, w) = θ + θ0        (Eq. 6-7, θ0 from functional.theta0)
    w_fix:         a seeded fraction φ of u and of w held at N(0, κ²) (as WFix: seeded_mask /
                   seeded_normal by (seed, "u") and (seed, "w")), + ``wfix_gamma``·(‖u‖² + ‖w‖²)
    vanilla:       ℓ(u, w) alone (plain SGD, no decay)

(``gamma`` is recorded only for syre and weight_decay, so W-fix reads its decay from its own
field ``wfix_gamma``; the study sets it to the same γ.)

Metrics: ``test_loss`` = E[((u ⊙ w)ᵀx − y)²] on a fresh sample = ‖u ⊙ w − v‖² + noise² (closed form
for x ~ N(0, I)), ``train_loss`` = the mean loss on the training set, and ``dead_units`` =
#{i : |u_i| < ``dead_threshold`` and |w_i| < ``dead_threshold``} of the effective u, w. The paper:
SGD and W-fix collapse units to the dead state during training, syre does not.

Vectorised: all seeds of a trial are one (S, d) batch; each seed draws its teacher, data, initial
u, w, θ0 and batch order from (seed, name), so a seed's rows do not depend on its batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from syre_tune import functional
from syre_tune._random import generator, per_seed, seeded_mask, seeded_normal
from syre_tune.benchmarks._common import Common, ConfigError, Report, above, at_least
from syre_tune.benchmarks._loop import Loop
from syre_tune.data import Batches

NAME = "reparam_regression"
METRICS = ("train_loss", "test_loss", "dead_units")
METHODS = ("syre", "weight_decay", "w_fix", "vanilla")
PARAMS = ("u", "w")


@dataclass(frozen=True)
class Config(Common):
    # --- problem
    dim: int = 200
    """d, the length of u, w and x (the paper: 200)."""
    train_size: int = 1000
    """Training samples per seed."""
    noise: float = 0.1
    """Std of the label noise ε."""
    init_std: float = 0.1
    """Std of the Gaussian initial u and w."""
    relative: bool = True
    """σ0 in units of 1/√d (the paper's convention), else absolute."""
    wfix_gamma: float = 0.0
    """Weight decay γ of the w_fix runs (the paper trains every method with the same γ)."""

    # --- optimisation
    lr: float = 0.01
    """SGD learning rate."""
    batch_size: int = 1
    """SGD mini-batch size."""
    steps: int = 20000
    """SGD steps."""
    report_every: int = 1000
    """Report every this many steps (and at the end)."""

    # --- measurement
    dead_threshold: float = 1e-3
    """Unit i is dead when |u_i| and |w_i| are both below this."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "dim", "train_size", "batch_size", "steps", "report_every")
        if self.batch_size > self.train_size:
            raise ConfigError("batch_size", self.batch_size, f"at most train_size={self.train_size}")
        at_least(self, 0, "noise", "wfix_gamma", expected="a number >= 0")
        above(self, 0, "init_std", "lr", "dead_threshold")


def make_problem(cfg: Config) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per seed, stacked: inputs X (S, N, d), targets y (S, N) and the teacher v (S, d)."""
    xs, ys, teachers = [], [], []
    for seed in cfg.seeds:
        x = torch.randn(cfg.train_size, cfg.dim, generator=generator(seed, "data", "inputs"))
        v = torch.randn(cfg.dim, generator=generator(seed, "teacher", "weights")) / math.sqrt(cfg.dim)
        eps = torch.randn(cfg.train_size, generator=generator(seed, "data", "noise"))
        xs.append(x), ys.append(x @ v + cfg.noise * eps), teachers.append(v)
    return tuple(torch.stack(t).to(cfg.device) for t in (xs, ys, teachers))


def squared_error(u: torch.Tensor, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean ((u ⊙ w)ᵀx − y)² per seed: u, w (S, d), x (S, B, d), y (S, B) → (S,)."""
    residual = torch.bmm(x, (u * w).unsqueeze(-1)).squeeze(-1) - y
    return (residual * residual).mean(-1)


class _SeedBatches:
    """One seeded :class:`Batches` order per seed (a Loop state object)."""

    def __init__(self, cfg: Config) -> None:
        self.orders = [
            Batches(cfg.train_size, cfg.batch_size, seed=generator(seed, "data", "batches").initial_seed())
            for seed in cfg.seeds
        ]

    def next(self) -> torch.Tensor:
        """(S, B) indices, row k from seed k's order."""
        return torch.stack([order.next() for order in self.orders])

    def state_dict(self) -> dict:
        return {str(k): order.state_dict() for k, order in enumerate(self.orders)}

    def load_state_dict(self, state: dict) -> None:
        for k, order in enumerate(self.orders):
            order.load_state_dict(state[str(k)])


class _Tensors:
    """The trainable (S, d) tensors by name (a Loop state object)."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: t.detach().clone() for name, t in self.tensors.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, t in self.tensors.items():
            t.copy_(state[name].to(t.device, t.dtype))


def reports(cfg: Config) -> int:
    """How many times a trial reports (rows per seed): at step 0, every ``report_every``, at the end."""
    return Loop.reports(cfg.steps, cfg.report_every)


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs: per seed its inputs X (N × d, float32) drawn and then stacked, a batch's
    gathered inputs, and vectors of d and of N."""
    return (
        len(cfg.seeds)
        * 4
        * (2 * cfg.train_size * cfg.dim + cfg.batch_size * cfg.dim + 16 * cfg.dim + 4 * cfg.train_size)
    )


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    x, y, teacher = make_problem(cfg)
    rows = torch.arange(len(cfg.seeds), device=cfg.device).unsqueeze(-1)  # (S, 1), to gather batches

    def draw(sampler, name: str, **kwargs) -> torch.Tensor:  # (S, d), one row per seed
        return per_seed(sampler, cfg.seeds, (cfg.dim,), name, **kwargs).to(cfg.device)

    # --- method: trainables θ (S, d) per name; the model uses θ + θ0 (θ0 = 0 but for syre)
    params = {name: draw(seeded_normal, f"init.{name}", std=cfg.init_std) for name in PARAMS}
    shapes, draws = {name: (cfg.dim,) for name in PARAMS}, {"seed": cfg.seeds, "device": cfg.device}
    theta0 = {name: torch.zeros_like(p) for name, p in params.items()}
    decay_diag = None
    fixed: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if cfg.method == "syre":
        theta0 = functional.theta0(shapes, cfg.sigma0, relative=cfg.relative, **draws)
        decay_diag = functional.diag(shapes, cfg.sigma_d, **draws)
    elif cfg.method == "w_fix":  # as WFix: a seeded fraction φ of each "layer" fixed at N(0, κ²)
        for name in PARAMS:
            mask = draw(seeded_mask, name, fraction=cfg.phi)
            fixed[name] = (mask, draw(seeded_normal, name, std=cfg.kappa))
            params[name] = torch.where(mask, fixed[name][1], params[name])
    gamma = {"syre": cfg.gamma, "weight_decay": cfg.gamma, "w_fix": cfg.wfix_gamma}.get(cfg.method, 0.0)

    def effective() -> dict[str, torch.Tensor]:
        return {name: params[name] + theta0[name] for name in PARAMS}

    def measure() -> dict[str, torch.Tensor]:
        u, w = effective().values()
        error = u * w - teacher
        small = (u.abs() < cfg.dead_threshold) & (w.abs() < cfg.dead_threshold)
        return {
            "train_loss": squared_error(u, w, x, y),
            "test_loss": (error * error).sum(-1) + cfg.noise**2,
            "dead_units": small.sum(-1).to(u.dtype),
        }

    batches = _SeedBatches(cfg)
    loop = Loop(
        report,
        steps=cfg.steps,
        every=cfg.report_every,
        resume=resume,
        state={"params": _Tensors(params), "batches": batches},
    )
    if loop.fresh:
        loop.report(measure())
    for _ in loop:
        index = batches.next().to(cfg.device)  # (S, B)
        leaves = {name: p.detach().requires_grad_(True) for name, p in params.items()}
        u, w = (leaves[name] + theta0[name] for name in PARAMS)
        loss = squared_error(u, w, x[rows, index], y[rows, index])
        if gamma:
            loss = loss + functional.penalty(leaves, gamma, decay_diag, population=True)
        grads = torch.autograd.grad(loss.sum(), list(leaves.values()))  # Σ over seeds: each its own gradient
        with torch.no_grad():
            for (name, leaf), grad in zip(leaves.items(), grads):
                if name in fixed:
                    grad = grad.masked_fill(fixed[name][0], 0.0)
                params[name].copy_(leaf - cfg.lr * grad)
        if loop.due:
            loop.report(measure())
