"""The CIFAR ResNet18 (3×3 stride-1 stem, no max-pool), at any width: torchvision's parameter names
and initialisation, shared by resnet_cifar (a classifier) and simclr (an encoder, ``num_classes=None``).
Name the variant in every figure: torchvision's ImageNet stem (7×7 stride 2 + max-pool) is another model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from syre_tune.benchmarks._methods import Parts

__all__ = ["BasicBlock", "ResNet18"]

VARIANT = "ResNet18, CIFAR variant (3×3 stride-1 stem, no max-pool)"


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with BatchNorm and a skip connection (torchvision's BasicBlock)."""

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes:  # 1×1 strided projection of the skip
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + skip)


class ResNet18(nn.Module):
    """The CIFAR ResNet18: conv 3×3 stride 1 (3 → w) → BN → ReLU → 4 stages of 2 BasicBlocks (w, 2w,
    4w, 8w channels; stride 1, 2, 2, 2: 32² → 4² pixels) → global average pool → linear (8w → classes;
    with ``num_classes=None`` no linear: the 8w pooled features, an encoder). Parameter names and
    initialisation are torchvision's resnet18's."""

    def __init__(self, parts: Parts | None = None, *, width: int = 64, num_classes: int | None = 10) -> None:
        super().__init__()
        del parts  # no per-layer nonlinearity of the method layer's (vanilla, weight_decay, syre only)
        self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)  # CIFAR stem; no max-pool
        self.bn1 = nn.BatchNorm2d(width)
        widths = (width, 2 * width, 4 * width, 8 * width)
        inplanes = width
        for stage, (planes, stride) in enumerate(zip(widths, (1, 2, 2, 2)), start=1):
            self.add_module(
                f"layer{stage}", nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes, 1))
            )
            inplanes = planes
        self.features = 8 * width
        self.fc = nn.Linear(8 * width, num_classes) if num_classes is not None else nn.Identity()
        for module in self.modules():  # torchvision's init (zero_init_residual=False); fc keeps Linear's default
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))  # (B, w, 32, 32)
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))  # (B, 8w, 4, 4)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))  # (B, classes), or (B, 8w) features
