"""Plain references the tests share: syre's θ0 and D written out by hand from the generator.

Element i (row-major) of a parameter's θ0 is std·randn(key, i) of Triton's Philox 4x32-10 (checked in
tests/test_kernels.py against Random123's known answers and against Triton itself), with
key = blake2b(seed, name, "theta0") and std = σ0/√fan_in; D's element is 1 + √3σ_D(2·rand(key', i) − 1).
"""

from __future__ import annotations

import math

import torch

from syre_tune.kernels import _philox, stream_key


def reference_theta0(
    shape: tuple[int, ...], sigma0: float, seed: int, name: str, layer: tuple[int, ...] | None = None
) -> torch.Tensor:
    """θ0 ~ N(0, (σ0/√fan_in)²) in float32, as the kernel computes it (randn·std in float32).
    ``layer``: for a bias, its layer's weight shape, whose fan-in it takes (torch's init convention)."""
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else max(1, math.prod(shape))
    if layer is not None:
        fan_in = math.prod(layer[1:])
    normal = _philox.randn(stream_key(seed, name, "theta0"), torch.arange(math.prod(shape))).reshape(shape)
    return normal * torch.tensor(sigma0 / math.sqrt(fan_in), dtype=torch.float32)


def reference_diag(shape: tuple[int, ...], sigma_d: float, seed: int, name: str) -> torch.Tensor:
    """D = 1 + U(−√3σ_D, √3σ_D) (paper Eq. 7)."""
    uniform = _philox.rand(stream_key(seed, name, "diag"), torch.arange(math.prod(shape))).reshape(shape)
    return 1.0 + (2.0 * uniform - 1.0) * math.sqrt(3.0) * sigma_d


def reference_theta0s(shapes: dict[str, tuple[int, ...]], sigma0: float, seed: int) -> dict[str, torch.Tensor]:
    """:func:`reference_theta0` for every tensor of a model of Linear/Conv layers: ``x.bias`` takes the
    fan-in of ``x.weight``."""
    layers = {name: shapes.get(name[: -len("bias")] + "weight") if name.endswith("bias") else None for name in shapes}
    return {name: reference_theta0(shape, sigma0, seed, name, layers[name]) for name, shape in shapes.items()}
