"""What the population classifiers on the MNIST family share (low_capacity_init, fcn_collapse,
continual_permuted, mode_connectivity, ntk_rank):
each member's own seeded batch order, the optimizer by name, and loss / accuracy on a whole split.

A population's member k sees the batches of ``Batches(n, batch_size, seed=seeds[k])``, so it
trains exactly as the same seed alone would; :class:`MemberBatches` keeps the K orders as one
object with ``state_dict`` / ``load_state_dict`` for :class:`~syre_tune.benchmarks._loop.Loop`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F

from syre_tune.data import Batches

__all__ = [
    "EVAL_CHUNK",
    "OPTIMIZERS",
    "OPTIMIZER_STATES",
    "MemberBatches",
    "cross_entropy",
    "evaluate",
    "make_optimizer",
    "shared",
]

Optimizer = Literal["sgd", "adam"]
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
OPTIMIZER_STATES = {"sgd": 0, "adam": 2}
"""Tensors each optimizer of OPTIMIZERS keeps per parameter (plain SGD none; Adam its two moments)."""
EVAL_CHUNK = 2048
"""Examples :func:`evaluate` runs at once by default."""


def make_optimizer(name: str, params: Sequence[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    """Plain SGD (no momentum) or Adam (torch defaults) on the population's stacked leaves: both act
    elementwise, so every member takes its own step."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](list(params), lr=lr)


class MemberBatches:
    """One seeded :class:`~syre_tune.data.Batches` order per member; ``next()`` is (K, batch_size)."""

    def __init__(self, n: int, batch_size: int, *, seeds: Sequence[int], device: str | torch.device) -> None:
        self.orders = [Batches(n, batch_size, seed=int(seed), device=device) for seed in seeds]

    def next(self) -> torch.Tensor:
        return torch.stack([order.next() for order in self.orders])

    def state_dict(self) -> dict[str, list]:
        return {"orders": [order.state_dict() for order in self.orders]}

    def load_state_dict(self, state: dict[str, list]) -> None:
        for order, saved in zip(self.orders, state["orders"], strict=True):
            order.load_state_dict(saved)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per member: logits (K, B, C), labels (K, B) or (B,) → (K,)."""
    k, b, c = logits.shape
    labels = labels.expand(k, b)
    return F.cross_entropy(logits.reshape(k * b, c), labels.reshape(k * b), reduction="none").view(k, b).mean(1)


@torch.no_grad()
def evaluate(
    forward: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor | Callable[[slice], torch.Tensor],
    labels: torch.Tensor,
    *,
    chunk: int = EVAL_CHUNK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy (K,) of K members on the same M labelled examples,
    ``chunk`` examples at a time (bounded memory).

    ``inputs`` is the (M, ...) tensor, sliced per chunk, or a callable giving a chunk's inputs for
    a slice of the examples (each member may see them transformed: a task's permutation);
    ``forward`` maps a chunk's inputs to logits (K, m, classes), e.g. ``shared(population)``."""
    total_loss = correct = None
    count = len(labels)
    for start in range(0, count, chunk):
        rows = slice(start, min(start + chunk, count))
        logits = forward(inputs(rows) if callable(inputs) else inputs[rows])  # (K, m, classes)
        y = labels[rows].expand(logits.shape[0], -1)  # (K, m)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y).sum(1)
        hits = (logits.argmax(-1) == y).sum(1).to(loss.dtype)
        total_loss = loss if total_loss is None else total_loss + loss
        correct = hits if correct is None else correct + hits
    return total_loss / count, correct / count


def shared(population: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """Every member of ``population`` on the same inputs: (m, ...) → logits (K, m, classes)."""
    return functools.partial(population, shared=True)
