"""ResNet18 on CIFAR-10 with syre across σ0 (paper §6.1 "ResNet", Fig. 3 middle).

Setup: the **CIFAR variant of ResNet18** — torchvision's ``resnet18`` (BasicBlocks [2, 2, 2, 2],
widths 64-128-256-512, BatchNorm, global average pooling, one linear layer), with the ImageNet stem
(7×7 stride-2 convolution and 3×3 max-pool) replaced by one 3×3 stride-1 convolution and no pooling,
as CIFAR ResNets usually are. :class:`ResNet18` writes it out with torchvision's parameter names and
initialisation (Kaiming-normal fan-out convolutions, BatchNorm γ = 1, β = 0), so at ``width`` 64 its
state dict loads into the torchvision model with that stem. ``width`` (base channels) shrinks it for
smoke runs. Each seed of a trial is its own model and optimizer (:class:`~syre_tune.benchmarks._members.Members`:
BatchNorm keeps per-model running statistics), trained side by side on its own batch order and
augmentation draws.

The paper's figure: test accuracy against σ0 for syre, with the vanilla ResNet's mean ± std over 10
trials as a band; its claim is that below σ0 = 0.2 the difference is not significant, and it
recommends σ0 ≤ 0.01. At σ0 = 0 syre *is* the weight-decayed model (θ0 = 0, penalty γ‖θ‖²).

Choices the paper leaves open (made here, each a config field):

- The recipe: the usual CIFAR ResNet one — SGD with momentum 0.9 (no Nesterov), lr 0.1 annealed by
  a cosine **per step** to 0 over ``epochs`` = 200, batch 128 (the last partial batch of each epoch
  is dropped), random crop with 4-pixel zero padding and horizontal flip done on the device for the
  whole batch (:func:`~syre_tune.data.crop_flip`), per-channel normalisation (the data module's).
- The recipe's decay, SGD ``weight_decay=5e-4`` on every parameter (BatchNorm's included), is the
  gradient of γ‖θ‖² with **γ = 2.5e-4**: that is the ``weight_decay`` method's γ and syre's γ in
  γ Σ D (φ − θ0)² (Eq. 7), so the three methods differ only in where the decay pulls (0 or θ0).
  ``vanilla`` trains with no decay at all.
- σ0 in relative units (std σ0/√fan_in per tensor; the classifier's bias takes its layer's fan-in,
  BatchNorm's 1-D scales and shifts their length), θ0 on every parameter unless ``params`` selects some; σ_D = 0.
- No early stopping, no label smoothing, no warm-up; the test set is evaluated in eval mode
  (BatchNorm running statistics).

Reported every ``report_every`` epochs (one value per seed; ``iteration`` = SGD steps done):

- ``train_loss``, ``train_accuracy``: the mean cross-entropy / accuracy of the augmented training
  batches since the previous report, in train mode (what the optimizer saw; the loss whose NaN
  marks divergence);
- ``test_loss``, ``test_accuracy``: on the whole test set, eval mode.

Speed: the data set lives on the device as one tensor; ``precision: bf16`` autocasts the forward
pass (parameters, θ0 and the optimizer state stay fp32), ``channels_last`` stores activations NHWC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from syre_tune._random import SeedGenerators
from syre_tune.benchmarks import _memory
from syre_tune.benchmarks._common import ConfigError, Report, at_least, data_sizes, load_data
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._members import Members
from syre_tune.benchmarks._methods import Parts
from syre_tune.benchmarks._resnet import ResNet18
from syre_tune.benchmarks._supervised import MemberBatches, evaluate
from syre_tune.benchmarks._vision import VisionConfig, autocast, check_vision, cosine_lr, memory_format, to_device
from syre_tune.data import crop_flip

NAME = "resnet_cifar"
METRICS = ("train_loss", "test_accuracy", "test_loss", "train_accuracy")
METHODS = ("vanilla", "weight_decay", "syre")

IMAGE_SHAPE = (3, 32, 32)


@dataclass(frozen=True)
class Config(VisionConfig):
    # --- data (CIFAR-10; the smoke study uses synthetic_cifar10)
    dataset: str = "cifar10"
    """cifar10 | cifar100 | synthetic_cifar10 | synthetic_cifar100 (3×32×32 images)."""

    # --- method (paper §6.1: σ0 swept; γ = the recipe's decay)
    sigma0: float = 0.01
    """Scale of the static bias θ0 (syre), in units of 1/√fan_in; the paper recommends ≤ 0.01."""
    gamma: float = 2.5e-4
    """γ of γ‖θ‖²_D (syre) and γ‖θ‖² (weight_decay): 2.5e-4 is the recipe's SGD weight_decay 5e-4 = 2γ."""

    # --- model
    width: int = 64
    """Channels of the first stage (64 = ResNet18; stages have width, 2·, 4·, 8·width)."""

    # --- optimisation (the usual CIFAR ResNet recipe)
    epochs: int = 200
    """Passes over the training set."""
    batch_size: int = 128
    """Mini-batch size (the last partial batch of an epoch is dropped)."""
    lr: float = 0.1
    """Peak SGD learning rate, annealed by a cosine per step to 0 at the last step."""
    momentum: float = 0.9
    """SGD momentum (heavy ball)."""
    nesterov: bool = False
    """Nesterov momentum."""
    augment: bool = True
    """Random crop (4-pixel zero padding) and horizontal flip of every training batch, on the device."""

    # --- measurement
    report_every: int = 10
    """Report every this many epochs (and after the last)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "width", "epochs", "batch_size", "report_every", "eval_chunk")
        if self.lr <= 0:
            raise ConfigError("lr", self.lr, "a number > 0")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError("momentum", self.momentum, "a number in [0, 1)")
        if self.nesterov and self.momentum == 0:
            raise ConfigError("nesterov", self.nesterov, "false when momentum is 0 (Nesterov needs momentum)")


def build(cfg: Config, num_classes: int) -> Callable[[Parts], nn.Module]:
    """The model builder the method layer calls (one ResNet18 per seed)."""
    return lambda parts: ResNet18(parts, width=cfg.width, num_classes=num_classes)


def check(cfg: Config) -> None:
    """The data set is there and every ``params`` pattern selects a parameter (names do not depend on the classes)."""
    check_vision(cfg, build(cfg, num_classes=10))


def reports(cfg: Config) -> int:
    """Rows per seed: every ``report_every`` epochs and after the last (no report before training)."""
    steps_per_epoch = data_sizes(cfg).train // cfg.batch_size
    return Loop.reports(cfg.epochs * steps_per_epoch, max(1, cfg.report_every * steps_per_epoch), initial=False)


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs (:mod:`._memory`): every seed's ResNet with its gradients and momentum,
    and one network's batch of activations at a time (or an evaluation chunk's)."""
    sizes = data_sizes(cfg)
    found = _memory.shapes(build(cfg, sizes.classes), sizes.shape)
    evaluated = min(cfg.eval_chunk, sizes.test)
    return _memory.per_seed(
        found, cfg, sizes, optimizer_states=int(cfg.momentum > 0), together=False, evaluated=evaluated
    )


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    data = load_data(cfg)
    if data.input_shape != IMAGE_SHAPE:
        raise ConfigError("dataset", cfg.dataset, f"3×32×32 images (CIFAR), got {data.input_shape}")
    train_count = len(data.y_train)
    if cfg.batch_size > train_count:
        raise ConfigError("batch_size", cfg.batch_size, f"at most the {train_count} training images")
    steps_per_epoch = train_count // cfg.batch_size
    steps = cfg.epochs * steps_per_epoch
    layout = memory_format(cfg)

    def sgd(params, **method_kwargs) -> torch.optim.Optimizer:  # weight_decay=2γ comes from the method
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, **method_kwargs)

    members = Members(cfg, build(cfg, data.num_classes), cfg.seeds, optimizer=sgd, params=cfg.params)
    for member in members:
        to_device(cfg, member.model)
    batches = MemberBatches(train_count, cfg.batch_size, seeds=cfg.seeds, device=cfg.device)
    augmentation = SeedGenerators(cfg.seeds, NAME, "augment")  # CPU: the same crops on every device
    loop = Loop(
        report,
        steps=steps,
        every=cfg.report_every * steps_per_epoch,
        resume=resume,
        state={"members": members, "batches": batches, "augmentation": augmentation},
    )
    # Training batches since the last report, summed on the device (no host sync per step); a
    # resume starts right after a report, so they start empty then too.
    seen_loss = torch.zeros(len(members), device=cfg.device)
    seen_correct = torch.zeros(len(members), device=cfg.device)
    seen_steps = 0

    @torch.no_grad()
    def test() -> tuple[torch.Tensor, torch.Tensor]:
        members.eval()

        def forward(x: torch.Tensor) -> torch.Tensor:  # (m, 3, 32, 32) → logits (K, m, classes)
            x = x.contiguous(memory_format=layout)
            with autocast(cfg):
                return torch.stack([member.model(x) for member in members]).float()

        loss, accuracy = evaluate(forward, data.x_test, data.y_test, chunk=cfg.eval_chunk)
        members.train()
        return loss, accuracy

    members.train()
    for step in loop:
        lr = cosine_lr(cfg.lr, step, steps)
        for k, (member, order) in enumerate(zip(members, batches.orders)):
            idx = order.next()
            x, y = data.x_train[idx], data.y_train[idx]
            if cfg.augment:
                x = crop_flip(x, augmentation[k])
            x = x.contiguous(memory_format=layout)
            with autocast(cfg):
                logits = member.model(x).float()  # (B, classes)
            loss = F.cross_entropy(logits, y)
            for group in member.optimizer.param_groups:
                group["lr"] = lr
            member.step_(loss)  # + the method's penalty (syre: γ Σ D (φ − θ0)², fp32), SGD step
            seen_loss[k] += loss.detach()
            seen_correct[k] += (logits.detach().argmax(1) == y).float().mean()
        seen_steps += 1
        if loop.due:
            test_loss, test_accuracy = test()
            loop.report(
                {
                    "train_loss": seen_loss / seen_steps,
                    "test_accuracy": test_accuracy,
                    "test_loss": test_loss,
                    "train_accuracy": seen_correct / seen_steps,
                }
            )
            seen_loss.zero_()
            seen_correct.zero_()
            seen_steps = 0
