"""Ranks of the empirical NTK and gradient second moment vs the bound 1280 − 20n, n neurons symmetric (Fig. 14).

Paper Appendix C (Fig. 14): a two-layer subnetwork 10 → 64 → 10 (ReLU, no biases: 640 + 640 =
1,280 weights) trained on 1,500 MNIST points. Putting n hidden neurons at the fixed point of the
permutation symmetry removes 20 dimensions each (10 incoming + 10 outgoing weights), so by
Propositions 2 and 3 the rank of the empirical NTK (1500 × 1500) and of the gradient second
moment (1280 × 1280) is at most 1280 − 20n, at the start of training and (gradient descent never
leaves the symmetric subspace) at its end.

Setup, per point n of ``collapsed``:

- inputs: the first ``points`` examples of the data set (training split, then test split if it
  is too short; digits has 1,797 in all), flattened and projected to ``input_dim`` = 10 by PCA:
  centred, onto the top principal directions of those points, each divided by its standard
  deviation (whitened). Deterministic, no seed.
- the symmetric state (``symmetric_state``): ``copies``: neurons 1..n are copies of neuron 0
  (incoming row and outgoing column; the fixed point of the swaps of neuron 0 with each of them:
  n constraints θ_k = θ_0 of rank 20 each); ``zero``: neurons 0..n−1 have zero incoming and
  outgoing weights (a fixed point where their gradient vanishes). Either way gradient descent
  keeps it, and the bound is 1280 − 20n.
- G (N, 1280): per-example gradients of the cross-entropy, ``torch.func.vmap(grad(...))``;
  the empirical NTK is G Gᵀ (N × N) and the gradient second moment Gᵀ G / N (1280 × 1280).
  (Both have the same nonzero spectrum up to the factor N, so their ranks agree in exact
  arithmetic; each is eigendecomposed on its own, as the paper draws two curves.) Rank: the
  number of eigenvalues above ``rank_rtol`` times the largest, in float64 (the whole benchmark
  runs in float64 so that numerical noise stays far below that).
- training: ``steps`` full-batch steps of ``optimizer`` on the N points; then G again.

Below the bound: a bias-free ReLU neuron also has the rescaling symmetry (w_in, w_out) →
(c·w_in, w_out / c), so ⟨∂w_in, w_in⟩ = ⟨∂w_out, w_out⟩ for every example (one constraint per
neuron), and the softmax residual sums to zero over the classes, so each neuron's outgoing
gradient sums to zero (another); a copy's two constraints are implied by neuron 0's. Generic
data thus gives rank (1280 − 20n) − 2(64 − n) = 1152 − 18n, which is what the smoke run measures.

Reports: one per point n, as successive reports (iteration = 1, 2, ... in the order of
``collapsed``) with metrics ``collapsed`` = n, ``bound`` = 1280 − 20n, ``ntk_rank_start``,
``grad_rank_start``, ``ntk_rank_end``, ``grad_rank_end`` and ``train_loss`` (at the end of
training). Under syre θ0 is added to the symmetric init (anchor form), so the neurons are no
longer copies and the bound no longer applies: the comparison the method is about.

Vectorised: all seeds of a point train as one :class:`~syre_tune.benchmarks._population.Population`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from syre_tune.benchmarks import _memory
from syre_tune.benchmarks._common import ConfigError, DataConfig, Report, at_least, check_data, data_sizes, load_data
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._methods import Parts
from syre_tune.benchmarks._population import Population
from syre_tune.benchmarks._supervised import Optimizer, cross_entropy, make_optimizer

NAME = "ntk_rank"
METRICS = ("train_loss", "collapsed", "bound", "ntk_rank_start", "grad_rank_start", "ntk_rank_end", "grad_rank_end")
METHODS = ("vanilla", "syre")

check = check_data


@dataclass(frozen=True)
class Config(DataConfig):
    # --- the subnetwork and its symmetric state
    collapsed: tuple[int, ...] = (0, 4, 8, 16, 24, 32, 40, 48, 56, 60)
    """The numbers n of neurons put in the symmetric state, one report each (in this order)."""
    symmetric_state: Literal["copies", "zero"] = "copies"
    """copies: neurons 1..n copy neuron 0 (in and out); zero: neurons 0..n−1 have zero in and out weights."""
    input_dim: int = 10
    """Inputs after the PCA projection (the paper: 10)."""
    hidden: int = 64
    """Hidden ReLU neurons (the paper: 64)."""
    points: int = 1500
    """Data points the NTK is taken over and the net trained on (the paper: 1500)."""

    # --- training
    optimizer: Optimizer = "sgd"
    """sgd (plain full-batch gradient descent) | adam."""
    lr: float = 0.1
    """Learning rate."""
    steps: int = 2000
    """Full-batch training steps between the start and the end measurements."""

    # --- measurement
    rank_rtol: float = 1e-9
    """Eigenvalues above this times the largest count toward a rank (float64)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "input_dim", "hidden", "points")
        if self.steps < 0 or self.lr <= 0:
            raise ConfigError("steps/lr", (self.steps, self.lr), "steps >= 0 and lr > 0")
        if not self.collapsed:
            raise ConfigError("collapsed", self.collapsed, "at least one n")
        most = self.hidden - 1 if self.symmetric_state == "copies" else self.hidden
        if any(n < 0 or n > most for n in self.collapsed):
            raise ConfigError("collapsed", self.collapsed, f"integers in [0, {most}] ({self.symmetric_state})")
        if not 0 < self.rank_rtol < 1:
            raise ConfigError("rank_rtol", self.rank_rtol, "a number in (0, 1)")

    @property
    def parameters(self) -> int:
        """Weights of the subnetwork: hidden · (input_dim + outputs); 1280 for 10 → 64 → 10."""
        return self.hidden * (self.input_dim + 10)

    def bound(self, n: int) -> int:
        """The rank bound of Propositions 2-3: each symmetric neuron removes input_dim + 10 dimensions."""
        return self.parameters - n * (self.input_dim + 10)


def pca_project(x: torch.Tensor, dim: int) -> torch.Tensor:
    """x (N, D) centred, projected onto its top ``dim`` principal directions and whitened: (N, dim)."""
    centred = x - x.mean(0)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    std = singular[:dim] / (len(x) - 1) ** 0.5
    return centred @ vh[:dim].T / std


@torch.no_grad()
def put_symmetric_(incoming: nn.Linear, outgoing: nn.Linear, n: int, state: str) -> None:
    """``copies``: neurons 1..n become copies of neuron 0; ``zero``: neurons 0..n−1 are zeroed."""
    if state == "copies":
        incoming.weight[1 : n + 1] = incoming.weight[0].clone()
        outgoing.weight[:, 1 : n + 1] = outgoing.weight[:, :1].clone()
    else:
        incoming.weight[:n] = 0.0
        outgoing.weight[:, :n] = 0.0


def build_model(inputs: int, hidden: int, outputs: int, n: int, state: str):
    """The builder: a bias-free inputs → hidden → outputs ReLU net, float64, n neurons symmetric."""

    def build(parts: Parts) -> nn.Sequential:
        model = nn.Sequential(
            nn.Linear(inputs, hidden, bias=False),
            parts.activation("relu", hidden, "hidden"),
            nn.Linear(hidden, outputs, bias=False),
        ).double()
        put_symmetric_(model[0], model[2], n, state)
        return model

    return build


def per_example_gradients(population: Population, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """G (K, N, P): each member's gradient of the cross-entropy of each example (vmap of grad)."""

    def example_loss(params: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        logits = torch.func.functional_call(population.base, params, (xi.unsqueeze(0),))
        return F.cross_entropy(logits, yi.unsqueeze(0))

    per_example = torch.func.vmap(torch.func.grad(example_loss), in_dims=(None, 0, 0))
    grads = torch.func.vmap(per_example, in_dims=(0, None, None))(
        {name: p.detach() for name, p in population.params.items()}, x, y
    )
    return torch.cat([g.flatten(2) for g in grads.values()], dim=2)


def hermitian_rank(matrices: torch.Tensor, rtol: float) -> torch.Tensor:
    """(K,) ranks of symmetric PSD matrices (K, M, M): eigenvalues above rtol · the largest."""
    eigenvalues = torch.linalg.eigvalsh(matrices)
    top = eigenvalues.amax(-1, keepdim=True).clamp_min(torch.finfo(eigenvalues.dtype).tiny)
    return (eigenvalues > rtol * top).sum(-1)


def ranks(gradients: torch.Tensor, rtol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(NTK rank, gradient second-moment rank), each (K,), from G (K, N, P)."""
    ntk = gradients @ gradients.transpose(1, 2)  # (K, N, N)
    moment = gradients.transpose(1, 2) @ gradients / gradients.shape[1]  # (K, P, P)
    return hermitian_rank(ntk, rtol), hermitian_rank(moment, rtol)


def reports(cfg: Config) -> int:
    """How many times a trial reports (rows per seed): one per collapsed-neuron count."""
    return len(cfg.collapsed)


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs, in float64: per seed the per-example gradients G (N × P) as computed
    and concatenated, the NTK G Gᵀ (N × N) and the second moment Gᵀ G (P × P), each with its
    eigenvalue solver's copy; P = input_dim·hidden + hidden·classes (no biases)."""
    sizes = data_sizes(cfg)
    n, p = cfg.points, cfg.input_dim * cfg.hidden + cfg.hidden * sizes.classes
    data = _memory.data_numbers(sizes.train, sizes.test, sizes.shape) * 2  # the pool, then its float64 PCA
    return len(cfg.seeds) * 8 * (2 * n * p + 2 * n * n + 2 * p * p) + _memory.FLOAT * data


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    data = load_data(cfg)
    pool_x = torch.cat([data.x_train, data.x_test]).flatten(1)
    pool_y = torch.cat([data.y_train, data.y_test])
    if len(pool_y) < cfg.points:
        raise ConfigError("points", cfg.points, f"at most the {len(pool_y)} examples of {cfg.dataset}")
    x = pca_project(pool_x[: cfg.points].double(), cfg.input_dim)  # (N, input_dim)
    y = pool_y[: cfg.points]
    count = len(cfg.seeds)

    loop = Loop(report, steps=len(cfg.collapsed), every=1, resume=resume, state={})
    for point in loop:
        n = cfg.collapsed[point]
        build = build_model(cfg.input_dim, cfg.hidden, data.num_classes, n, cfg.symmetric_state)
        population = Population(cfg, build, cfg.seeds)
        ntk_start, grad_start = ranks(per_example_gradients(population, x, y), cfg.rank_rtol)
        optimizer = make_optimizer(cfg.optimizer, population.parameters(), cfg.lr)
        for _ in range(cfg.steps):  # full batch: every member on all N points
            population.step_(optimizer, cross_entropy(population(x, shared=True), y))
        with torch.no_grad():
            train_loss = cross_entropy(population(x, shared=True), y)
        ntk_end, grad_end = ranks(per_example_gradients(population, x, y), cfg.rank_rtol)
        loop.report(
            {
                "train_loss": train_loss,
                "collapsed": torch.full((count,), float(n)),
                "bound": torch.full((count,), float(cfg.bound(n))),
                "ntk_rank_start": ntk_start,
                "grad_rank_start": grad_start,
                "ntk_rank_end": ntk_end,
                "grad_rank_end": grad_end,
            }
        )
