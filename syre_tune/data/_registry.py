"""The named data sets and the two calls benchmarks and studies make: ``load`` and ``check``.

A data set is one entry in ``_SOURCES``: an object with ``check(root, download)`` (raise DataError,
fast, reads nothing) and ``read(root, download)`` (the whole set as TensorData, pixels in [0, 1]).
Adding one (CIFAR-10, ...) is a new module and one line here; callers go through the name.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Protocol

import torch

from syre_tune.data._base import DataError, Sizes, TensorData, data_root
from syre_tune.data._cifar import CifarSource
from syre_tune.data._digits import DigitsSource
from syre_tune.data._synthetic import SyntheticImages
from syre_tune.data._torchvision import TorchvisionSource

__all__ = ["DATASETS", "check", "load", "sizes"]


class Source(Protocol):
    def check(self, root: Path, download: bool) -> None: ...

    def read(self, root: Path, download: bool) -> TensorData: ...

    @property
    def sizes(self) -> Sizes: ...


_SOURCES: dict[str, Source] = {
    "mnist": TorchvisionSource("mnist", "MNIST"),
    "fashion_mnist": TorchvisionSource("fashion_mnist", "FashionMNIST"),
    "digits": DigitsSource(),
    "cifar10": CifarSource("cifar10", "CIFAR10", 10),
    "cifar100": CifarSource("cifar100", "CIFAR100", 100),
    "synthetic_cifar10": SyntheticImages("synthetic_cifar10", 10),
    "synthetic_cifar100": SyntheticImages("synthetic_cifar100", 100),
}
DATASETS: tuple[str, ...] = tuple(_SOURCES)


def _source(name: str) -> Source:
    if name in _SOURCES:
        return _SOURCES[name]
    close = difflib.get_close_matches(str(name).lower(), DATASETS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DataError(str(name), f"unknown data set; expected one of {', '.join(DATASETS)}{hint}")


def check(name: str, *, root: str | Path | None = None, download: bool = False) -> None:
    """Raise DataError if ``load(name, root=root, download=download)`` would find no data.

    Fast (looks for files, reads none), so a study can fail at load time before anything is written.
    """
    _source(name).check(data_root(root), download)


def sizes(name: str, *, train_size: int | None = None, test_size: int | None = None) -> Sizes:
    """What ``load(name, train_size=, test_size=)`` returns, in sizes, without reading any file
    (the published split sizes of a real data set; a copy on disk is taken to be complete)."""
    return _source(name).sizes.kept(train_size, test_size)


def load(
    name: str,
    *,
    root: str | Path | None = None,
    download: bool = False,
    device: str | torch.device = "cpu",
    train_size: int | None = None,
    test_size: int | None = None,
    normalize: bool = True,
) -> TensorData:
    """The data set ``name`` (one of DATASETS) as tensors on ``device``.

    root: the data root (see ``data_root``: this, else $SYRE_DATA, else ~/.cache/syre-tune/data).
    download: fetch the files into root when they are missing (never otherwise).
    train_size, test_size: keep only the first n examples of each split, in the set's fixed order.
    normalize: standardise inputs with the (kept) training set's mean and std, applied to train and
        test: one scalar each for one-channel images, one per channel for colour images (the usual
        CIFAR normalisation); otherwise pixels are in [0, 1].
    """
    source = _source(name)
    data = source.read(data_root(root), download)
    x_train, y_train = _first(name, "train_size", data.x_train, data.y_train, train_size)
    x_test, y_test = _first(name, "test_size", data.x_test, data.y_test, test_size)
    if normalize:
        per_channel = x_train.ndim == 4 and x_train.shape[1] > 1
        std, mean = torch.std_mean(x_train, dim=(0, 2, 3) if per_channel else None, correction=0, keepdim=per_channel)
        std = torch.where(std > 0, std, torch.ones_like(std))  # a constant image set stays finite
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    data = TensorData(data.name, x_train, y_train, x_test, y_test, data.num_classes)
    return data.to(device)


def _first(name: str, key: str, x: torch.Tensor, y: torch.Tensor, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n examples (all when n is None); copies, so the full set can be freed."""
    if n is None:
        return x, y
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(y):
        raise DataError(name, f"{key} must be an integer in [1, {len(y)}] (the examples available), got {n!r}")
    return x[:n].clone(), y[:n].clone()
