"""syre_tune.data: the real loaders on tiny files in torchvision's own layout, the digits stand-in,
the data root, the errors, and the seeded resumable batch order."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from syre_tune.data import DATASETS, Batches, DataError, TensorData, check, data_root, load, sizes

TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


# --- tiny MNIST-format files ------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format: big-endian magic (0x0000, type 0x08 = uint8, ndim), big-endian dims, bytes."""
    assert array.dtype == np.uint8
    magic = 0x0800 | array.ndim  # 2051 for images (3 dims), 2049 for labels (1 dim)
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def write_mnist(root: Path, folder: str, *, n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict:
    """Uncompressed IDX files where torchvision looks: <root>/<Class>/raw/{train,t10k}-*-ubyte."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[split] = (images, labels)
    return arrays


def test_idx_header_is_the_mnist_magic(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "y", np.zeros(3, np.uint8))
    assert struct.unpack(">IIII", (tmp_path / "x").read_bytes()[:16]) == (2051, 3, 28, 28)
    assert struct.unpack(">II", (tmp_path / "y").read_bytes()[:8]) == (2049, 3)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_torchvision_loader_returns_the_files_pixels_and_labels(tmp_path: Path, name: str) -> None:
    arrays = write_mnist(tmp_path, TORCHVISION_FOLDERS[name])
    check(name, root=tmp_path)  # present: no error
    data = load(name, root=tmp_path, normalize=False)
    assert isinstance(data, TensorData) and data.name == name and data.num_classes == 10
    assert data.input_shape == (1, 28, 28) and data.input_dim == 784
    for split in ("train", "test"):
        images, labels = arrays[split]
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        assert x.dtype == torch.float32 and x.shape == (len(labels), 1, 28, 28)
        assert y.dtype == torch.int64
        torch.testing.assert_close(x, torch.from_numpy(images).float().unsqueeze(1) / 255, rtol=0, atol=0)
        assert y.tolist() == labels.tolist()


def test_the_two_torchvision_sets_read_their_own_folders(tmp_path: Path) -> None:
    mnist = write_mnist(tmp_path, "MNIST", seed=1)
    fashion = write_mnist(tmp_path, "FashionMNIST", seed=2)
    assert load("mnist", root=tmp_path).y_train.tolist() == mnist["train"][1].tolist()
    assert load("fashion_mnist", root=tmp_path).y_train.tolist() == fashion["train"][1].tolist()


def test_normalize_standardises_with_the_training_statistics(tmp_path: Path) -> None:
    write_mnist(tmp_path, "MNIST")
    raw = load("mnist", root=tmp_path, normalize=False)
    data = load("mnist", root=tmp_path)
    assert abs(data.x_train.mean().item()) < 1e-5
    assert abs(data.x_train.std(correction=0).item() - 1) < 1e-5
    # The test set uses the training set's mean and std (one scalar each), not its own.
    std, mean = torch.std_mean(raw.x_train, correction=0)
    torch.testing.assert_close(data.x_test, (raw.x_test - mean) / std)


def test_train_size_and_test_size_take_the_first_examples(tmp_path: Path) -> None:
    write_mnist(tmp_path, "MNIST")
    full = load("mnist", root=tmp_path, normalize=False)
    small = load("mnist", root=tmp_path, normalize=False, train_size=7, test_size=3)
    torch.testing.assert_close(small.x_train, full.x_train[:7])
    assert small.y_train.tolist() == full.y_train[:7].tolist()
    torch.testing.assert_close(small.x_test, full.x_test[:3])
    with pytest.raises(DataError, match=r"train_size must be an integer in \[1, 20\].*got 21"):
        load("mnist", root=tmp_path, train_size=21)
    with pytest.raises(DataError, match="test_size"):
        load("mnist", root=tmp_path, test_size=0)


# --- missing data, unknown names, the data root -----------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_missing_files_give_one_line_naming_the_set_the_folder_and_the_fixes(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError) as error:
        load(name, root=tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{name}: not found in {tmp_path} ")
    assert f"{TORCHVISION_FOLDERS[name]}/raw/train-images-idx3-ubyte" in message
    assert "SYRE_DATA" in message and "data_root" in message and "download" in message
    with pytest.raises(DataError) as from_check:
        check(name, root=tmp_path)
    assert str(from_check.value) == message
    assert isinstance(error.value, ValueError)


def test_check_names_the_first_missing_file_and_reads_nothing(tmp_path: Path, monkeypatch) -> None:
    write_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    import torchvision.datasets

    def no_loading(*args, **kwargs):
        raise AssertionError("check must not construct the dataset")

    monkeypatch.setattr(torchvision.datasets.MNIST, "__init__", no_loading)
    with pytest.raises(DataError, match=r"looked for MNIST/raw/t10k-labels-idx1-ubyte\)"):
        check("mnist", root=tmp_path)
    check("mnist", root=tmp_path, download=True)  # it may be fetched: nothing to complain about


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_without_torchvision_the_real_sets_name_the_vision_extra(tmp_path: Path, monkeypatch, name: str) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod, *a: None if mod == "torchvision" else real(mod, *a))
    with pytest.raises(
        DataError, match=rf"^{name}: needs torchvision, which is not installed: pip install 'syre-tune\[vision\]'$"
    ):
        check(name, root=tmp_path)
    assert load("digits").x_train.shape[1:] == (1, 28, 28)  # the stand-in needs no torchvision


def test_unreadable_files_are_a_data_error(tmp_path: Path) -> None:
    write_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x0d\x09garbage")
    with pytest.raises(DataError, match="mnist: unreadable files in") as error:
        load("mnist", root=tmp_path)
    assert "\n" not in str(error.value)


def test_unknown_name_lists_the_data_sets_and_suggests_one() -> None:
    with pytest.raises(DataError) as error:
        load("mnsit")
    message = str(error.value)
    assert message.startswith("mnsit: unknown data set")
    assert all(name in message for name in DATASETS)
    assert "did you mean 'mnist'?" in message
    with pytest.raises(DataError, match="unknown data set"):
        check("cifar-1000")


def test_data_error_survives_pickling() -> None:
    error = DataError("mnist", "not found in /x")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is DataError and str(copy) == str(error) == "mnist: not found in /x"
    assert copy.dataset == "mnist"


def test_data_root_precedence(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SYRE_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "syre-tune" / "data"
    monkeypatch.setenv("SYRE_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(None) == tmp_path / "env"
    assert data_root(tmp_path / "configured") == tmp_path / "configured"
    assert data_root(str(tmp_path / "configured")) == tmp_path / "configured"
    assert data_root("~/data") == tmp_path / "home" / "data"


def test_load_reads_syre_data_when_no_root_is_given(tmp_path: Path, monkeypatch) -> None:
    arrays = write_mnist(tmp_path, "MNIST")
    monkeypatch.setenv("SYRE_DATA", str(tmp_path))
    check("mnist")
    assert load("mnist").y_test.tolist() == arrays["test"][1].tolist()


# --- digits: the MNIST stand-in ---------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> TensorData:
    return load("digits", normalize=False)


def test_digits_is_mnist_shaped_and_named_a_stand_in(digits: TensorData) -> None:
    assert "digits" in DATASETS
    check("digits")
    assert digits.x_train.shape == (1497, 1, 28, 28) and digits.x_test.shape == (300, 1, 28, 28)
    assert digits.y_train.shape == (1497,) and digits.y_test.shape == (300,)
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    assert digits.num_classes == 10 and digits.input_dim == 784
    assert "stand-in" in digits.name and "load_digits" in digits.name
    for x in (digits.x_train, digits.x_test):
        assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.9


def test_digits_split_matches_sklearn_under_an_independent_recomputation(digits: TensorData) -> None:
    from sklearn.datasets import load_digits

    images, target = load_digits(return_X_y=True)  # (1797, 64) in 0..16
    order = np.random.RandomState(0).permutation(1797)
    train, test = order[:1497], order[1497:]
    assert sorted([*train, *test]) == list(range(1797))
    assert digits.y_train.tolist() == target[train].tolist()
    assert digits.y_test.tolist() == target[test].tolist()
    small = torch.tensor(images[test] / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    expected = F.interpolate(small, size=(28, 28), mode="bilinear", align_corners=False)
    torch.testing.assert_close(digits.x_test, expected)


def test_digits_normalized_and_subset(digits: TensorData) -> None:
    data = load("digits", train_size=100, test_size=50)
    assert data.x_train.shape == (100, 1, 28, 28) and data.x_test.shape == (50, 1, 28, 28)
    assert data.y_train.tolist() == digits.y_train[:100].tolist()
    assert abs(data.x_train.mean().item()) < 1e-5 and abs(data.x_train.std(correction=0).item() - 1) < 1e-4


# --- TensorData -------------------------------------------------------------------------------


def test_tensor_data_validates_and_moves(digits: TensorData) -> None:
    assert digits.to("cpu") is digits
    moved = digits.to(torch.device("meta"))
    assert moved.x_train.device.type == "meta" and moved.y_test.device.type == "meta" and moved.name == digits.name
    with pytest.raises(ValueError, match="y_train must be an int64 tensor"):
        TensorData("x", torch.zeros(3, 1, 2, 2), torch.zeros(3), torch.zeros(2, 1, 2, 2), torch.zeros(2).long(), 2)
    with pytest.raises(ValueError, match="same length"):
        TensorData(
            "x", torch.zeros(3, 1, 2, 2), torch.zeros(2).long(), torch.zeros(2, 1, 2, 2), torch.zeros(2).long(), 2
        )


# --- Batches ----------------------------------------------------------------------------------


def epochs(batches: Batches, count: int) -> list[list[int]]:
    return [[i for _ in range(batches.batches_per_epoch) for i in batches.next().tolist()] for _ in range(count)]


def test_each_epoch_is_a_fresh_permutation_with_drop_last() -> None:
    batches = Batches(10, 3, seed=0)
    seen = epochs(batches, 4)
    for epoch in seen:
        assert len(epoch) == 9 and len(set(epoch)) == 9 and set(epoch) <= set(range(10))
    assert len({tuple(e) for e in seen}) == 4
    assert batches.epoch == 3 and batches.position == 9
    assert batches.next().shape == (3,) and batches.epoch == 4 and batches.position == 3


def test_without_drop_last_every_index_is_seen_once_per_epoch() -> None:
    batches = Batches(10, 3, seed=0, drop_last=False)
    sizes = [len(batches.next()) for _ in range(4)]
    assert sizes == [3, 3, 3, 1]
    for epoch in epochs(batches, 3):
        assert sorted(epoch) == list(range(10))


def test_batches_are_seeded_int64_on_the_device() -> None:
    first, again, other = Batches(50, 8, seed=3), Batches(50, 8, seed=3), Batches(50, 8, seed=4)
    a, b, c = epochs(first, 3), epochs(again, 3), epochs(other, 3)
    assert a == b and a != c
    idx = Batches(50, 8, seed=3, device="meta").next()
    assert idx.dtype == torch.int64 and idx.shape == (8,) and idx.device.type == "meta"
    assert Batches(50, 8, seed=3).next().dtype == torch.int64


@pytest.mark.parametrize("steps", [0, 2, 3, 7])  # fresh, mid-epoch, at an epoch's end, a later epoch
def test_state_dict_round_trip_resumes_the_same_batches(tmp_path: Path, steps: int) -> None:
    uninterrupted = Batches(10, 3, seed=11)
    for _ in range(steps):
        uninterrupted.next()
    path = tmp_path / "batches.pt"
    torch.save(uninterrupted.state_dict(), path)
    expected = [uninterrupted.next().tolist() for _ in range(10)]

    resumed = Batches(10, 3, seed=999)  # a different seed: everything must come from the state
    resumed.next()
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert [resumed.next().tolist() for _ in range(10)] == expected
    assert (resumed.epoch, resumed.position) == (uninterrupted.epoch, uninterrupted.position)


def test_batches_validate() -> None:
    with pytest.raises(ValueError, match="batch_size must be"):
        Batches(5, 6, seed=0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        Batches(0, 1, seed=0)
    with pytest.raises(ValueError, match="is for n=10"):
        Batches(12, 3, seed=0).load_state_dict(Batches(10, 3, seed=0).state_dict())
    assert Batches(5, 6, seed=0, drop_last=False).next().tolist() != []


@pytest.mark.parametrize("name", ["digits", "synthetic_cifar10"])
def test_sizes_are_what_load_returns_without_reading_a_file(name: str) -> None:
    data = load(name, train_size=40)
    found = sizes(name, train_size=40)
    loaded = (len(data.y_train), len(data.y_test), data.input_shape, data.num_classes)
    assert (found.train, found.test, found.shape, found.classes) == loaded
    assert sizes(name).train == len(load(name).y_train)


def test_sizes_of_the_real_sets_are_their_published_splits() -> None:
    published = {"mnist": (60_000, 10_000, 784, 10), "fashion_mnist": (60_000, 10_000, 784, 10)}
    published |= {"cifar10": (50_000, 10_000, 3072, 10), "cifar100": (50_000, 10_000, 3072, 100)}
    for name, expected in published.items():
        found = sizes(name)
        assert (found.train, found.test, int(np.prod(found.shape)), found.classes) == expected, name
    assert set(published) | {"digits", "synthetic_cifar10", "synthetic_cifar100"} == set(DATASETS)
