"""Per-member helpers for benchmarks that train a :class:`~syre_tune.benchmarks._population.Population`
on a data set: one seeded mini-batch order per member, and batched evaluation.

Each member of a population draws its own batches (its own :class:`~syre_tune.data.Batches`), so
a member trained in a population sees the batches it would see trained alone. ``MemberBatches``
keeps the K orders together with one resumable state (a list of the members' states).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from syre_tune.data import Batches

__all__ = ["MemberBatches", "evaluate"]


class MemberBatches:
    """K seeded batch orders over ``n`` examples: ``next()`` is (K, batch_size) indices, row k
    from ``Batches(n, batch_size, seed=seeds[k])``."""

    def __init__(self, n: int, batch_size: int, seeds: Sequence[int], *, device: str | torch.device = "cpu") -> None:
        self.members = [Batches(n, batch_size, seed=int(seed), device=device) for seed in seeds]

    def next(self) -> torch.Tensor:
        return torch.stack([member.next() for member in self.members])

    def state_dict(self) -> dict[str, Any]:
        return {"members": [member.state_dict() for member in self.members]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = state["members"]
        if len(saved) != len(self.members):
            raise ValueError(f"MemberBatches state is for {len(saved)} members, this one has {len(self.members)}")
        for member, member_state in zip(self.members, saved):
            member.load_state_dict(member_state)


@torch.no_grad()
def evaluate(
    forward: Callable[[torch.Tensor], torch.Tensor],
    inputs: Callable[[slice], torch.Tensor],
    labels: torch.Tensor,
    *,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy (K,) of K members on the same M labelled examples.

    ``inputs(rows)`` gives the members' inputs (K, len(rows), ...) for a slice of the examples
    (each member may see them transformed differently); ``forward`` maps them to logits
    (K, len(rows), classes). Evaluated ``chunk`` examples at a time to bound memory."""
    total_loss, correct = None, None
    count = len(labels)
    for start in range(0, count, chunk):
        rows = slice(start, min(start + chunk, count))
        logits = forward(inputs(rows))  # (K, m, classes)
        y = labels[rows].expand(logits.shape[0], -1)  # (K, m)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y).sum(1)
        hits = (logits.argmax(-1) == y).sum(1).to(loss.dtype)
        total_loss = loss if total_loss is None else total_loss + loss
        correct = hits if correct is None else correct + hits
    return total_loss / count, correct / count
