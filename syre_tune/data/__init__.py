"""Data sets as whole tensors on a device, and a seeded, resumable mini-batch order (no Ray).

    from syre_tune.data import Batches, load

    data = load("digits", device="cuda")   # or mnist, fashion_mnist, cifar10, cifar100 (files under data_root())
    batches = Batches(len(data.y_train), 128, seed=0, device=data.device)
    idx = batches.next()
    logits = model(data.x_train[idx])

Real data sets are read from ``data_root()`` and downloaded only when asked (``download=True``);
``digits`` ships with scikit-learn and stands in for MNIST where there is no data and no internet;
``synthetic_cifar10`` / ``synthetic_cifar100`` (generated colour images) stand in for CIFAR.
``crop_flip`` augments a whole batch on its device.
"""

from __future__ import annotations

from syre_tune.data._augment import crop_flip
from syre_tune.data._base import DATA_ENV, DEFAULT_DATA_ROOT, DataError, Sizes, TensorData, data_root
from syre_tune.data._batches import Batches
from syre_tune.data._registry import DATASETS, check, load, sizes

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "DEFAULT_DATA_ROOT",
    "Batches",
    "DataError",
    "Sizes",
    "TensorData",
    "check",
    "crop_flip",
    "data_root",
    "load",
    "sizes",
]
