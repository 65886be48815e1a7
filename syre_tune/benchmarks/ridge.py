"""Ridge regression: test loss against d/N, weight decay vs syre vs vanilla (paper §6.1, Fig. 3 left).

Setup (§6.1 "Ridge linear regression", Eq. 13): y = w*ᵀx + ε with x ~ N(0, I_d), w* ~ N(0, I/d)
(so the signal has unit variance whatever d) and ε ~ N(0, ``noise``²), N training samples; the
study sweeps d at fixed N across α⁻¹ = d/N around 1, where the unregularised solution's test
loss peaks (double descent) and weight decay removes the peak. Each method runs full-batch
gradient descent from zero on

    vanilla:       L(w) = (1/N) ‖Xw − y‖²
    weight_decay:  L(w) + γ‖w‖²                       optimum (XᵀX + γN·I)⁻¹ Xᵀy
    syre:          L(θ + θ0) + γ‖θ‖²_D  (Eq. 6-7)     optimum w = θ + θ0 = (XᵀX + γN·D)⁻¹ (Xᵀy + γN·D θ0)

(the optima follow from ∇ = (2/N)Xᵀ(Xw − y) + 2γD(w − θ0) = 0; with D = I this is Eq. 13). θ0,
D and the penalty come from :mod:`syre_tune.functional`, so syre here is the package's method.
The paper's point: syre does as well as weight decay (no reflection symmetry to remove here).

Metrics: ``test_loss``, the expected squared error on a fresh sample, in closed form
E[(wᵀx − y)²] = ‖w − w*‖² + noise² (x ~ N(0, I)); ``train_loss`` = L(w) (no penalty). Vectorised:
all seeds of a trial are one (S, d) batch, each seed drawing its data and θ0 from (seed, name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from syre_tune import functional
from syre_tune._random import generator
from syre_tune.benchmarks._common import Common, ConfigError, Report, at_least
from syre_tune.benchmarks._loop import Loop

NAME = "ridge"
METRICS = ("test_loss", "train_loss")
METHODS = ("syre", "weight_decay", "vanilla")


@dataclass(frozen=True)
class Config(Common):
    # --- problem
    dim: int = 100
    """d, the input dimension (α⁻¹ = dim / train_size)."""
    train_size: int = 100
    """N, the number of training samples."""
    noise: float = 0.5
    """Std of the label noise ε."""
    relative: bool = True
    """σ0 in units of 1/√d (the paper's convention), else absolute."""

    # --- optimisation
    lr: float = 0.05
    """Gradient-descent learning rate (stable below 1/(1 + √(d/N))² + γ)."""
    steps: int = 5000
    """Full-batch gradient-descent steps from w = 0."""
    report_every: int = 500
    """Report every this many steps (and at the end)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "dim", "train_size", "steps", "report_every")
        if self.noise < 0:
            raise ConfigError("noise", self.noise, "a number >= 0")
        if self.lr <= 0:
            raise ConfigError("lr", self.lr, "a number > 0")

    @property
    def alpha_inv(self) -> float:
        """α⁻¹ = d/N, the degree of parametrisation."""
        return self.dim / self.train_size


def make_problem(cfg: Config, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per seed, stacked: inputs X (S, N, d), targets y (S, N) and the teacher w* (S, d)."""
    xs, ys, teachers = [], [], []
    for seed in cfg.seeds:
        gen = generator(seed, "data", "inputs")
        x = torch.randn(cfg.train_size, cfg.dim, generator=gen, dtype=torch.float64)
        w_star = torch.randn(cfg.dim, generator=generator(seed, "teacher", "weights"), dtype=torch.float64)
        w_star = w_star / math.sqrt(cfg.dim)
        eps = torch.randn(cfg.train_size, generator=generator(seed, "data", "noise"), dtype=torch.float64)
        xs.append(x), ys.append(x @ w_star + cfg.noise * eps), teachers.append(w_star)
    to = {"device": cfg.device, "dtype": dtype}
    return torch.stack(xs).to(**to), torch.stack(ys).to(**to), torch.stack(teachers).to(**to)


def train_loss(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1/N) ‖Xw − y‖² per seed: w (S, d), x (S, N, d), y (S, N) → (S,)."""
    residual = torch.bmm(x, w.unsqueeze(-1)).squeeze(-1) - y
    return (residual * residual).mean(-1)


def reports(cfg: Config) -> int:
    """How many times a trial reports (rows per seed): at step 0, every ``report_every``, at the end."""
    return Loop.reports(cfg.steps, cfg.report_every)


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs: per seed its inputs X (N × d, float64) drawn and then stacked, and
    vectors of d and of N."""
    return len(cfg.seeds) * 8 * (2 * cfg.train_size * cfg.dim + 8 * cfg.dim + 4 * cfg.train_size)


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    dtype = torch.float64  # near d = N the problem is ill-conditioned; float64 keeps GD exact
    x, y, w_star = make_problem(cfg, dtype)
    count = len(cfg.seeds)

    # --- method: the trainable is θ (S, d); the model uses w = θ + θ0 (θ0 = 0 but for syre)
    shapes, draws = {"w": (cfg.dim,)}, {"seed": cfg.seeds, "device": cfg.device, "dtype": dtype}
    theta0 = torch.zeros(count, cfg.dim, device=cfg.device, dtype=dtype)
    decay_diag = None
    if cfg.method == "syre":
        theta0 = functional.theta0(shapes, cfg.sigma0, relative=cfg.relative, **draws)["w"]
        decay_diag = functional.diag(shapes, cfg.sigma_d, **draws)
    gamma = cfg.gamma if cfg.method in ("syre", "weight_decay") else 0.0

    def objective(theta: torch.Tensor) -> torch.Tensor:
        """(S,): L(θ + θ0) + γ‖θ‖²_D, one per seed."""
        penalty = functional.penalty({"w": theta}, gamma, decay_diag, population=True)
        return train_loss(theta + theta0, x, y) + penalty

    def measure(theta: torch.Tensor) -> dict[str, torch.Tensor]:
        w = theta + theta0
        error = w - w_star
        return {"test_loss": (error * error).sum(-1) + cfg.noise**2, "train_loss": train_loss(w, x, y)}

    theta = torch.zeros(count, cfg.dim, device=cfg.device, dtype=dtype)
    loop = Loop(report, steps=cfg.steps, every=cfg.report_every, resume=resume, state={}, extra={"theta": theta})
    theta = loop.extra["theta"].to(cfg.device, dtype)
    if loop.fresh:
        loop.report(measure(theta))
    for _ in loop:
        theta = theta.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(theta).sum(), theta)  # Σ over seeds: each its own gradient
        theta = (theta - cfg.lr * grad).detach()
        if loop.due:
            loop.extra["theta"] = theta
            loop.report(measure(theta))
