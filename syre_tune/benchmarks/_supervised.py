"""What the population classifiers on the MNIST family share (low_capacity_init, fcn_collapse):
each member's own seeded batch order, the optimizer by name, and loss / accuracy on a whole split.

A population's member k sees the batches of ``Batches(n, batch_size, seed=seeds[k])``, so it
trains exactly as the same seed alone would; :class:`MemberBatches` keeps the K orders as one
object with ``state_dict`` / ``load_state_dict`` for :class:`~syre_tune.benchmarks._loop.Loop`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from syre_tune.data import Batches

__all__ = ["OPTIMIZERS", "MemberBatches", "cross_entropy", "evaluate", "make_optimizer"]

Optimizer = Literal["sgd", "adam"]
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


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
def evaluate(population, x: torch.Tensor, y: torch.Tensor, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss (K,), accuracy (K,)) of every member on the whole split ``x`` (N, ...), ``y`` (N,),
    ``chunk`` examples at a time."""
    loss_sum = accuracy_sum = None
    for start in range(0, len(y), chunk):
        xs, ys = x[start : start + chunk], y[start : start + chunk]
        logits = population(xs, shared=True)  # (K, b, C)
        loss = cross_entropy(logits, ys) * len(ys)
        correct = (logits.argmax(-1) == ys).sum(1).to(loss.dtype)
        loss_sum = loss if loss_sum is None else loss_sum + loss
        accuracy_sum = correct if accuracy_sum is None else accuracy_sum + correct
    return loss_sum / len(y), accuracy_sum / len(y)
