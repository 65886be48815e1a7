"""Seeded random draws that depend only on (seed, name, what), never on global RNG state.

The baselines' fixed random quantities (the W-fix mask and values, σ-Asym's mixing matrix) and the
benchmarks' initial draws come from a CPU ``torch.Generator`` seeded by a stable hash of
``(seed, name, what)``, in float32, and only then moved to the target device and dtype: the same
(seed, name) gives bit-identical values on every run, machine and device, whatever else the program
has drawn before.

syre's own θ0 and D are drawn elsewhere, by :mod:`syre_tune.functional` from the counter-based
generator of :mod:`syre_tune.kernels` (keyed by the same hash), which the fused seeded step can
regenerate element by element inside its kernel."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

__all__ = [
    "SeedGenerators",
    "fan_in",
    "fan_ins",
    "generator",
    "normal_std",
    "per_seed",
    "seeded_mask",
    "seeded_normal",
]


def generator(seed: int, name: str, what: str) -> torch.Generator:
    """A CPU generator keyed by a stable 63-bit hash of (seed, name, what)."""
    digest = hashlib.blake2b(f"{int(seed)}\x1f{name}\x1f{what}".encode(), digest_size=8).digest()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
    return gen


def fan_in(shape: torch.Size | tuple[int, ...]) -> int:
    """numel / shape[0] for tensors of 2+ dims (a Linear's in_features, a Conv's in·k·k); numel for
    1-D and 0-D tensors (biases, norm scales)."""
    numel = math.prod(shape)
    if len(shape) >= 2:
        return max(1, numel // shape[0])
    return max(1, numel)


def fan_ins(shapes: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """The fan-in that sets each named tensor's relative θ0 scale: :func:`fan_in` of its own shape,
    except for a bias, which takes its layer's fan-in as torch's own initialisation does.

    A bias is a 0/1-D tensor whose name ends in ``bias`` (``fc.bias``, ``attn.in_proj_bias``) beside
    a 2+-D tensor of the same name with ``weight`` in its place (``fc.weight``,
    ``attn.in_proj_weight``): ``Linear(400, 5)``'s bias gets std σ0/√400, as its weight, not σ0/√5.
    Other 1-D tensors (a norm layer's scale and shift, a CLS token) keep their own length.
    """
    out = {}
    for name, shape in shapes.items():
        layer = None
        if len(shape) <= 1 and name.endswith("bias"):
            layer = shapes.get(name[: -len("bias")] + "weight")
        out[name] = fan_in(tuple(layer)) if layer is not None and len(layer) >= 2 else fan_in(tuple(shape))
    return out


def normal_std(sigma0: float, shape: torch.Size | tuple[int, ...], relative: bool, fan: int | None = None) -> float:
    """The std of θ0 for a tensor: σ0/√fan_in when ``relative`` (the paper states σ0 in units of
    1/√d, §5.4), else σ0. ``fan``: the fan-in to use instead of the shape's (a bias's layer's,
    :func:`fan_ins`)."""
    return sigma0 / math.sqrt(fan if fan is not None else fan_in(shape)) if relative else sigma0


def seeded_normal(
    shape: torch.Size | tuple[int, ...],
    std: float,
    *,
    seed: int,
    name: str,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """θ0 ~ N(0, std²) of ``shape``, deterministic in (seed, name)."""
    gen = generator(seed, name, "theta0")
    # Draw in float32 (the same bits whatever the target dtype), scale in the target dtype.
    values = torch.randn(tuple(shape), generator=gen, dtype=torch.float32)
    return values.to(device=device, dtype=dtype or torch.get_default_dtype()) * std


def seeded_mask(
    shape: torch.Size | tuple[int, ...],
    fraction: float,
    *,
    seed: int,
    name: str,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A boolean mask with exactly round(fraction · numel) True entries at seeded positions
    (W-fix, Lim et al. 2024: the fixed weights)."""
    numel = math.prod(shape)
    count = round(fraction * numel)
    gen = generator(seed, name, "mask")
    chosen = torch.randperm(numel, generator=gen)[:count]
    mask = torch.zeros(numel, dtype=torch.bool)
    mask[chosen] = True
    return mask.reshape(tuple(shape)).to(device=device)


def per_seed(draw, seeds: tuple[int, ...], shape: tuple[int, ...], name: str, **kwargs) -> torch.Tensor:
    """One seeded draw per seed, stacked: (len(seeds), *shape). Each row depends only on its own
    seed, so a vectorised benchmark gives a seed the same values whatever batch it runs in."""
    return torch.stack([draw(shape, seed=seed, name=name, **kwargs) for seed in seeds])


class SeedGenerators:
    """One generator per seed, each keyed by (seed, name, what), with one ``state_dict`` (tensors and
    lists) for a checkpoint: the random streams a loop draws from after setup (augmentation, dropout,
    Shrink & Perturb's noise). On a CUDA ``device`` each is a device generator seeded the same way
    (its draws then differ from the CPU's); by default they live on the CPU, so every device sees
    the same draws."""

    def __init__(self, seeds: Sequence[int], name: str, what: str, *, device: torch.device | str | None = None) -> None:
        self.generators = []
        for seed in seeds:
            gen = generator(seed, name, what)
            if device is not None and torch.device(device).type != "cpu":
                gen = torch.Generator(device=device)
                gen.manual_seed(generator(seed, name, what).initial_seed())
            self.generators.append(gen)

    def __getitem__(self, k: int) -> torch.Generator:
        return self.generators[k]

    def __iter__(self) -> Iterator[torch.Generator]:
        return iter(self.generators)

    def __len__(self) -> int:
        return len(self.generators)

    def state_dict(self) -> dict[str, list]:
        return {"generators": [gen.get_state() for gen in self.generators]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for gen, saved in zip(self.generators, state["generators"], strict=True):
            gen.set_state(saved.cpu())
