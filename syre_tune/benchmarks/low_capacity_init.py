"""A two-layer ReLU net started with collapsed (identical) hidden neurons: trapped, unless syre (paper Fig. 1).

Paper §4 (Fig. 1, the paragraph after Proposition 3): "We initialize a two-layer ReLU neural
network on a low-capacity state where a fraction of the hidden neurons are identical
(corresponding to the symmetric states of the permutation symmetry) and train with and without
removing the symmetries." Vanilla training under SGD or Adam is trapped (Fig. 1 left: the more
neurons collapsed, the higher the training loss it ends at); with symmetry removed the
initial capacity no longer matters (Fig. 1 right).

Model: input (784) → Linear(width) → ReLU → Linear(10), cross-entropy, on the MNIST family.

Collapsed init (explicit, in :func:`build_model`, under the member's seeded init): after the
usual init, ``round(collapsed_fraction · width)`` hidden neurons, chosen by a seeded permutation,
are made copies of the first of them: the same incoming weights and bias, and the same outgoing
weights (the permutation-symmetric state, Proposition 3). Copies get identical gradients, so SGD
and Adam (both elementwise) keep them identical: the net trains as a net of
``width − count + 1`` neurons. Under syre (anchor form, §5) θ0 is added to this init, so the
effective neurons are distinct from the start and the symmetry no longer traps them; weight decay
alone (coupled L2, also offered) keeps the copies identical.

Metrics, every ``report_every`` steps, one value per seed:

- train_loss / train_accuracy on the first ``eval_size`` training examples; test_loss /
  test_accuracy on the test split.
- distinct_neurons: the number of clusters of hidden units with (numerically) the same effective
  incoming weights, u_i = (W1[i, :], b1[i]): units i and j are linked when
  ‖u_i − u_j‖ ≤ distinct_rtol · max(‖u_i‖, ‖u_j‖), and the count is the number of connected
  components of that graph (``width`` when all differ, ``width − count + 1`` at a collapsed init).
- rank: the covariance rank (eigenvalues > 1e-4, :func:`syre_tune.metrics.covariance_rank`) of the
  hidden layer's output (``rank_layer``: after the ReLU, or before it) on the first
  ``rank_samples`` training examples.

Vectorised: all seeds of a trial train as one :class:`~syre_tune.benchmarks._population.Population`,
each with its own init, collapsed set, θ0 and batch order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

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

NAME = "low_capacity_init"
METRICS = ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "distinct_neurons", "rank")
METHODS = ("vanilla", "syre", "weight_decay")
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3}
"""The learning rate when ``lr`` is not given."""

check = check_data


@dataclass(frozen=True)
class Config(DataConfig):
    # --- model and its collapsed start
    width: int = 128
    """Hidden neurons of the two-layer ReLU net."""
    collapsed_fraction: float = 0.5
    """Fraction of the hidden neurons started as identical copies of one neuron (0: a plain init)."""

    # --- optimisation
    optimizer: Optimizer = "sgd"
    """sgd (plain, no momentum) | adam (torch defaults)."""
    lr: float | None = None
    """Learning rate; None: 0.1 for sgd, 1e-3 for adam."""
    batch_size: int = 64
    """Mini-batch size."""
    steps: int = 3000
    """Optimisation steps."""
    report_every: int = 300
    """Report (and allow a checkpoint) every this many steps, and at the end."""

    # --- measurement
    eval_size: int | None = 10000
    """train_loss/train_accuracy on the first n training examples (None: all of them)."""
    rank_samples: int = 1000
    """Training examples the hidden layer's covariance rank is taken over (the paper: 1000)."""
    rank_layer: Literal["post_activation", "pre_activation"] = "post_activation"
    """Which hidden-layer output the rank is of: after the ReLU (the layer's output) or before it."""
    rank_threshold: float = 1e-4
    """Covariance eigenvalues above this count toward the rank (the paper: 1e-4)."""
    distinct_rtol: float = 1e-3
    """Two hidden units are the same when their incoming weights differ by at most this, relatively."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "width", "batch_size", "steps", "report_every", "rank_samples")
        if not 0.0 <= self.collapsed_fraction <= 1.0:
            raise ConfigError("collapsed_fraction", self.collapsed_fraction, "a fraction in [0, 1]")
        if self.lr is not None and self.lr <= 0:
            raise ConfigError("lr", self.lr, "a number > 0 (or null for the optimizer's default)")
        if self.eval_size is not None and self.eval_size < 1:
            raise ConfigError("eval_size", self.eval_size, "an integer >= 1 or null")
        if self.rank_threshold < 0 or self.distinct_rtol < 0:
            raise ConfigError("rank_threshold/distinct_rtol", (self.rank_threshold, self.distinct_rtol), "numbers >= 0")

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    @property
    def collapsed(self) -> int:
        """How many hidden neurons start as copies of one (at least 2 to collapse anything)."""
        return round(self.collapsed_fraction * self.width)


class TwoLayerNet(nn.Module):
    """x (B, ...) → flatten → Linear(hidden) → activation → Linear(out)."""

    def __init__(self, inputs: int, width: int, outputs: int, parts: Parts) -> None:
        super().__init__()
        self.hidden = nn.Linear(inputs, width)
        self.activation = parts.activation("relu", width, "hidden")
        self.out = nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor, *, capture: bool = False):
        pre = self.hidden(x.flatten(1))  # (B, width)
        post = self.activation(pre)
        logits = self.out(post)
        return (logits, pre, post) if capture else logits


@torch.no_grad()
def collapse_neurons_(incoming: nn.Linear, outgoing: nn.Linear, count: int) -> torch.Tensor:
    """Make ``count`` hidden neurons, chosen by a permutation of torch's (seeded) global RNG,
    copies of the first of them: rows of ``incoming`` (weight and bias) and columns of
    ``outgoing.weight``. Returns the chosen indices (the first is the original)."""
    chosen = torch.randperm(incoming.out_features)[:count].to(incoming.weight.device)
    if count >= 2:
        source = chosen[0]
        incoming.weight[chosen] = incoming.weight[source].clone()
        incoming.bias[chosen] = incoming.bias[source].clone()
        outgoing.weight[:, chosen] = outgoing.weight[:, source : source + 1].clone()
    return chosen


def build_model(inputs: int, width: int, outputs: int, collapsed: int):
    """The model builder: a :class:`TwoLayerNet` with ``collapsed`` identical hidden neurons."""

    def build(parts: Parts) -> TwoLayerNet:
        model = TwoLayerNet(inputs, width, outputs, parts)
        collapse_neurons_(model.hidden, model.out, collapsed)  # under seeded_init: the member's seed
        return model

    return build


def distinct_units(weights: torch.Tensor, rtol: float) -> torch.Tensor:
    """Clusters of units with the same incoming weights: ``weights`` (K, units, fan_in) → (K,) int64.

    Units i, j are linked when ‖u_i − u_j‖ ≤ rtol · max(‖u_i‖, ‖u_j‖); the count is the number of
    connected components (label propagation to the smallest index reachable)."""
    w = weights.to(torch.float64)
    norms = w.norm(dim=-1)  # (K, U)
    distance = torch.cdist(w, w)  # (K, U, U)
    linked = distance <= rtol * torch.maximum(norms.unsqueeze(-1), norms.unsqueeze(-2))
    units = w.shape[1]
    labels = torch.arange(units, device=w.device).expand(w.shape[0], units)  # (K, U)
    big = torch.full_like(distance, units, dtype=torch.long)
    while True:
        spread = torch.where(linked, labels.unsqueeze(-2).expand_as(big), big).amin(-1)
        if torch.equal(spread, labels):
            break
        labels = spread
    return (labels == torch.arange(units, device=w.device)).sum(-1)


def reports(cfg: Config) -> int:
    """How many times a trial reports (rows per seed): at step 0, every ``report_every``, at the end."""
    return Loop.reports(cfg.steps, cfg.report_every)


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs (:mod:`._memory`): the population's weights with their gradients and
    optimizer states, a batch's or an evaluation chunk's activations for every member, and the
    pairwise distances of the hidden units (K × width² float64 and its masks) when measuring."""
    sizes = data_sizes(cfg)
    inputs = math.prod(sizes.shape)  # collapsing neurons changes values, not shapes
    found = _memory.shapes(lambda parts: TwoLayerNet(inputs, cfg.width, sizes.classes, parts), sizes.shape)
    evaluated = _memory.evaluated_at_once(sizes, cfg.eval_size, cfg.rank_samples, EVAL_CHUNK)
    network = _memory.per_seed(
        found, cfg, sizes, optimizer_states=OPTIMIZER_STATES[cfg.optimizer], together=True, evaluated=evaluated
    )
    return network + len(cfg.seeds) * cfg.width**2 * (8 + 8 + 8 + 1)  # distances, labels, fill, links


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    data = load_data(cfg)
    build = build_model(data.input_dim, cfg.width, data.num_classes, cfg.collapsed)
    population = Population(cfg, build, cfg.seeds)
    optimizer = make_optimizer(cfg.optimizer, population.parameters(), cfg.learning_rate)
    batches = MemberBatches(len(data.y_train), cfg.batch_size, seeds=cfg.seeds, device=data.device)
    eval_x, eval_y = data.x_train[: cfg.eval_size], data.y_train[: cfg.eval_size]
    rank_x = data.x_train[: cfg.rank_samples]

    def measure() -> dict[str, torch.Tensor]:
        train_loss, train_accuracy = evaluate(shared(population), eval_x, eval_y)
        test_loss, test_accuracy = evaluate(shared(population), data.x_test, data.y_test)
        with torch.no_grad():
            _, pre, post = population(rank_x, shared=True, capture=True)  # (K, samples, width)
        features = post if cfg.rank_layer == "post_activation" else pre
        incoming = torch.cat([population.params["hidden.weight"], population.params["hidden.bias"].unsqueeze(-1)], -1)
        return {
            "train_loss": train_loss,
            "test_loss": test_loss,
            "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy,
            "distinct_neurons": distinct_units(incoming.detach(), cfg.distinct_rtol),
            "rank": metrics.covariance_rank(features, cfg.rank_threshold)
            if torch.isfinite(features).all()
            else torch.full((len(population),), float("nan")),
        }

    loop = Loop(
        report,
        steps=cfg.steps,
        every=cfg.report_every,
        resume=resume,
        state={"model": population, "optimizer": optimizer, "batches": batches},
    )
    if loop.fresh:
        loop.report(measure())
    for _ in loop:
        index = batches.next()  # (K, batch): each member its own batch
        logits = population(data.x_train[index])
        population.step_(optimizer, cross_entropy(logits, data.y_train[index]))
        if loop.due:
            loop.report(measure())
