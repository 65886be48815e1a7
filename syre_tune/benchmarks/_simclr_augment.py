"""SimCLR's augmentations for CIFAR (Chen et al. 2020, Appendix B.9), for a whole batch on its device,
with per-image random parameters drawn from an explicit ``torch.Generator``.

    gen = torch.Generator().manual_seed(seed)        # CPU: the same draws on every device
    view = simclr_view(images, gen, strength=0.5)    # images (N, 3, H, W) in [0, 1]

One view is, per image and in this order (torchvision's pipeline ``RandomResizedCrop(32) →
RandomHorizontalFlip() → RandomApply([ColorJitter(0.8s, 0.8s, 0.8s, 0.2s)], p=0.8) →
RandomGrayscale(p=0.2)``; no Gaussian blur on CIFAR):

- random resized crop: area share U(0.08, 1), aspect ratio log-uniform in [3/4, 4/3]; 10 tries as
  torchvision's ``RandomResizedCrop.get_params``, else the whole image; the crop resized back to H×W
  bilinearly (``antialias`` plays no part: a crop is never larger than the image);
- horizontal flip with probability 1/2;
- with probability 0.8, colour jitter of strength s: brightness, contrast and saturation factors
  U(1 − 0.8s, 1 + 0.8s), hue shift U(−0.2s, 0.2s), applied in a random order per image (as
  torchvision's ``ColorJitter`` draws one order per call; every op is computed for the whole batch
  and kept where chosen, which costs elementwise work but never waits for the device);
- with probability 0.2, grayscale (ITU-R 601-2 luma, copied to the three channels).

Each operation is the formula of torchvision's functional op (``adjust_brightness`` ...), which the
tests use as the reference per image. torchvision's transforms themselves draw one set of parameters
per call, so applied to a batch they would augment every image the same way.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "crop_boxes",
    "grayscale",
    "resized_crop",
    "simclr_view",
]

LUMA = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights
CROP_TRIES = 10


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n,) draws U(low, high) from ``gen`` (on its own device), moved to ``device``."""
    return (low + (high - low) * torch.rand(n, generator=gen, device=gen.device)).to(device)


def _per_image(factor: torch.Tensor) -> torch.Tensor:
    return factor.view(-1, 1, 1, 1)


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) luma 0.2989 R + 0.587 G + 0.114 B of images (N, 3, H, W)."""
    r, g, b = images.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def adjust_brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """clamp(f · x, 0, 1) with one factor f per image (N,)."""
    return (_per_image(factor) * images).clamp(0.0, 1.0)


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """clamp(f · x + (1 − f) · m, 0, 1), m the image's mean luma."""
    mean = grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
    f = _per_image(factor)
    return (f * images + (1.0 - f) * mean).clamp(0.0, 1.0)


def adjust_saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """clamp(f · x + (1 − f) · luma(x), 0, 1) per pixel."""
    f = _per_image(factor)
    return (f * images + (1.0 - f) * grayscale(images)).clamp(0.0, 1.0)


def adjust_hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """The hue (in turns, [0, 1)) of every pixel moved by ``shift`` (N,) in [−0.5, 0.5], through HSV."""
    top, _ = images.max(dim=1)  # (N, H, W): V
    bottom, _ = images.min(dim=1)
    spread = top - bottom
    grey = spread == 0
    saturation = spread / torch.where(top == 0, torch.ones_like(top), top)
    safe = torch.where(grey, torch.ones_like(spread), spread)
    r, g, b = images.unbind(1)
    hue = torch.where(
        top == r,
        (g - b) / safe,
        torch.where(top == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe),
    )  # in sixths of a turn, in [−1, 5)
    hue = torch.where(grey, torch.zeros_like(hue), hue / 6.0)
    hue = torch.remainder(hue + shift.view(-1, 1, 1), 1.0)
    # back to RGB: channel c is V − V·S·clamp(min(k, 4 − k), 0, 1), k = (n + 6h) mod 6, n = 5, 3, 1
    n = torch.tensor([5.0, 3.0, 1.0], device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    k = torch.remainder(n + 6.0 * hue.unsqueeze(1), 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    value, chroma = top.unsqueeze(1), (top * saturation).unsqueeze(1)
    return (value - chroma * ramp).clamp(0.0, 1.0)


def crop_boxes(
    n: int,
    height: int,
    width: int,
    gen: torch.Generator,
    *,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """(n, 4) int64 boxes (top, left, box height, box width) on the CPU: torchvision's
    ``RandomResizedCrop.get_params`` for n images at once (the first of 10 tries that fits; the
    whole image, centred and clipped to ``ratio``, when none does)."""
    area = height * width
    shape = (n, CROP_TRIES)
    target = area * (scale[0] + (scale[1] - scale[0]) * torch.rand(shape, generator=gen, device=gen.device))
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_low + (log_high - log_low) * torch.rand(shape, generator=gen, device=gen.device))
    box_w = torch.round(torch.sqrt(target * aspect)).long().cpu()
    box_h = torch.round(torch.sqrt(target / aspect)).long().cpu()
    fits = (box_w > 0) & (box_w <= width) & (box_h > 0) & (box_h <= height)
    # where each try would be placed: uniform offsets in [0, H − h] and [0, W − w]
    u_top = torch.rand(shape, generator=gen, device=gen.device).cpu()
    u_left = torch.rand(shape, generator=gen, device=gen.device).cpu()
    first = torch.where(fits.any(1), fits.long().argmax(1), torch.zeros(n, dtype=torch.long))
    rows = torch.arange(n)
    h, w = box_h[rows, first], box_w[rows, first]
    top = torch.floor(u_top[rows, first] * (height - h + 1).clamp(min=1)).long()
    left = torch.floor(u_left[rows, first] * (width - w + 1).clamp(min=1)).long()
    # fallback: torchvision's centre crop of the whole image at the nearest allowed aspect ratio
    in_ratio = width / height
    fall_w, fall_h = width, height
    if in_ratio < min(ratio):
        fall_h = round(width / min(ratio))
    elif in_ratio > max(ratio):
        fall_w = round(height * max(ratio))
    none = ~fits.any(1)
    h = torch.where(none, torch.full_like(h, fall_h), h)
    w = torch.where(none, torch.full_like(w, fall_w), w)
    top = torch.where(none, torch.full_like(top, (height - fall_h) // 2), top)
    left = torch.where(none, torch.full_like(left, (width - fall_w) // 2), left)
    return torch.stack([top, left, h, w], dim=1)


def resized_crop(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Each image's box (top, left, h, w) resized back to the image's H×W, bilinear with
    ``align_corners=False`` (torch's ``interpolate`` on the cropped image, sampled in one
    ``grid_sample`` call: output pixel u reads the crop at (u + ½)·w/W − ½, clamped to the crop)."""
    n, _, height, width = images.shape
    boxes = boxes.to(device=images.device, dtype=images.dtype)
    top, left, box_h, box_w = boxes.unbind(1)

    def source(offset: torch.Tensor, size: torch.Tensor, out: int) -> torch.Tensor:  # (N, out) pixel coords
        u = torch.arange(out, device=images.device, dtype=images.dtype)
        inside = ((u[None, :] + 0.5) * (size[:, None] / out) - 0.5).clamp(min=0.0)
        inside = torch.minimum(inside, size[:, None] - 1.0)
        return offset[:, None] + inside

    ys, xs = source(top, box_h, height), source(left, box_w, width)
    grid_y = (2.0 * ys + 1.0) / height - 1.0  # grid_sample's normalised coordinates (align_corners=False)
    grid_x = (2.0 * xs + 1.0) / width - 1.0
    grid = torch.stack(
        [grid_x[:, None, :].expand(n, height, width), grid_y[:, :, None].expand(n, height, width)], dim=-1
    )
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


_JITTERS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


def simclr_view(
    images: torch.Tensor,
    gen: torch.Generator,
    *,
    strength: float = 0.5,
    jitter_p: float = 0.8,
    grayscale_p: float = 0.2,
) -> torch.Tensor:
    """One SimCLR view of every image (N, 3, H, W) in [0, 1] (see the module docstring); every
    random number comes from ``gen``, drawn on its device, in a fixed order."""
    n, _, height, width = images.shape
    device = images.device
    x = resized_crop(images, crop_boxes(n, height, width, gen))
    mirror = _uniform(n, 0.0, 1.0, gen, device) < 0.5
    x = torch.where(mirror.view(-1, 1, 1, 1), x.flip(-1), x)

    jitter = _uniform(n, 0.0, 1.0, gen, device) < jitter_p
    spread = 0.8 * strength
    factors = [_uniform(n, max(0.0, 1.0 - spread), 1.0 + spread, gen, device) for _ in range(3)]
    factors.append(_uniform(n, -0.2 * strength, 0.2 * strength, gen, device))  # hue shift
    order = torch.rand(n, 4, generator=gen, device=gen.device).argsort(1).to(device)  # a random order per image
    skip = torch.full_like(order[:, 0], -1)
    for position in range(4):  # every op on every image, kept where chosen: no host-device sync
        chosen = torch.where(jitter, order[:, position], skip).view(-1, 1, 1, 1)
        jittered = x
        for op, (adjust, factor) in enumerate(zip(_JITTERS, factors)):
            jittered = torch.where(chosen == op, adjust(x, factor), jittered)
        x = jittered

    gray = _uniform(n, 0.0, 1.0, gen, device) < grayscale_p
    return torch.where(gray.view(-1, 1, 1, 1), grayscale(x).expand_as(x), x)
