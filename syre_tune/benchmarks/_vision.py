"""What the CIFAR-scale vision benchmarks share (resnet_cifar, vae_posterior_collapse, simclr,
vit_cifar): their config fields for speed (bf16 autocast, channels-last, augmentation) and the
helpers that apply them.

bf16 is **autocast**, never ``model.to(bfloat16)``: parameters, syre's θ0 and D (buffers created in
the parameters' dtype by :class:`~syre_tune.Syre`), gradients and optimizer state stay fp32, and
only the matrix products inside the forward pass run in bf16. So the anchor form's decay toward θ0
and the penalty γ Σ D (φ − θ0)² are computed in fp32, and a small θ0 is never rounded away (a bf16
parameter has 8 bits of mantissa: φ = w + θ0 with |θ0| ≪ |w| would lose θ0 entirely).
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from syre_tune.benchmarks._common import ConfigError, DataConfig, check_data
from syre_tune.benchmarks._methods import Parts

__all__ = ["VisionConfig", "autocast", "check_vision", "cosine_lr", "memory_format", "to_device"]


@dataclass(frozen=True)
class VisionConfig(DataConfig):
    """Fields of every CIFAR-scale benchmark, beside the data fields."""

    # --- what the method acts on
    params: tuple[str, ...] | None = None
    """fnmatch patterns of the parameter names the method acts on (syre's θ0 and penalty, weight decay,
    ...), e.g. ["head.*"]; null: every parameter. A pattern that selects nothing is an error at load."""

    # --- speed (do not change results beyond rounding)
    precision: Literal["fp32", "bf16"] = "fp32"
    """bf16: autocast the forward and loss to bfloat16 (parameters, θ0, optimizer state stay fp32)."""
    channels_last: bool = False
    """Keep conv activations and weights channels-last (NHWC): faster convolutions on recent GPUs."""
    eval_chunk: int = 1000
    """Test images evaluated at once (memory bound; does not change results)."""


def autocast(cfg: VisionConfig) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to bf16 on the trial's device when ``cfg.precision == "bf16"``, else nothing."""
    if cfg.precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(cfg.device).type, dtype=torch.bfloat16)


def memory_format(cfg: VisionConfig) -> torch.memory_format:
    return torch.channels_last if cfg.channels_last else torch.contiguous_format


def to_device(cfg: VisionConfig, model: nn.Module) -> nn.Module:
    """The model on the trial's device in the configured memory format (parameters stay fp32)."""
    return model.to(device=cfg.device, memory_format=memory_format(cfg))


def check_vision(cfg: VisionConfig, build: Callable[[Parts], nn.Module]) -> None:
    """Before any trial (a benchmark's ``check``): the data set is there, and every ``params``
    pattern selects a parameter of the model (built on the meta device: no memory, no time)."""
    check_data(cfg)
    if cfg.params is None:
        return
    with torch.device("meta"):
        names = [name for name, _ in build(Parts(cfg.method, seed=0)).named_parameters()]
    for pattern in cfg.params:
        if not fnmatch.filter(names, pattern):
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            raise ConfigError(
                "params",
                list(cfg.params),
                f"patterns that each select a parameter ({pattern!r} selects none of {shown})",
            )


def cosine_lr(peak: float, step: int, steps: int) -> float:
    """Learning rate of step ``step`` (0-based) of ``steps``: peak·(1 + cos(π·step/steps))/2, from peak
    at step 0 to 0 after the last: PyTorch's CosineAnnealingLR(T_max=steps, eta_min=0) stepped once per
    optimisation step."""
    return peak * 0.5 * (1.0 + math.cos(math.pi * step / max(1, steps)))
