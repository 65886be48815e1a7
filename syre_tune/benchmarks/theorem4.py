"""Theorem 4: how strongly syre breaks N reflection symmetries at once.

The loss has exactly N known reflection symmetries P_i = v_i v_iᵀ (hidden in a random orthonormal
basis V, so they are not axis-aligned): with c = Vᵀw,

    l(w) = ¼ Σ_{i≤N} (c_i² − 1)²  +  ½ Σ_{j>N} (c_j − t_j)²

which is invariant under c_i → −c_i for each i ≤ N. We train θ on the syre loss
l_ar(θ) = l(θ + θ0) + γ Σ D θ² (Eq. 7) by gradient descent to a local minimum, then measure the
reflection strength of Eq. 9 for every symmetry,

    Δ_i = [l_ar(θ' + θ*_i) − l_ar((I − 2P_i)θ' + θ*_i)] / ‖P_i θ'‖,

with θ*_i = −P_i θ0 the reflection centre of l(θ + θ0) and θ' = θ − θ*_i (so P_i θ' = P_i w).
Theorem 4: Pr(min_i |Δ_i| > ε) > δ once γσ0 ≥ 2εN / (√(2π)(1 − δ)) (proof, Eq. 66).

θ0 ~ N(0, σ0²) here in absolute units (``relative`` off), so γσ0 is the theorem's quantity.
Vectorised: all seeds of a trial train at once; each seed draws its own V, targets, init and θ0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from syre_tune import functional
from syre_tune._random import generator, per_seed, seeded_normal
from syre_tune.benchmarks._common import Common, ConfigError, Report

NAME = "theorem4"
METRICS = ("min_abs_delta", "grad_norm")
METHODS = ("syre", "weight_decay", "vanilla")  # the theorem is about syre; the others are its controls


@dataclass(frozen=True)
class Config(Common):
    # --- problem
    n_symmetries: int = 4
    """N, the number of reflection symmetries of the loss."""
    extra_dims: int = 4
    """Dimensions without symmetry; the parameter has N + extra_dims entries."""
    epsilon: float = 0.01
    """ε of Theorem 4, stored with the results for the analysis: Pr(min_i |Δ_i| > ε)."""
    relative: bool = False
    """σ0 in units of 1/√d; off by default so that γσ0 is the theorem's quantity."""

    # --- optimisation
    init_std: float = 0.5
    """Std of the initial effective parameters w = θ + θ0."""
    lr: float = 0.1
    """Gradient-descent learning rate."""
    steps: int = 1000
    """Gradient-descent steps (reported: the final gradient norm, to check the minimum)."""
    report_every: int = 0
    """Also measure (and checkpoint) every this many steps; 0: only at the end."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.report_every < 0:
            raise ConfigError("report_every", self.report_every, "an integer >= 0 (0: only at the end)")
        if self.n_symmetries < 1 or self.extra_dims < 0 or self.steps < 1:
            raise ConfigError(
                "n_symmetries/extra_dims/steps", (self.n_symmetries, self.extra_dims, self.steps), "N >= 1, >= 0, >= 1"
            )
        if self.epsilon <= 0 or self.lr <= 0:
            raise ConfigError("epsilon/lr", (self.epsilon, self.lr), "numbers > 0")

    @property
    def dim(self) -> int:
        return self.n_symmetries + self.extra_dims


def reports(cfg: Config) -> int:
    """How many times a trial reports (rows per seed): every ``report_every`` steps and at the end."""
    return -(-cfg.steps // (cfg.report_every or cfg.steps))


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs, all its seeds: per seed its basis V (float64, d × d) built, stacked and
    held, and the N reflected copies of θ that a measurement evaluates."""
    return len(cfg.seeds) * 8 * (3 * cfg.dim**2 + 8 * cfg.n_symmetries * cfg.dim + 16 * cfg.dim)


def make_problem(cfg: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """Per seed: an orthonormal basis V (S, d, d) whose first N columns are the symmetry axes, and
    targets t (S, d) for the non-symmetric coordinates (zero on the first N)."""
    bases, targets = [], []
    for seed in cfg.seeds:
        gen = generator(seed, "V", "theorem4")
        basis, _ = torch.linalg.qr(torch.randn(cfg.dim, cfg.dim, generator=gen, dtype=torch.float64))
        target = torch.randn(cfg.dim, generator=gen, dtype=torch.float64)
        target[: cfg.n_symmetries] = 0.0
        bases.append(basis), targets.append(target)
    return torch.stack(bases).to(cfg.device), torch.stack(targets).to(cfg.device)


def loss(w: torch.Tensor, basis: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    """l(w) for w (..., S, d) → (..., S). Broadcasts over leading dims (the N reflections)."""
    c = torch.einsum("sde,...sd->...se", basis, w)  # c_e = v_eᵀ w
    symmetric = 0.25 * ((c[..., :n] ** 2 - 1.0) ** 2).sum(-1)
    rest = 0.5 * ((c[..., n:] - target[..., n:]) ** 2).sum(-1)
    return symmetric + rest


def coordinate_grad(c: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    """∇_c l for c = Vᵀw (S, d)."""
    return torch.cat([c[:, :n] * (c[:, :n] ** 2 - 1.0), c[:, n:] - target[:, n:]], dim=-1)


def loss_grad(w: torch.Tensor, basis: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    """∇_w l = V ∇_c l, w (S, d)."""
    c = torch.einsum("sde,sd->se", basis, w)
    return torch.einsum("sde,se->sd", basis, coordinate_grad(c, target, n))


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    dtype = torch.float64  # Δ_i is a difference of O(1) losses of size ~γσ0: float32 is too coarse
    basis, target = make_problem(cfg)
    n = cfg.n_symmetries

    def draw(sampler, name: str, **kwargs) -> torch.Tensor:  # (S, d), one row per seed
        return per_seed(sampler, cfg.seeds, (cfg.dim,), name, dtype=dtype, **kwargs).to(cfg.device)

    init = draw(seeded_normal, "init", std=cfg.init_std)  # (S, d) effective w at the start
    gamma = 0.0 if cfg.method == "vanilla" else cfg.gamma
    if cfg.method == "syre":  # θ0 and D from the functional core, one row per seed
        shapes, to = {"w": (cfg.dim,)}, {"seed": cfg.seeds, "device": cfg.device, "dtype": dtype}
        theta0 = functional.theta0(shapes, cfg.sigma0, relative=cfg.relative, **to)["w"]
        drawn = functional.diag(shapes, cfg.sigma_d, **to)
        diag = torch.ones_like(theta0) if drawn is None else drawn["w"]
    else:
        theta0, diag = torch.zeros_like(init), torch.ones_like(init)
    # Start every method at the same effective point (a large θ0 would otherwise throw w far out
    # on the quartic, where this step size diverges); θ, the trainable offset, is w − θ0.
    theta = init - theta0

    def loss_ar(theta_: torch.Tensor) -> torch.Tensor:
        """l_ar(θ) = l(θ + θ0) + γ Σ D θ² (Eq. 7), θ (..., S, d) → (..., S)."""
        return loss(theta_ + theta0, basis, target, n) + gamma * (diag * theta_**2).sum(-1)

    rotated = cfg.sigma_d == 0
    if rotated:
        # D = I: l and γ‖θ‖² are both invariant under the rotation V, so gradient descent on θ is
        # gradient descent on Vᵀθ, elementwise and ~10x cheaper; rotate back for the measurement.
        theta0_c = torch.einsum("sde,sd->se", basis, theta0)
        current = torch.einsum("sde,sd->se", basis, theta)  # the descent's variable
    else:
        current = theta
    step = 0
    if resume is not None:  # continue right after the reported step `resume["step"]`
        step, current = int(resume["step"]), resume["theta"].to(cfg.device, dtype)

    def descend(current: torch.Tensor, steps: int) -> torch.Tensor:
        for _ in range(steps):
            if rotated:
                current = current - cfg.lr * (coordinate_grad(current + theta0_c, target, n) + 2.0 * gamma * current)
            else:
                grad = loss_grad(current + theta0, basis, target, n) + 2.0 * gamma * diag * current
                current = current - cfg.lr * grad
        return current

    def measure(step: int, current: torch.Tensor) -> None:
        theta = torch.einsum("sde,se->sd", basis, current) if rotated else current
        grad_norm = (loss_grad(theta + theta0, basis, target, n) + 2.0 * gamma * diag * theta).norm(dim=-1)
        # Eq. 9 for every symmetry at once: P_i θ' = v_i v_iᵀ (θ + θ0), reflected θ = θ − 2 P_i θ'.
        axes = basis[:, :, :n].permute(2, 0, 1)  # (N, S, d): v_i for each seed
        coordinate = (axes * (theta + theta0)).sum(-1, keepdim=True)  # (N, S, 1): v_iᵀ w
        reflected = theta - 2.0 * coordinate * axes  # (N, S, d)
        delta = (loss_ar(theta) - loss_ar(reflected)) / coordinate.squeeze(-1).abs()  # (N, S)
        metrics = {"min_abs_delta": delta.abs().min(dim=0).values, "grad_norm": grad_norm}
        report(step, metrics, state=lambda: {"step": step, "theta": current})

    every = cfg.report_every or cfg.steps
    while step < cfg.steps:
        chunk = min(every, cfg.steps - step)
        current = descend(current, chunk)
        step += chunk
        measure(step, current)
