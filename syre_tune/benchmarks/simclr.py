"""The low-capacity trap of self-supervised learning: SimCLR's last layer (paper §6.5, Table 1).

Setup. A ResNet18, CIFAR variant (3×3 stride-1 stem, no max-pool; BasicBlocks [2, 2, 2, 2] of
``width``·(1, 2, 4, 8) channels, BatchNorm, global average pool: the encoder output h has 8·width
units, 512 at width 64), and a two-layer projection head z = W2 ReLU(W1 h + b1) + b2 (8·width →
8·width → ``projection_dim``, Chen et al.'s head without BatchNorm), trained on CIFAR-100 with the
SimCLR loss (NT-Xent, Chen et al. 2020 Eq. 1): for a batch of B images, two augmented views each,
the 2B projections are L2-normalised and every view must pick its partner among the other 2B − 1 by
a softmax over cosine similarities / ``temperature``. Both views go through the network as one
batch of 2B (BatchNorm statistics over both). Augmentations (``_simclr_augment``, per image, drawn
from each seed's own generator): random resized crop (area 0.08–1), horizontal flip, colour jitter
of strength 0.5 with p = 0.8, grayscale with p = 0.2; no blur (Chen et al.'s CIFAR setting);
pixels are standardised per channel with the training set's mean and std after augmenting.

Methods: vanilla and syre (anchor form, Eq. 6-7), with ``params: ["head.*"]`` (the projection head
only, the paper's "σ0 = 0.1" rows) or null (every parameter, BatchNorm's included: the "all layers"
rows); σ0 ∈ {0.1, 0.01} in units of 1/√fan_in.

Measured at every report (one value per seed), with the network in eval mode (BatchNorm's running
statistics) on the un-augmented images:

- ``contrastive_loss``: the NT-Xent loss averaged over the steps since the last report;
- ``low_rankness_penultimate`` / ``low_rankness_last``: Table 1's low-rankness, the share of the
  eigenvalues of the feature covariance (over the test images) at or below ``low_rank_threshold``
  (1e-5), of h (8·width eigenvalues) and of z before its normalisation (``projection_dim``);
- ``probe_accuracy_penultimate`` / ``probe_accuracy_last``: test accuracy of a linear probe on the
  frozen h or z: multinomial logistic regression on the training images' features standardised per
  unit (the training features' mean and std), objective mean cross-entropy + ``probe_l2``·‖W‖²
  (bias not penalised), fitted full-batch by L-BFGS (strong-Wolfe line search) for at most
  ``probe_steps`` iterations from zero weights.

Choices the paper leaves open (it says only "according to the setting for training SimCLR in Chen
et al. (2020)" and that its accuracy matches Patacchiola & Storkey 2020): Adam (lr 1e-3, constant,
no schedule) instead of LARS (not in torch), batch 512, 200 epochs, temperature 0.5 (Chen et al.'s
best for CIFAR), projection dimension 128; syre's γ = 1e-4 (the penalty γ Σ D (φ − θ0)² is coupled,
added to the loss; vanilla has no weight decay); the eigenvalues over the whole test set, the probe
on the whole training set (features of un-augmented images) with probe_l2 = 1e-4 and 500 L-BFGS
iterations. Seeds train side by side as :class:`~syre_tune.benchmarks._members.Members` (BatchNorm),
each with its own batch order and augmentation generator; resume restores both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from syre_tune import data as datasets
from syre_tune import metrics
from syre_tune._random import SeedGenerators
from syre_tune.benchmarks import _memory
from syre_tune.benchmarks._common import ConfigError, Report, above, at_least, data_sizes
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._members import Members
from syre_tune.benchmarks._methods import Parts
from syre_tune.benchmarks._resnet import ResNet18
from syre_tune.benchmarks._simclr_augment import simclr_view
from syre_tune.benchmarks._supervised import MemberBatches
from syre_tune.benchmarks._vision import VisionConfig, autocast, check_vision, memory_format

NAME = "simclr"
METRICS = (
    "contrastive_loss",
    "low_rankness_penultimate",
    "low_rankness_last",
    "probe_accuracy_penultimate",
    "probe_accuracy_last",
)
METHODS = ("vanilla", "syre")
IMAGE_SHAPE = (3, 32, 32)


@dataclass(frozen=True)
class Config(VisionConfig):
    # --- data (the paper: CIFAR-100)
    dataset: str = "cifar100"
    """The image set (3×32×32); synthetic_cifar100 is the generated stand-in for smoke runs and tests."""

    # --- method (Table 1: σ0 ∈ {0.1, 0.01}, on the head or on every layer)
    sigma0: float = 0.1
    """Scale of the static bias θ0 (syre), in units of 1/√fan_in."""
    gamma: float = 1e-4
    """Decay γ of syre's penalty γ Σ D (φ − θ0)² (the paper does not say; our choice)."""

    # --- model
    width: int = 64
    """Channels of the ResNet18's first stage (64: the standard ResNet18, 512 encoder units)."""
    projection_dim: int = 128
    """Output units of the projection head (Chen et al.: 128)."""

    # --- SimCLR
    temperature: float = 0.5
    """τ of the NT-Xent loss (Chen et al.'s best on CIFAR)."""
    jitter_strength: float = 0.5
    """Strength s of the colour jitter (0.8s brightness, contrast, saturation; 0.2s hue; Chen et al. on CIFAR: 0.5)."""

    # --- optimisation
    epochs: int = 200
    """Passes over the training images."""
    batch_size: int = 512
    """Images per step (each seen as two views: 2·batch_size through the network)."""
    lr: float = 1e-3
    """Adam learning rate (constant)."""

    # --- measurement
    report_every_epochs: int = 20
    """Measure and report every this many epochs (and after the last)."""
    low_rank_threshold: float = 1e-5
    """Covariance eigenvalues at or below this count as zero (Table 1: 1e-5)."""
    probe_steps: int = 500
    """L-BFGS iterations of each linear probe."""
    probe_l2: float = 1e-4
    """L2 weight of the probe's objective mean cross-entropy + probe_l2·‖W‖²."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "width", "projection_dim", "epochs", "report_every_epochs", "probe_steps", "eval_chunk")
        at_least(self, 2, "batch_size")
        above(self, 0.0, "temperature", "lr")
        at_least(self, 0, "jitter_strength", "low_rank_threshold", "probe_l2", expected="a number >= 0")

    def build(self, parts: Parts) -> nn.Module:
        """The model of one seed (the builder :class:`Members` and ``check`` call)."""
        model = SimCLRNet(parts, width=self.width, projection_dim=self.projection_dim)
        return model.to(memory_format=memory_format(self))


def check(cfg: Config) -> None:
    """Before any trial: the data set is there and every ``params`` pattern selects a parameter."""
    check_vision(cfg, cfg.build)


# ----------------------------------------------------------------------------------------- the model
class SimCLRNet(nn.Module):
    """ResNet18 (CIFAR variant) encoder and two-layer projection head. ``forward(x)`` returns the
    encoder output h (N, 8·width) and the projection z (N, projection_dim)."""

    def __init__(self, parts: Parts, *, width: int, projection_dim: int) -> None:
        super().__init__()
        self.encoder = ResNet18(width=width, num_classes=None)  # the CIFAR variant, pooled 8·width features
        features = self.encoder.features
        self.head = nn.Sequential(
            nn.Linear(features, features),
            parts.activation("relu", features, "head.0"),
            nn.Linear(features, projection_dim),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return h, self.head(h)


# ------------------------------------------------------------------------------------ loss, measures
def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent loss (Chen et al. 2020, Eq. 1) of projections z (2B, d): rows i and i + B
    are the two views of image i. ℓ(i, j) = −log exp(s_ij/τ) / Σ_{k≠i} exp(s_ik/τ) with s the
    cosine similarity; the mean over all 2B ordered positive pairs."""
    n = z.shape[0] // 2
    unit = F.normalize(z, dim=1)
    logits = unit @ unit.T / temperature  # (2B, 2B)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, partner)


def low_rankness(features: torch.Tensor, threshold: float) -> float:
    """Share of the d eigenvalues of the covariance of ``features`` (samples, d) at or below
    ``threshold`` (Table 1's low-rankness); NaN for non-finite features (a diverged run)."""
    if not torch.isfinite(features).all():
        return float("nan")
    kept = metrics.covariance_rank(features.double(), threshold)
    return 1.0 - float(kept) / features.shape[1]


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    classes: int,
    *,
    steps: int,
    l2: float,
) -> float:
    """Test accuracy of multinomial logistic regression fitted on (train_x, train_y): features
    standardised with the training features' mean and std, objective mean cross-entropy + l2·‖W‖²,
    full-batch L-BFGS from zero for at most ``steps`` iterations. NaN for non-finite features."""
    if not (torch.isfinite(train_x).all() and torch.isfinite(test_x).all()):
        return float("nan")
    std, mean = torch.std_mean(train_x, dim=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    a, b = (train_x - mean) / std, (test_x - mean) / std
    weight = torch.zeros(a.shape[1], classes, device=a.device, requires_grad=True)
    bias = torch.zeros(classes, device=a.device, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe",
        tolerance_grad=1e-7, tolerance_change=1e-10,
    )  # fmt: skip

    def objective() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(a @ weight + bias, train_y) + l2 * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(objective)
    with torch.no_grad():
        return float(((b @ weight + bias).argmax(1) == test_y).double().mean())


# -------------------------------------------------------------------------------------------- run
def reports(cfg: Config) -> int:
    """Rows per seed: every ``report_every_epochs`` epochs and after the last (none before training)."""
    steps_per_epoch = data_sizes(cfg).train // cfg.batch_size
    return Loop.reports(cfg.epochs * steps_per_epoch, max(1, cfg.report_every_epochs * steps_per_epoch), initial=False)


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs (:mod:`._memory`): every seed's network with its gradients and Adam
    moments, one network's two views of a batch at a time, and at a measurement the features of
    every image (the linear probe's inputs)."""
    sizes = data_sizes(cfg)
    found = _memory.shapes(cfg.build, IMAGE_SHAPE)
    networks = _memory.trial_bytes(
        found,
        members=len(cfg.seeds),
        optimizer_states=2,
        batch=2 * cfg.batch_size,
        together=False,
        evaluated=cfg.eval_chunk,
        data=_memory.data_numbers(sizes.train, sizes.test, IMAGE_SHAPE),
    )
    features = (sizes.train + sizes.test) * (8 * cfg.width + cfg.projection_dim)  # penultimate (ResNet18) and last
    return networks + _memory.FLOAT * 2 * features


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    # pixels in [0, 1] (the colour jitter works on them), standardised per channel after augmenting
    data = datasets.load(
        cfg.dataset,
        root=cfg.data_root,
        download=cfg.data_download,
        device=cfg.device,
        train_size=cfg.train_size,
        test_size=cfg.test_size,
        normalize=False,
    )
    if tuple(data.x_train.shape[1:]) != IMAGE_SHAPE:
        raise ConfigError("dataset", cfg.dataset, "3×32×32 colour images (cifar10/100 or a synthetic stand-in)")
    if cfg.batch_size > len(data.y_train):
        raise ConfigError("batch_size", cfg.batch_size, f"at most the {len(data.y_train)} training images")
    std, mean = torch.std_mean(data.x_train, dim=(0, 2, 3), keepdim=True)

    def standardise(x: torch.Tensor) -> torch.Tensor:
        return ((x - mean) / std).contiguous(memory_format=memory_format(cfg))

    members = Members(
        cfg, cfg.build, cfg.seeds,
        optimizer=lambda params, **kwargs: torch.optim.Adam(params, lr=cfg.lr, **kwargs),
        params=list(cfg.params) if cfg.params is not None else None,
    )  # fmt: skip
    batches = MemberBatches(len(data.y_train), cfg.batch_size, seeds=cfg.seeds, device=cfg.device)
    views = SeedGenerators(cfg.seeds, NAME, "views")  # CPU: the same views on every device
    steps_per_epoch = len(data.y_train) // cfg.batch_size
    loop = Loop(
        report,
        steps=cfg.epochs * steps_per_epoch,
        every=cfg.report_every_epochs * steps_per_epoch,
        resume=resume,
        state={"members": members, "batches": batches, "views": views},
    )
    # the losses since the last report (always zero at a report, so nothing to checkpoint)
    loss_sum = torch.zeros(len(members), device=cfg.device)
    loss_steps = 0

    @torch.no_grad()
    def features(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, z) of un-augmented images, eval mode, fp32, ``eval_chunk`` at a time."""
        parts = []
        for chunk in images.split(cfg.eval_chunk):
            with autocast(cfg):
                h, z = model(standardise(chunk))
            parts.append((h.float(), z.float()))
        return torch.cat([h for h, _ in parts]), torch.cat([z for _, z in parts])

    def measure() -> dict[str, list[float]]:
        nonlocal loss_steps
        rows: dict[str, list[float]] = {name: [] for name in METRICS}
        rows["contrastive_loss"] = (loss_sum / max(loss_steps, 1)).tolist()
        loss_sum.zero_()
        loss_steps = 0
        members.eval()
        for member in members:
            train_h, train_z = features(member.model, data.x_train)
            test_h, test_z = features(member.model, data.x_test)
            for layer, train, test in (("penultimate", train_h, test_h), ("last", train_z, test_z)):
                rows[f"low_rankness_{layer}"].append(low_rankness(test, cfg.low_rank_threshold))
                rows[f"probe_accuracy_{layer}"].append(
                    linear_probe(
                        train, data.y_train, test, data.y_test, data.num_classes, steps=cfg.probe_steps, l2=cfg.probe_l2
                    )
                )
        members.train()
        return rows

    for _step in loop:
        index = batches.next()  # (K, B)
        for k, member in enumerate(members):
            images = data.x_train[index[k]]  # (B, 3, 32, 32) in [0, 1]
            pair = torch.cat([simclr_view(images, views[k], strength=cfg.jitter_strength) for _ in range(2)])
            with autocast(cfg):
                _, z = member.model(standardise(pair))  # rows i and i + B: the two views of image i
            loss = nt_xent(z.float(), cfg.temperature)  # fp32 similarities, outside autocast
            member.step_(loss)
            loss_sum[k] += loss.detach()
        loss_steps += 1
        if loop.due:
            loop.report(measure())
