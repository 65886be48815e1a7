"""Augmentation of a whole batch on its device, with explicit randomness: no per-sample Python.

    gen = torch.Generator(device=x.device).manual_seed(seed)   # or a CPU generator: same draws anywhere
    x = crop_flip(x, gen)        # CIFAR's random crop with 4-pixel zero padding + horizontal flip

torchvision's transforms draw one set of parameters per call, so applied to a batch they would crop
every image the same way; these draw per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["crop_flip", "random_offsets"]


def random_offsets(n: int, high: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n,) integers uniform in [0, high], drawn from ``gen`` (on its device) and moved to ``device``."""
    return torch.randint(0, high + 1, (n,), generator=gen, device=gen.device).to(device)


def crop_flip(images: torch.Tensor, gen: torch.Generator, *, padding: int = 4, flip: bool = True) -> torch.Tensor:
    """Each image (N, C, H, W) zero-padded by ``padding`` on every side, cropped back to H×W at a
    random offset, and mirrored left-right with probability 1/2 (the standard CIFAR augmentation)."""
    n, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    top = random_offsets(n, 2 * padding, gen, images.device)
    left = random_offsets(n, 2 * padding, gen, images.device)
    rows = top[:, None] + torch.arange(height, device=images.device)  # (N, H)
    cols = left[:, None] + torch.arange(width, device=images.device)  # (N, W)
    if flip:
        mirror = torch.rand(n, generator=gen, device=gen.device).to(images.device) < 0.5
        cols = torch.where(mirror[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=images.device)[:, None, None]
    cropped = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C): advanced indices first
    format = torch.channels_last if images.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    return cropped.permute(0, 3, 1, 2).contiguous(memory_format=format)  # the input's memory format
