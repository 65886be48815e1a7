"""CIFAR-10 and CIFAR-100 in their own pickled-batch format, downloaded only when asked.

The files are torchvision's layout (``<root>/cifar-10-batches-py/data_batch_1..5, test_batch``;
``<root>/cifar-100-python/train, test``), the batches Krizhevsky distributes: pickled dicts with
``data`` (N, 3072) uint8 rows (1024 red, 1024 green, 1024 blue, each row-major 32×32) and ``labels``
(CIFAR-10) or ``fine_labels`` (CIFAR-100). A download goes through torchvision (which fetches and
checks the archive's md5); reading is done here, file by file, without torchvision's md5 check of
every batch, so that a data set placed by hand, or the tiny files the tests write in this format,
read the same way. Like torchvision, this unpickles the files: keep only trusted files in the data root.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch

from syre_tune.data._base import DataError, Sizes, TensorData, not_found, torchvision_class

__all__ = ["CifarSource"]


@dataclass(frozen=True)
class CifarSource:
    """CIFAR-10 (``torchvision.datasets.CIFAR10``) or CIFAR-100 (``CIFAR100``, fine labels)."""

    name: str
    """Our name for it: cifar10 or cifar100."""
    class_name: str
    """The torchvision class: CIFAR10 or CIFAR100."""
    num_classes: int

    @property
    def sizes(self) -> Sizes:
        """CIFAR-10 and CIFAR-100: 50,000 / 10,000 images of 3×32×32."""
        return Sizes(50_000, 10_000, (3, 32, 32), self.num_classes)

    def _dataset_class(self) -> type:
        return torchvision_class(self.name, self.class_name)

    def _files(self) -> tuple[Path, list[str], list[str]]:
        cls = self._dataset_class()
        return Path(cls.base_folder), [f for f, _ in cls.train_list], [f for f, _ in cls.test_list]

    def check(self, root: Path, download: bool) -> None:
        """Raise DataError if a batch file is not under ``root`` and may not be downloaded."""
        if download:
            return
        folder, train, test = self._files()
        missing = next((folder / f for f in [*train, *test] if not (root / folder / f).is_file()), None)
        if missing is not None:
            raise not_found(self.name, root, missing)

    def read(self, root: Path, download: bool) -> TensorData:
        """The whole data set: (N, 3, 32, 32) float32 in [0, 1] and int64 labels."""
        self.check(root, download)
        folder, train, test = self._files()
        if download and any(not (root / folder / f).is_file() for f in [*train, *test]):
            try:
                self._dataset_class()(str(root), train=True, download=True)
            except (URLError, OSError, RuntimeError) as error:
                raise DataError(
                    self.name, f"could not download into {root}: {type(error).__name__}: {error}"
                ) from error
        x_train, y_train = self._split(root / folder, train)
        x_test, y_test = self._split(root / folder, test)
        return TensorData(self.name, x_train, y_train, x_test, y_test, self.num_classes)

    def _split(self, folder: Path, files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for name in files:
            try:
                with open(folder / name, "rb") as file:
                    entry = pickle.load(file, encoding="latin1")
                data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
                target = entry["labels"] if "labels" in entry else entry["fine_labels"]
            except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
                raise DataError(self.name, f"unreadable batch file {folder / name}: {error!r}") from error
            if len(target) != len(data):
                raise DataError(self.name, f"{folder / name}: {len(data)} images but {len(target)} labels")
            images.append(data)
            labels.extend(target)
        y = torch.tensor(labels, dtype=torch.int64)
        if len(y) and not 0 <= int(y.min()) <= int(y.max()) < self.num_classes:
            raise DataError(self.name, f"labels outside [0, {self.num_classes}) in {folder}")
        x = torch.from_numpy(np.concatenate(images)).to(torch.float32).div_(255.0)
        return x, y
