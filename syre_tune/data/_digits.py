"""scikit-learn's bundled 8x8 digits, upsampled to 28x28: the MNIST stand-in that needs no download.

Same shape as MNIST, (N, 1, 28, 28) in [0, 1] with 10 classes, so MNIST-shaped models (784 inputs,
the 28x28 CNN) run unchanged on machines without the real files (CI, offline laptops).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from syre_tune.data._base import DataError, Sizes, TensorData

__all__ = ["DigitsSource", "NAME", "SPLIT_SEED", "TEST_SIZE"]

NAME = "digits (scikit-learn load_digits 8x8, upsampled to 28x28: MNIST stand-in)"
SPLIT_SEED = 0
"""Seed of the fixed train/test split: numpy's legacy RandomState, whose stream never changes."""
TEST_SIZE = 300
"""Images held out for test; the other 1,497 of the 1,797 train."""
SIDE = 28
PIXEL_MAX = 16.0
"""load_digits pixels are integer counts 0..16."""


class DigitsSource:
    """``sklearn.datasets.load_digits``: ships with scikit-learn, so ``root`` and ``download`` are unused."""

    name = "digits"

    @property
    def sizes(self) -> Sizes:
        """scikit-learn's 1,797 digits: 1,497 / 300 images of 1×28×28 (upsampled)."""
        return Sizes(1797 - TEST_SIZE, TEST_SIZE, (1, 28, 28), 10)

    def check(self, root: Path, download: bool) -> None:
        """Raise DataError if scikit-learn is not installed."""
        if importlib.util.find_spec("sklearn") is None:
            raise DataError(self.name, "needs scikit-learn (pip install scikit-learn), which is not installed")

    def read(self, root: Path, download: bool) -> TensorData:
        """The whole data set: 1,497 train / 300 test images (N, 1, 28, 28) in [0, 1], 10 classes."""
        self.check(root, download)
        from sklearn.datasets import load_digits  # deferred: only this stand-in needs scikit-learn

        bunch = load_digits()
        small = torch.from_numpy(bunch.images).to(torch.float32).div_(PIXEL_MAX).unsqueeze(1)  # (1797, 1, 8, 8)
        # Bilinear interpolation is a convex combination of pixels, so the values stay in [0, 1].
        x = F.interpolate(small, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
        y = torch.from_numpy(bunch.target).to(torch.int64)
        order = torch.from_numpy(np.random.RandomState(SPLIT_SEED).permutation(len(y)))
        train, test = order[: len(y) - TEST_SIZE], order[len(y) - TEST_SIZE :]
        return TensorData(
            name=NAME,
            x_train=x[train],
            y_train=y[train],
            x_test=x[test],
            y_test=y[test],
            num_classes=len(bunch.target_names),
        )
