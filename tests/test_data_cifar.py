"""CIFAR loaders on tiny files written in CIFAR's own pickled-batch format, the generated stand-in,
and the on-device crop-and-flip against a per-image reference."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from syre_tune.data import DataError, check, crop_flip, load

LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", 100),
}


def write_cifar(root: Path, name: str, *, per_file: int = 4, seed: int = 0) -> dict[str, tuple[np.ndarray, list]]:
    """Krizhevsky's format: per file a pickled dict, ``data`` (n, 3072) uint8 (R, G, B planes, each
    row-major 32×32) and ``labels`` / ``fine_labels``."""
    folder, train, test, key, classes = LAYOUT[name]
    (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, files in (("train", train), ("test", test)):
        datas, labels = [], []
        for file in files:
            data = rng.integers(0, 256, size=(per_file, 3072), dtype=np.uint8)
            label = rng.integers(0, classes, size=per_file).tolist()
            with open(root / folder / file, "wb") as f:
                pickle.dump({"data": data, key: label, "batch_label": file}, f)
            datas.append(data)
            labels += label
        arrays[split] = (np.concatenate(datas), labels)
    return arrays


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_loader_returns_the_files_pixels_and_labels(tmp_path: Path, name: str) -> None:
    arrays = write_cifar(tmp_path, name)
    check(name, root=tmp_path)
    data = load(name, root=tmp_path, normalize=False)
    data_rows, labels = arrays["train"]
    assert data.x_train.shape == (len(labels), 3, 32, 32) and data.num_classes == LAYOUT[name][4]
    # pixel (c, r, k) of image i is byte c·1024 + r·32 + k of its row
    i, c, r, k = 3, 2, 5, 7
    assert data.x_train[i, c, r, k].item() == pytest.approx(data_rows[i, c * 1024 + r * 32 + k] / 255.0)
    assert data.y_train.tolist() == labels and data.y_test.tolist() == arrays["test"][1]


def test_cifar_normalisation_is_per_channel_with_training_statistics(tmp_path: Path) -> None:
    write_cifar(tmp_path, "cifar10")
    raw = load("cifar10", root=tmp_path, normalize=False)
    data = load("cifar10", root=tmp_path)
    mean = raw.x_train.double().mean(dim=(0, 2, 3), keepdim=True)
    std = raw.x_train.double().std(dim=(0, 2, 3), keepdim=True, unbiased=False)
    torch.testing.assert_close(data.x_test.double(), (raw.x_test.double() - mean) / std, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_missing_cifar_is_one_line_naming_the_folder_and_the_fixes(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError) as error:
        check(name, root=tmp_path / "nowhere")
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{name}: not found in {tmp_path / 'nowhere'}")
    assert LAYOUT[name][0] in message and "--download" in message


def test_a_corrupt_cifar_batch_is_a_data_error(tmp_path: Path) -> None:
    write_cifar(tmp_path, "cifar100")
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="unreadable batch file"):
        load("cifar100", root=tmp_path)


def test_synthetic_cifar_is_fixed_labelled_a_stand_in_and_learnable() -> None:
    a, b = load("synthetic_cifar10", normalize=False), load("synthetic_cifar10", normalize=False)
    assert torch.equal(a.x_train, b.x_train) and "stand-in" in a.name
    assert a.x_train.shape == (5000, 3, 32, 32) and 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert torch.bincount(a.y_train).tolist() == [500] * 10
    # nearest class mean on unshifted pixels already beats chance by far: the classes carry signal
    means = torch.stack([a.x_train[a.y_train == c].mean(0) for c in range(10)])
    guess = torch.cdist(a.x_test.flatten(1), means.flatten(1)).argmin(1)
    assert (guess == a.y_test).float().mean() > 0.5


def test_crop_flip_is_a_padded_crop_then_mirror_per_image() -> None:
    x = torch.randn(6, 3, 8, 8)
    out = crop_flip(x, torch.Generator().manual_seed(1), padding=2)
    # reference, one image at a time, with the same draws in the same order
    gen = torch.Generator().manual_seed(1)
    top = torch.randint(0, 5, (6,), generator=gen)
    left = torch.randint(0, 5, (6,), generator=gen)
    mirror = torch.rand(6, generator=gen) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):
        want = padded[i, :, top[i] : top[i] + 8, left[i] : left[i] + 8]
        if mirror[i]:
            want = want.flip(-1)
        torch.testing.assert_close(out[i], want)
    assert mirror.any() and not mirror.all()  # both branches exercised
