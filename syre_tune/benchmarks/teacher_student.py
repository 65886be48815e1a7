"""Teacher-student: the rank of a two-layer tanh student against the input dimension (paper §5.3, Fig. 2; Fig. 7).

Setup (paper §5.3 and appendix B.1): a two-layer tanh network, ``input_dim`` → 300 hidden → 10
outputs, is drawn at random per seed as the teacher; 10,000 standard Gaussian inputs form the
training set and 1,000 the test set. The ten outputs are ten classes: the label of x is the
teacher's argmax class, and a student of the same architecture is trained on the labels with
cross-entropy (Adam, lr 0.01, weight decay 0.01). The paper does not give a batch size for this
experiment; the student is trained full batch here (every step sees all training samples).

Measured (Fig. 2): ``rank``, the number of eigenvalues of the covariance of the first-layer
output tanh(W1 x + b1) over the 1,000 test inputs above ``rank_threshold`` (1e-4 in Fig. 2, 1e-3
in Fig. 7), and the train / test cross-entropy and test accuracy. The paper's finding: under
syre the rank grows with the input dimension, under weight decay alone much less so.

Fig. 7 variants: ``label_noise`` changes a seeded fraction (0-80 %) of the training labels, each
to a uniformly drawn *other* class; ``input_noise`` adds Gaussian noise of that std (0-1.6) to the
training inputs once, when the data are drawn (their labels stay the teacher's classes of the
clean inputs; the test set stays clean). The paper: the rank under weight decay falls with label
noise and rises with input noise; under syre it barely moves.

Weight decay: the paper's "weight decay 0.01" is the optimizer's (§5.4: "weight decay is the same
as the standard implementation"), i.e. a gradient term 0.01·θ, which is γ = 0.005 in this package's
γ‖θ‖² (``weight_decay`` = 2γ): the study sets γ = 0.005 for both weight_decay and syre.

Vectorised: the seeds of a trial train as one :class:`Population`; each seed draws its own teacher
from (seed, "teacher"), its own data from (seed, "data") and its own student, so a seed's rows do
not depend on the batch it runs in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from syre_tune import metrics
from syre_tune._random import generator, seeded_mask
from syre_tune.benchmarks import _memory
from syre_tune.benchmarks._common import Common, ConfigError, Report, at_least
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._methods import Parts
from syre_tune.benchmarks._population import Population
from syre_tune.benchmarks._supervised import cross_entropy

NAME = "teacher_student"
METRICS = ("train_loss", "test_loss", "test_accuracy", "rank")
METHODS = ("syre", "weight_decay", "vanilla")


@dataclass(frozen=True)
class Config(Common):
    # --- problem (appendix B.1)
    input_dim: int = 100
    """Input dimension d of teacher and student (Fig. 2's x axis)."""
    hidden: int = 300
    """Hidden units of teacher and student (the paper: 300)."""
    classes: int = 10
    """Outputs of teacher and student, one per class (the paper: 10)."""
    train_size: int = 10000
    """Standard Gaussian training inputs (the paper: 10,000)."""
    test_size: int = 1000
    """Standard Gaussian test inputs; the rank is measured on them (the paper: batch 1,000)."""
    label_noise: float = 0.0
    """Fraction of training labels changed to another class, seeded (Fig. 7 left: 0-0.8)."""
    input_noise: float = 0.0
    """Std of the Gaussian noise added once to the training inputs (Fig. 7 right: 0-1.6)."""
    relative: bool = True
    """σ0 in units of 1/√fan_in (the paper's convention), else absolute."""

    # --- optimisation
    lr: float = 0.01
    """Adam learning rate (the paper: 0.01)."""
    steps: int = 2000
    """Full-batch Adam steps."""
    report_every: int = 100
    """Report every this many steps (and at the end)."""

    # --- measurement
    rank_threshold: float = 1e-4
    """Covariance eigenvalues above this count toward the rank (Fig. 2: 1e-4; Fig. 7: 1e-3)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "input_dim", "hidden", "steps", "report_every")
        if self.classes < 2:
            raise ConfigError("classes", self.classes, "an integer >= 2")
        for key in ("train_size", "test_size"):
            if getattr(self, key) < 2:
                raise ConfigError(key, getattr(self, key), "an integer >= 2 (a covariance needs two samples)")
        if not 0.0 <= self.label_noise <= 1.0:
            raise ConfigError("label_noise", self.label_noise, "a fraction in [0, 1]")
        if self.input_noise < 0:
            raise ConfigError("input_noise", self.input_noise, "a number >= 0")
        if self.lr <= 0:
            raise ConfigError("lr", self.lr, "a number > 0")
        if self.rank_threshold < 0:
            raise ConfigError("rank_threshold", self.rank_threshold, "a number >= 0")


class TwoLayer(nn.Module):
    """x ↦ W2 tanh(W1 x + b1) + b2; ``features=True`` returns the first-layer output tanh(W1 x + b1)."""

    def __init__(self, parts: Parts, input_dim: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.first = nn.Linear(input_dim, hidden)
        self.activation = parts.activation("tanh", hidden, "first")
        self.second = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor, features: bool = False) -> torch.Tensor:
        hidden = self.activation(self.first(x))
        return hidden if features else self.second(hidden)


def teacher(seed: int, cfg: Config) -> list[torch.Tensor]:
    """The seed's teacher [W1 (h, d), W2 (c, h)]: Gaussian weights of std 1/√fan_in, no biases,
    drawn from (seed, "teacher") alone."""
    gen = generator(seed, "teacher", "weights")
    first = torch.randn(cfg.hidden, cfg.input_dim, generator=gen) / math.sqrt(cfg.input_dim)
    second = torch.randn(cfg.classes, cfg.hidden, generator=gen) / math.sqrt(cfg.hidden)
    return [first, second]


def teacher_classes(weights: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """argmax_c (W2 tanh(W1 x))_c for x (n, d): (n,) int64."""
    first, second = weights
    return (torch.tanh(x @ first.T) @ second.T).argmax(-1)


def make_data(seed: int, cfg: Config) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One seed's (x_train (n, d), y_train (n,), x_test (m, d), y_test (m,)) on the CPU: the
    training labels with ``label_noise`` applied, the training inputs with ``input_noise``."""
    weights = teacher(seed, cfg)
    gen = generator(seed, "data", "inputs")
    x_train = torch.randn(cfg.train_size, cfg.input_dim, generator=gen)
    x_test = torch.randn(cfg.test_size, cfg.input_dim, generator=gen)
    y_train, y_test = teacher_classes(weights, x_train), teacher_classes(weights, x_test)
    if cfg.label_noise > 0:  # exactly round(fraction · n) labels, each moved to another class
        changed = seeded_mask((cfg.train_size,), cfg.label_noise, seed=seed, name="labels")
        shift = torch.randint(1, cfg.classes, (cfg.train_size,), generator=generator(seed, "data", "label_noise"))
        y_train = torch.where(changed, (y_train + shift) % cfg.classes, y_train)
    if cfg.input_noise > 0:
        noise = torch.randn(cfg.train_size, cfg.input_dim, generator=generator(seed, "data", "input_noise"))
        x_train = x_train + cfg.input_noise * noise
    return x_train, y_train, x_test, y_test


def reports(cfg: Config) -> int:
    """How many times a trial reports (rows per seed): at step 0, every ``report_every``, at the end."""
    return Loop.reports(cfg.steps, cfg.report_every)


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs (:mod:`._memory`): the students' weights, gradients and Adam moments,
    the full batch's activations for every student, and each seed's own data set."""
    found = _memory.shapes(lambda parts: TwoLayer(parts, cfg.input_dim, cfg.hidden, cfg.classes), (cfg.input_dim,))
    return _memory.trial_bytes(
        found,
        members=len(cfg.seeds),
        optimizer_states=2,
        batch=cfg.train_size,
        together=True,
        evaluated=cfg.test_size,
        data=len(cfg.seeds) * _memory.data_numbers(cfg.train_size, cfg.test_size, (cfg.input_dim,)),
    )


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    # --- data: one teacher and data set per seed, stacked (K, ...)
    draws = [make_data(seed, cfg) for seed in cfg.seeds]
    x_train, y_train, x_test, y_test = (torch.stack(parts).to(cfg.device) for parts in zip(*draws))

    # --- model and method: K students as one
    def build(parts: Parts) -> nn.Module:
        return TwoLayer(parts, cfg.input_dim, cfg.hidden, cfg.classes)

    students = Population(cfg, build, cfg.seeds, relative=cfg.relative)
    optimizer = torch.optim.Adam(students.parameters(), lr=cfg.lr)

    @torch.no_grad()
    def measure() -> dict[str, torch.Tensor]:
        train_loss = cross_entropy(students(x_train), y_train)
        logits = students(x_test)
        features = students(x_test, features=True)  # (K, m, hidden): the first-layer output
        rank = torch.full_like(train_loss, float("nan"))
        finite = torch.isfinite(features).flatten(1).all(-1)
        if finite.any():
            rank[finite] = metrics.covariance_rank(features[finite], cfg.rank_threshold).to(rank.dtype)
        return {
            "train_loss": train_loss,
            "test_loss": cross_entropy(logits, y_test),
            "test_accuracy": (logits.argmax(-1) == y_test).to(train_loss.dtype).mean(-1),
            "rank": rank,
        }

    # --- loop: full-batch Adam on Σ_k (cross-entropy_k + penalty_k)
    loop = Loop(
        report,
        steps=cfg.steps,
        every=cfg.report_every,
        resume=resume,
        state={"model": students, "optimizer": optimizer},
    )
    if loop.fresh:
        loop.report(measure())
    for _ in loop:
        students.step_(optimizer, cross_entropy(students(x_train), y_train))
        if loop.due:
            loop.report(measure())
