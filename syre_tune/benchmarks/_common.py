"""What every benchmark shares: the method knobs, the report callback, config building.

A benchmark module defines ``NAME``, ``METRICS`` (the first is the loss whose NaN/inf means the
run diverged, unless ``LOSS`` names another), a frozen ``Config`` dataclass that extends
:class:`Common`, and ``run(cfg, report, resume=None)``. It never imports Ray: the runner adapts it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

__all__ = [
    "METHODS",
    "METHOD_KNOBS",
    "above",
    "at_least",
    "Common",
    "ConfigError",
    "DataConfig",
    "Report",
    "build_config",
    "check_data",
    "config_fields",
    "unused_knobs",
    "load_data",
]

Method = Literal[
    "syre", "weight_decay", "w_fix", "dropout", "vanilla", "sigma_asym", "l2_init", "shrink_perturb", "redo"
]
METHODS: tuple[str, ...] = typing.get_args(Method)

# Which swept knobs each method reads; the others are stored as null in the results.
METHOD_KNOBS: dict[str, tuple[str, ...]] = {
    "syre": ("sigma0", "sigma_d", "gamma"),
    "weight_decay": ("gamma",),
    "w_fix": ("phi", "kappa"),
    "dropout": ("dropout",),
    "vanilla": (),
    "sigma_asym": (),
    "l2_init": ("gamma",),
    "shrink_perturb": ("shrink", "perturb"),
    "redo": ("redo_tau", "redo_every"),
}


_ALL_KNOBS = frozenset(knob for knobs in METHOD_KNOBS.values() for knob in knobs)


def unused_knobs(method: str | None) -> frozenset[str]:
    """The other methods' knobs, which ``method`` does not read (stored as null, not shown in
    labels); none for a method not in METHOD_KNOBS (nothing is known about it)."""
    if method not in METHOD_KNOBS:
        return frozenset()
    return _ALL_KNOBS - set(METHOD_KNOBS[method])


class ConfigError(ValueError):
    """A configuration value is wrong: names the key, the value and what was expected."""

    def __init__(self, key: str, value: object, expected: str) -> None:
        self.key, self.value, self.expected = key, value, expected
        super().__init__(f"{key}: expected {expected}, got {value!r}")

    def __reduce__(self) -> tuple:  # copy and pickle (Ray does both to errors raised in trials)
        return (type(self), (self.key, self.value, self.expected))


@dataclass(frozen=True)
class Common:
    """Fields every benchmark has."""

    # --- infrastructure
    seeds: tuple[int, ...] = (0,)
    """Seeds run inside this trial as one vectorised batch; one result row per seed."""
    device: str = "cpu"
    """Torch device the trial runs on (the runner sets it from the resources Ray assigned)."""

    # --- method (paper Eq. 6-7 and the baselines of §6)
    method: Method = "syre"
    """syre | weight_decay | w_fix | dropout | vanilla | sigma_asym | l2_init | shrink_perturb | redo (the
    benchmark's METHODS say which it runs)."""
    sigma0: float = 0.0
    """Scale of the static bias θ0 (syre)."""
    sigma_d: float = 0.0
    """Std of the entries of D (syre, Eq. 7)."""
    gamma: float = 0.0
    """Weight decay γ of the penalty γ‖θ‖²_D (syre, weight_decay; l2_init's λ in λ‖θ − θ_init‖²)."""
    phi: float = 0.0
    """Fraction of weights held fixed (w_fix)."""
    kappa: float = 0.01
    """Std of the fixed weights' values (w_fix; Lim et al.'s mask_constant, the paper's κ = 0.01)."""
    dropout: float = 0.0
    """Dropout rate (dropout)."""
    shrink: float = 1e-3
    """Shrink & Perturb's 1 − p in θ ← pθ + σε, applied after every step (shrink_perturb; Kumar et al.: 1e-3)."""
    perturb: float = 1e-2
    """Shrink & Perturb's σ, the scale of ε drawn from the initialisation distribution (shrink_perturb; Kumar et
    al.: 1e-2)."""
    redo_tau: float = 0.1
    """ReDo: a unit whose score E|h_i| / mean_j E|h_j| is <= τ is dormant and recycled (redo; Sokar et al.:
    0.025–0.1)."""
    redo_every: int = 1000
    """ReDo: optimizer steps between two recyclings (redo; Sokar et al.'s F: 100–1000)."""

    def __post_init__(self) -> None:
        at_least(self, 0, "sigma0", "sigma_d", "gamma", "kappa", "perturb", "redo_tau", expected="a number >= 0")
        at_least(self, 1, "redo_every")
        if not 0.0 <= self.shrink < 1.0:
            raise ConfigError("shrink", self.shrink, "a number in [0, 1) (θ ← (1 − shrink)·θ + perturb·ε)")
        if self.sigma_d >= 1 / math.sqrt(3):
            raise ConfigError("sigma_d", self.sigma_d, "a number < 1/√3 ≈ 0.577 (so that D > 0)")
        if not 0.0 <= self.phi <= 1.0:
            raise ConfigError("phi", self.phi, "a fraction in [0, 1]")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout", self.dropout, "a rate in [0, 1)")
        if not self.seeds:
            raise ConfigError("seeds", self.seeds, "at least one seed")


def at_least(cfg: Any, minimum: float, *keys: str, expected: str | None = None) -> None:
    """ConfigError for the first of ``keys`` whose value is below ``minimum`` (a config's range check)."""
    for key in keys:
        value = getattr(cfg, key)
        if value is not None and value < minimum:
            raise ConfigError(key, value, expected or f"an integer >= {minimum:g}")


def above(cfg: Any, minimum: float, *keys: str) -> None:
    """ConfigError for the first of ``keys`` whose value is not above ``minimum``."""
    for key in keys:
        value = getattr(cfg, key)
        if value is not None and value <= minimum:
            raise ConfigError(key, value, f"a number > {minimum:g}")


class Report(Protocol):
    """Called by a benchmark at each reporting point: one value per seed for every metric.

    ``state`` (a mapping, or a callable returning one, evaluated only when the runner checkpoints)
    holds tensors, numbers and lists that let ``run(cfg, report, resume=state)`` continue right
    after ``iteration``: the benchmark's progress counter, parameters, optimiser and RNG states.
    θ0 and D are not in it: they are redrawn from the seeds. It must load with
    ``torch.load(weights_only=True)``: no pickled objects.
    """

    def __call__(
        self, iteration: int, metrics: Mapping[str, Any], state: Mapping[str, Any] | Callable[[], Any] | None = None
    ) -> None: ...


def config_fields(config_cls: type) -> dict[str, Any]:
    """{field name: resolved type annotation} of a config dataclass."""
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def _coerce(key: str, value: object, annotation: Any) -> object:
    """Check ``value`` against ``annotation``; return it in the field's type."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(key, value, f"one of {list(allowed)}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg)
            except ConfigError as error:
                errors.append(error.expected)
        raise ConfigError(key, value, " or ".join(errors))
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)):
            raise ConfigError(key, value, "a list")
        (item_type, *_rest) = typing.get_args(annotation) or (object,)
        return tuple(_coerce(f"{key}[{i}]", v, item_type) for i, v in enumerate(value))
    if isinstance(value, np.generic):
        value = value.item()
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, value, "true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(key, value, "an integer")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(key, value, "a finite number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(key, value, "a string")
        return value
    return value


def build_config(config_cls: type, values: Mapping[str, object]) -> Any:
    """The one adapter from a flat study/Ray config mapping to a benchmark's typed config.

    Unknown keys and wrongly typed values raise :class:`ConfigError` naming the key.
    """
    fields = config_fields(config_cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(unknown[0], values[unknown[0]], f"a key of {config_cls.__module__}.Config: {sorted(fields)}")
    kwargs = {key: _coerce(key, value, fields[key]) for key, value in values.items()}
    try:
        return config_cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:  # a benchmark's own __post_init__ check
        raise ConfigError("config", dict(values), str(error)) from error


@dataclass(frozen=True)
class DataConfig(Common):
    """Fields of every benchmark that trains on a data set (the MNIST family, later CIFAR)."""

    # --- data
    dataset: str = "digits"
    """mnist | fashion_mnist | cifar10 | cifar100 | digits (scikit-learn's bundled 8×8 digits upsampled to
    28×28: the MNIST stand-in that ships) | synthetic_cifar10 | synthetic_cifar100 (generated 3×32×32
    class-structured images: the CIFAR stand-in). Stand-ins need no download; smoke runs and tests use them."""
    data_root: str | None = None
    """Folder holding the data sets; default $SYRE_DATA, else ~/.cache/syre-tune/data."""
    data_download: bool = False
    """Download a missing data set into data_root (needs internet)."""
    train_size: int | None = None
    """Use the first n training examples (None: all)."""
    test_size: int | None = None
    """Use the first n test examples (None: all)."""


def check_data(cfg: DataConfig) -> None:
    """The data set a trial will load is there (or may be downloaded): else one-line DataError."""
    from syre_tune import data

    data.check(cfg.dataset, root=cfg.data_root, download=cfg.data_download)


def data_sizes(cfg: DataConfig) -> Any:
    """The sizes of the data set a trial will load (:class:`syre_tune.data.Sizes`), read from no file."""
    from syre_tune import data

    return data.sizes(cfg.dataset, train_size=cfg.train_size, test_size=cfg.test_size)


def load_data(cfg: DataConfig) -> Any:
    """The trial's data set as tensors on its device (:class:`syre_tune.data.TensorData`)."""
    from syre_tune import data

    return data.load(
        cfg.dataset,
        root=cfg.data_root,
        download=cfg.data_download,
        device=cfg.device,
        train_size=cfg.train_size,
        test_size=cfg.test_size,
    )
