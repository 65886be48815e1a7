"""What every data set shares: the error, the tensors it becomes, where its files live."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["DATA_ENV", "DEFAULT_DATA_ROOT", "DataError", "TensorData", "data_root", "not_found", "torchvision_class"]

DATA_ENV = "SYRE_DATA"
"""Environment variable naming the data root when a study sets no ``data_root``."""
DEFAULT_DATA_ROOT = Path("~/.cache/syre-tune/data")
"""Where data sets live when neither a study's ``data_root`` nor ``$SYRE_DATA`` says otherwise."""


class DataError(ValueError):
    """A data set cannot be provided: one line naming the data set, what is wrong and how to fix it."""

    def __init__(self, dataset: str, problem: str) -> None:
        self.dataset, self.problem = dataset, problem
        # One line, whatever a wrapped library error said (a Ray status line shows only the first).
        super().__init__(" ".join(f"{dataset}: {problem}".split()))

    def __reduce__(self) -> tuple:  # copy and pickle (Ray does both to errors raised in trials)
        return (type(self), (self.dataset, self.problem))


def torchvision_class(dataset: str, class_name: str) -> type:
    """torchvision's reader of a real data set (``datasets.MNIST``, ``datasets.CIFAR10``); DataError
    naming the ``[vision]`` extra where torchvision is not installed."""
    if importlib.util.find_spec("torchvision") is None:
        raise DataError(dataset, "needs torchvision, which is not installed: pip install 'syre-tune[vision]'")
    from torchvision import datasets  # deferred: importing torchvision costs ~1 s

    return getattr(datasets, class_name)


def not_found(dataset: str, root: Path, missing: object) -> DataError:
    """The one message for a data set whose files are not under ``root`` (``missing``: the first absent)."""
    return DataError(
        dataset,
        f"not found in {root} (looked for {missing}); put the files there or set {DATA_ENV} / the "
        "study's data_root, or download it with data_download: true (or --download)",
    )


def data_root(configured: str | Path | None = None) -> Path:
    """The folder data sets are read from (and downloaded into).

    ``configured`` (a study's ``data_root``) if given, else ``$SYRE_DATA``, else
    ``~/.cache/syre-tune/data``; ``~`` is expanded. An empty string counts as not given.
    """
    if configured is not None and str(configured) != "":
        return Path(configured).expanduser()
    from_env = os.environ.get(DATA_ENV, "")
    if from_env:
        return Path(from_env).expanduser()
    return DEFAULT_DATA_ROOT.expanduser()


@dataclass(frozen=True)
class Sizes:
    """What a data set holds, known without reading it: examples per split, one input's shape and
    the number of classes."""

    train: int
    test: int
    shape: tuple[int, ...]
    classes: int

    def kept(self, train_size: int | None, test_size: int | None) -> Sizes:
        """The sizes after ``load(..., train_size=, test_size=)`` keeps the first n of each split."""
        return Sizes(train_size or self.train, test_size or self.test, self.shape, self.classes)


@dataclass(frozen=True)
class TensorData:
    """A classification data set held as whole tensors (no Dataset/DataLoader), on one device."""

    name: str
    """What goes in the results' ``config.dataset``; a stand-in says so here."""
    x_train: torch.Tensor
    """(N, C, H, W) float32 inputs."""
    y_train: torch.Tensor
    """(N,) int64 class labels in [0, num_classes)."""
    x_test: torch.Tensor
    """(M, C, H, W) float32 inputs."""
    y_test: torch.Tensor
    """(M,) int64 class labels in [0, num_classes)."""
    num_classes: int
    """Number of classes."""

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim < 2 or not x.is_floating_point():
                raise ValueError(f"x_{split} must be a floating tensor (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
            if y.ndim != 1 or y.dtype != torch.int64:
                raise ValueError(f"y_{split} must be an int64 tensor (N,), got {y.dtype} {tuple(y.shape)}")
            if len(x) != len(y):
                raise ValueError(f"x_{split} and y_{split} must have the same length, got {len(x)} and {len(y)}")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"x_train and x_test must have the same sample shape, got "
                f"{tuple(self.x_train.shape[1:])} and {tuple(self.x_test.shape[1:])}"
            )
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes=}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. (1, 28, 28)."""
        return tuple(self.x_train.shape[1:])

    @property
    def input_dim(self) -> int:
        """Number of input features, C*H*W (784 for the MNIST family)."""
        return math.prod(self.input_shape)

    @property
    def device(self) -> torch.device:
        """The device the tensors are on."""
        return self.x_train.device

    def to(self, device: str | torch.device) -> TensorData:
        """The same data on ``device`` (self when it is already there)."""
        device = torch.device(device)
        tensors = {f: getattr(self, f) for f in ("x_train", "y_train", "x_test", "y_test")}
        if all(t.device == device for t in tensors.values()):
            return self
        return dataclasses.replace(self, **{f: t.to(device) for f, t in tensors.items()})
