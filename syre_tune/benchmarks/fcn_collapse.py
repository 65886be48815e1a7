"""A 4-layer FCN under weight decay γ and input scale α: first-layer rank collapse vs syre (Fig. 5, Fig. 8).

Paper §6.3 (Fig. 5) and Appendix B.2 (Fig. 8): a four-layer fully connected ReLU network
784 → 300 → 300 → 300 → 10, trained on MNIST with batch size 64, the input rescaled by α (the
input-output covariance strength). Sweeping γ (at α = 1) and α (at γ = 0.01), vanilla weight
decay finds a low-rank first-layer representation and loses accuracy for a large γ or a small α
(neural collapse); syre, with the same γ, keeps the rank (its penalty pulls toward θ0, not 0)
and shifts the covariance eigenvalues by about σ0 (Fig. 8).

Methods: weight_decay (the loss adds γ‖θ‖²) and syre (anchor form: the loss adds γ‖φ − θ0‖²_D).
Optimizer: ``optimizer`` (Adam by default; the paper does not say which).

Metrics, every ``report_every`` steps, one value per seed:

- train_loss / train_accuracy on the first ``eval_size`` training examples (the input scaled by
  α, as trained), test_loss / test_accuracy on the test split;
- rank / rank_post: the covariance rank (eigenvalues > ``rank_threshold`` = 1e-4) of the first
  layer's output before / after its ReLU, on the first ``rank_samples`` = 1000 training examples
  (Fig. 5's subfigures: "batch size 1000", "eigenvalues smaller than 1e-4 set to 0").

Then Fig. 8's spectrum, as successive reports after training: report ``steps + 1 + i`` carries
``eigen_index`` = i and ``eigenvalue`` = the i-th largest eigenvalue of that same covariance
(before the ReLU), for i = 0 .. width − 1. In those reports ``train_loss`` repeats the final
training loss (so the loss stays finite in every report) and the other metrics are NaN; in the
training reports ``eigen_index`` and ``eigenvalue`` are NaN.

Vectorised: all seeds of a trial train as one :class:`~syre_tune.benchmarks._population.Population`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from syre_tune import metrics
from syre_tune.benchmarks import _memory
from syre_tune.benchmarks._common import ConfigError, DataConfig, Report, at_least, check_data, data_sizes, load_data
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._methods import Parts
from syre_tune.benchmarks._population import Population
from syre_tune.benchmarks._supervised import (
    EVAL_CHUNK,
    OPTIMIZER_STATES,
    MemberBatches,
    Optimizer,
    cross_entropy,
    evaluate,
    make_optimizer,
    shared,
)

NAME = "fcn_collapse"
METRICS = (
    "train_loss",
    "test_loss",
    "train_accuracy",
    "test_accuracy",
    "rank",
    "rank_post",
    "eigen_index",
    "eigenvalue",
)
METHODS = ("weight_decay", "syre")

check = check_data


@dataclass(frozen=True)
class Config(DataConfig):
    # --- data and model
    input_scale: float = 1.0
    """α: the inputs are multiplied by this (the strength of the input-output covariance)."""
    width: int = 300
    """Units of each of the three hidden layers (the paper: 300)."""
    depth: int = 4
    """Linear layers (the paper: 4, so depth − 1 hidden ReLU layers)."""

    # --- optimisation
    optimizer: Optimizer = "adam"
    """sgd (plain) | adam (torch defaults)."""
    lr: float = 1e-3
    """Learning rate."""
    batch_size: int = 64
    """Mini-batch size (the paper: 64)."""
    steps: int = 9380
    """Optimisation steps (10 MNIST epochs at batch 64)."""
    report_every: int = 938
    """Report (and allow a checkpoint) every this many steps, and at the end."""

    # --- measurement
    eval_size: int | None = 10000
    """train_loss/train_accuracy on the first n training examples (None: all of them)."""
    rank_samples: int = 1000
    """Training examples the first layer's covariance is taken over (the paper: 1000)."""
    rank_threshold: float = 1e-4
    """Covariance eigenvalues above this count toward the rank (the paper: 1e-4)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "width", "batch_size", "steps", "report_every", "rank_samples")
        if self.depth < 2:
            raise ConfigError("depth", self.depth, "an integer >= 2 (at least one hidden layer)")
        if self.input_scale <= 0 or self.lr <= 0:
            raise ConfigError("input_scale/lr", (self.input_scale, self.lr), "numbers > 0")
        if self.eval_size is not None and self.eval_size < 1:
            raise ConfigError("eval_size", self.eval_size, "an integer >= 1 or null")
        if self.rank_threshold < 0:
            raise ConfigError("rank_threshold", self.rank_threshold, "a number >= 0")


class FCN(nn.Module):
    """x (B, ...) → flatten → [Linear(width) → ReLU] × (depth − 1) → Linear(outputs)."""

    def __init__(self, inputs: int, width: int, outputs: int, depth: int, parts: Parts) -> None:
        super().__init__()
        sizes = [inputs] + [width] * (depth - 1)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.activations = nn.ModuleList(parts.activation("relu", width, f"layer{i}") for i in range(depth - 1))
        self.out = nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor, *, capture: bool = False):
        h = x.flatten(1)
        first_pre = first_post = None
        for layer, activation in zip(self.hidden, self.activations):
            pre = layer(h)
            h = activation(pre)
            if first_pre is None:
                first_pre, first_post = pre, h  # the first layer's output (B, width), Fig. 5/8
        logits = self.out(h)
        return (logits, first_pre, first_post) if capture else logits


def covariance_spectrum(features: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of the per-member covariance of ``features`` (K, samples, units), largest
    first: (K, min(samples, units)); the same s²/(n − 1) as :func:`syre_tune.metrics.covariance_rank`."""
    centred = features - features.mean(dim=-2, keepdim=True)
    return torch.linalg.svdvals(centred).square() / (features.shape[-2] - 1)


def reports(cfg: Config) -> int:
    """How many times a trial reports (rows per seed): at step 0, every ``report_every``, at the end, then one per
    eigenvalue of the first layer's spectrum (``width``)."""
    return Loop.reports(cfg.steps, cfg.report_every) + cfg.width


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs (:mod:`._memory`): the population's weights with their gradients and
    optimizer states, a batch's activations for every member, or an evaluation chunk's."""
    sizes = data_sizes(cfg)
    inputs = math.prod(sizes.shape)
    found = _memory.shapes(lambda parts: FCN(inputs, cfg.width, sizes.classes, cfg.depth, parts), sizes.shape)
    evaluated = _memory.evaluated_at_once(sizes, cfg.eval_size, cfg.rank_samples, EVAL_CHUNK)
    return _memory.per_seed(
        found, cfg, sizes, optimizer_states=OPTIMIZER_STATES[cfg.optimizer], together=True, evaluated=evaluated
    )


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    data = load_data(cfg)
    alpha = cfg.input_scale

    def build(parts: Parts) -> FCN:
        return FCN(data.input_dim, cfg.width, data.num_classes, cfg.depth, parts)

    population = Population(cfg, build, cfg.seeds)
    optimizer = make_optimizer(cfg.optimizer, population.parameters(), cfg.lr)
    batches = MemberBatches(len(data.y_train), cfg.batch_size, seeds=cfg.seeds, device=data.device)
    eval_x, eval_y = data.x_train[: cfg.eval_size] * alpha, data.y_train[: cfg.eval_size]
    test_x = data.x_test * alpha
    rank_x = data.x_train[: cfg.rank_samples] * alpha
    count = len(population)
    nan = torch.full((count,), float("nan"), device=data.device)

    def first_layer() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            _, pre, post = population(rank_x, shared=True, capture=True)  # (K, samples, width)
        return pre, post

    def rank_of(features: torch.Tensor) -> torch.Tensor:
        finite = torch.isfinite(features).flatten(1).all(1)
        ranks = nan.clone()
        if finite.any():
            ranks[finite] = metrics.covariance_rank(features[finite], cfg.rank_threshold).to(ranks.dtype)
        return ranks

    def measure() -> dict[str, torch.Tensor]:
        train_loss, train_accuracy = evaluate(shared(population), eval_x, eval_y)
        test_loss, test_accuracy = evaluate(shared(population), test_x, data.y_test)
        pre, post = first_layer()
        return {
            "train_loss": train_loss,
            "test_loss": test_loss,
            "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy,
            "rank": rank_of(pre),
            "rank_post": rank_of(post),
            "eigen_index": nan,
            "eigenvalue": nan,
        }

    loop = Loop(
        report,
        steps=cfg.steps,
        every=cfg.report_every,
        resume=resume,
        state={"model": population, "optimizer": optimizer, "batches": batches},
        extra={"spectrum_reported": 0},
    )
    if loop.fresh:
        loop.report(measure())
    for _ in loop:
        index = batches.next()  # (K, batch): each member its own batch
        logits = population(data.x_train[index] * alpha)
        population.step_(optimizer, cross_entropy(logits, data.y_train[index]))
        if loop.due:
            loop.report(measure())

    # Fig. 8: the first layer's covariance spectrum after training, one report per eigenvalue.
    final_loss, _ = evaluate(shared(population), eval_x, eval_y)
    pre, _ = first_layer()
    finite = torch.isfinite(pre).flatten(1).all(1)
    spectrum = torch.full((count, min(pre.shape[1:])), float("nan"), device=data.device)
    if finite.any():
        spectrum[finite] = covariance_spectrum(pre[finite])
    for i in range(int(loop.extra["spectrum_reported"]), spectrum.shape[1]):
        loop.extra["spectrum_reported"] = i + 1
        values = {name: nan for name in METRICS}
        values.update(train_loss=final_loss, eigen_index=torch.full_like(nan, float(i)), eigenvalue=spectrum[:, i])
        loop.report(values, iteration=cfg.steps + 1 + i)
