"""The MNIST family through torchvision: read once into tensors, downloaded only when asked.

torchvision keeps each set under ``<root>/<ClassName>/raw/`` as the uncompressed IDX files named
by its ``resources`` without ``.gz`` (``train-images-idx3-ubyte``, ...); older versions kept
``<root>/<ClassName>/processed/{training,test}.pt``, which it still reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

import torch

from syre_tune.data._base import DataError, Sizes, TensorData, not_found, torchvision_class

__all__ = ["TorchvisionSource"]


@dataclass(frozen=True)
class TorchvisionSource:
    """An MNIST-shaped torchvision data set (``torchvision.datasets.<class_name>``)."""

    name: str
    """Our name for it (the registry key and ``TensorData.name``)."""
    class_name: str
    """The torchvision class: ``MNIST`` or ``FashionMNIST``."""
    num_classes: int = 10

    @property
    def sizes(self) -> Sizes:
        """MNIST and Fashion-MNIST: 60,000 / 10,000 images of 1×28×28."""
        return Sizes(60_000, 10_000, (1, 28, 28), self.num_classes)

    def _dataset_class(self) -> type:
        return torchvision_class(self.name, self.class_name)

    def _missing(self, root: Path) -> str | None:
        """The first file torchvision needs that is absent under ``root`` (relative), or None."""
        cls = self._dataset_class()
        folder = Path(self.class_name)
        legacy = [folder / "processed" / f for f in (cls.training_file, cls.test_file)]
        if all((root / f).is_file() for f in legacy):
            return None
        # The names torchvision's MNIST._check_exists looks for: each resource without ".gz".
        raw = [folder / "raw" / Path(Path(url).name).stem for url, _ in cls.resources]
        return next((str(f) for f in raw if not (root / f).is_file()), None)

    def check(self, root: Path, download: bool) -> None:
        """Raise DataError if the files are not under ``root`` and may not be downloaded."""
        missing = None if download else self._missing(root)
        if missing is not None:
            raise not_found(self.name, root, missing)

    def read(self, root: Path, download: bool) -> TensorData:
        """The whole data set: (N, 1, 28, 28) float32 in [0, 1] and int64 labels."""
        self.check(root, download)
        cls = self._dataset_class()
        try:
            train, test = (cls(str(root), train=split, download=download) for split in (True, False))
        except (URLError, OSError, RuntimeError) as error:
            doing = "download into" if download else "read"
            raise DataError(self.name, f"could not {doing} {root}: {type(error).__name__}: {error}") from error
        except (AssertionError, ValueError, TypeError) as error:  # torchvision's checks of the IDX headers
            raise DataError(self.name, f"unreadable files in {root / self.class_name}: {error!r}") from error
        return TensorData(
            name=self.name,
            x_train=_images(train.data),
            y_train=train.targets.long(),
            x_test=_images(test.data),
            y_test=test.targets.long(),
            num_classes=self.num_classes,
        )


def _images(pixels: torch.Tensor) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, H, W) float32 in [0, 1]."""
    return pixels.unsqueeze(1).to(torch.float32).div_(255.0)
