"""Seeded mini-batch order over tensors already on a device, with a resumable state."""

from __future__ import annotations

import math

import torch

__all__ = ["Batches"]


class Batches:
    """Index batches drawn from a fresh seeded permutation of range(n) each epoch.

    The permutations are drawn on the CPU from a ``torch.Generator`` seeded with ``seed`` (the same
    order on every device), then moved to ``device`` once per epoch. With ``drop_last`` every batch
    has ``batch_size`` indices and the last ``n % batch_size`` of each permutation are skipped;
    without it the last batch of an epoch is shorter.

        batches = Batches(len(data.y_train), 128, seed=cfg.seed, device=data.device)
        idx = batches.next()
        x, y = data.x_train[idx], data.y_train[idx]
    """

    def __init__(
        self, n: int, batch_size: int, *, seed: int, device: str | torch.device = "cpu", drop_last: bool = True
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n=}")
        if batch_size < 1 or (drop_last and batch_size > n):
            bound = f"[1, n={n}] (drop_last)" if drop_last else ">= 1"
            raise ValueError(f"batch_size must be {bound}, got {batch_size=}")
        self.n, self.batch_size, self.drop_last = n, batch_size, drop_last
        self.device = torch.device(device)
        self._generator = torch.Generator(device="cpu")
        self._generator.manual_seed(seed)
        self.epoch = 0
        """Epochs started before the current one (0 during the first)."""
        self.position = 0
        """Indices of the current epoch's permutation already handed out."""
        self._order = self._permutation()

    @property
    def batches_per_epoch(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def _permutation(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self._generator).to(self.device)

    def next(self) -> torch.Tensor:
        """The next batch: an int64 index tensor (batch_size,) on ``device``."""
        epoch_done = self.position + self.batch_size > self.n if self.drop_last else self.position >= self.n
        if epoch_done:
            self.epoch += 1
            self.position = 0
            self._order = self._permutation()
        batch = self._order[self.position : self.position + self.batch_size]
        self.position += len(batch)
        return batch

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        """Where the order stands, as tensors and ints (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "generator": self._generator.get_state(),
            "order": self._order.cpu(),
            "epoch": self.epoch,
            "position": self.position,
            "n": self.n,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, torch.Tensor | int]) -> None:
        """Resume from ``state_dict()``: the batches that follow equal those of an uninterrupted run."""
        expected = {"generator", "order", "epoch", "position", "n", "batch_size"}
        if set(state) != expected:
            raise ValueError(f"Batches state must have keys {sorted(expected)}, got {sorted(state)}")
        for key in ("n", "batch_size"):
            if int(state[key]) != getattr(self, key):
                raise ValueError(
                    f"Batches state is for {key}={int(state[key])}, this one has {key}={getattr(self, key)}"
                )
        order = state["order"]
        if not isinstance(order, torch.Tensor) or order.shape != (self.n,):
            raise ValueError(f"Batches state's order must be a tensor of shape ({self.n},)")
        self._generator.set_state(state["generator"].cpu())
        self._order = order.to(device=self.device, dtype=torch.int64)
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
