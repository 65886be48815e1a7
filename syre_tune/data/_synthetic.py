"""Generated class-structured colour images: the CIFAR stand-in that needs no download.

Each class has a fixed prototype, a smooth random colour field (a 4×4 grid of colours upsampled
bilinearly to 32×32); an image is its class's prototype shifted by up to 4 pixels each way
(circularly), plus Gaussian pixel noise, clipped to [0, 1]. The classes are separable but not
trivially (shifts and noise), augmentations act on them as on photographs (crops, flips, colour
jitter), and everything is drawn from fixed seeds: the same tensors on every machine. Rows say
so in ``config.dataset``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from syre_tune.data._base import Sizes, TensorData

__all__ = ["SyntheticImages"]

SIDE = 32
GRID = 4
SHIFT = 4
NOISE = 0.15


@dataclass(frozen=True)
class SyntheticImages:
    """``num_classes`` classes of 3×32×32 images, ``train`` + ``test`` of them (balanced, shuffled)."""

    name: str
    num_classes: int
    train: int = 5000
    test: int = 1000

    @property
    def label(self) -> str:
        classes = f"{self.num_classes} classes of smooth colour prototypes, shifted and noised"
        return f"{self.name} (generated: {classes}; CIFAR stand-in)"

    @property
    def sizes(self) -> Sizes:
        return Sizes(self.train, self.test, (3, SIDE, SIDE), self.num_classes)

    def check(self, root: Path, download: bool) -> None:
        """Nothing to check: generated on the fly."""

    def read(self, root: Path, download: bool) -> TensorData:
        gen = torch.Generator().manual_seed(20_240_901 + self.num_classes)
        grid = torch.rand(self.num_classes, 3, GRID, GRID, generator=gen)
        prototypes = F.interpolate(grid, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
        x_train, y_train = self._draw(prototypes, self.train, gen)
        x_test, y_test = self._draw(prototypes, self.test, gen)
        return TensorData(self.label, x_train, y_train, x_test, y_test, self.num_classes)

    def _draw(self, prototypes: torch.Tensor, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % self.num_classes
        y = y[torch.randperm(n, generator=gen)]
        shifts = torch.randint(-SHIFT, SHIFT + 1, (n, 2), generator=gen)
        rows = (torch.arange(SIDE)[None, :] - shifts[:, :1]) % SIDE  # (n, 32)
        cols = (torch.arange(SIDE)[None, :] - shifts[:, 1:]) % SIDE
        images = prototypes[y]  # (n, 3, 32, 32)
        images = images[torch.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (n, 32, 32, 3)
        images = images.permute(0, 3, 1, 2) + NOISE * torch.randn(n, 3, SIDE, SIDE, generator=gen)
        return images.clamp_(0.0, 1.0).contiguous(), y
