"""A small ViT on CIFAR-10 under weight decay γ and input scale α: last-layer rank collapse vs syre (Fig. 12).

Paper Appendix B.5 (Fig. 12): the ViT of Yoshioka's vision-transformers-cifar10 (itself
lucidrains' vit-pytorch), trained on CIFAR-10 with the input rescaled by α. Sweeping γ (at α = 1)
and α (at γ = 1e-4), vanilla weight decay finds a low-rank representation at the input of the
final layer and loses accuracy for a large γ or a small α; syre, with the same γ, keeps the rank
(its penalty pulls toward θ0, not 0) and the accuracy; the σ-Asym network of Lim et al. (2024)
does worse than syre.

Model (defaults = Yoshioka's ``--net vit``, which the paper adapts): patches of 4×4 pixels
flattened as (p1 p2 c) and embedded by a Linear to ``dim`` = 512; a learned CLS token and
position embedding (both N(0, 1) at init); ``depth`` = 6 pre-norm blocks, each
``x + Attention(LayerNorm(x))`` (``heads`` = 8 of ``head_dim`` = 64, the qkv Linear without bias,
an output Linear, dropout) then ``x + MLP(LayerNorm(x))`` (Linear(dim, ``mlp_dim`` = 512) → GELU →
dropout → Linear(mlp_dim, dim) → dropout); dropout 0.1 and embedding dropout 0.1; the CLS token →
LayerNorm → Linear(dim, classes). The GELU is ``parts.activation("gelu", mlp_dim, "blocks.i.fc1")``
so that sigma_asym swaps in its gate sigmoid(C x) ⊙ x there. Optimisation: Adam, lr 1e-4 with
cosine annealing to 0 over the run, batch 512, 200 epochs (Yoshioka's defaults).

Methods: weight_decay (the paper's "vanilla": the loss adds γ‖θ‖², i.e. Adam's coupled
``weight_decay = 2γ``), syre (anchor form: the loss adds γ‖φ − θ0‖²_D) and sigma_asym (σ-Asym
gates in the MLPs; the method layer gives it no weight decay, so its γ is null: see below).

Metrics, every ``report_every`` steps, one value per seed:

- train_loss / train_accuracy on the first ``eval_size`` training images (scaled by α, not
  augmented, dropout off), test_loss / test_accuracy on the test split (scaled by α);
- rank: the covariance rank (eigenvalues > ``rank_threshold`` = 1e-4) of the final Linear's input
  (the CLS token after the head's LayerNorm) on the first ``rank_samples`` = 512 training images
  (Fig. 12's subfigures: "final layer input", "batch size 512", "eigenvalues smaller than 1e-4 set
  to 0"), computed in fp32 even under bf16 autocast.

Choices the paper leaves open, made here:

- The data are CIFAR-10 normalised per channel (the data module's), augmented by random crop
  (4-pixel padding) and horizontal flip on the device (``augment``); Yoshioka also applies
  RandAugment(2, 14), which is not reproduced. α multiplies the normalised images after the
  augmentation (train) and for every measurement.
- σ0 is not stated for Fig. 12; the study uses σ0 = 1 (relative units, as in fcn_collapse's Fig. 5
  study). syre acts on every parameter (``params`` to restrict it); the position embedding is
  stored as (tokens, dim) and the CLS token as (dim,), so their relative θ0 has std σ0/√dim.
- The paper's σ-Asym baseline probably carried the same weight decay γ; the shared method layer's
  sigma_asym reads no γ, so here it trains without decay and is drawn as a γ-independent line.
- Yoshioka drops the attention's output Linear when heads == 1 and head_dim == dim; here it is
  always there. The cosine schedule is per step, not per epoch.
- Seeds run side by side (one model per seed, :class:`~syre_tune.benchmarks._members.Members`),
  each with its own batch order and its own generator for augmentation and dropout, so a seed's
  rows do not depend on the other seeds of the trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from syre_tune import metrics
from syre_tune._random import SeedGenerators
from syre_tune.benchmarks import _memory
from syre_tune.benchmarks._common import ConfigError, Report, above, at_least, data_sizes, load_data
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._members import Members
from syre_tune.benchmarks._methods import Parts
from syre_tune.benchmarks._supervised import evaluate
from syre_tune.benchmarks._vision import VisionConfig, autocast, check_vision, cosine_lr, to_device
from syre_tune.data import Batches, crop_flip

NAME = "vit_cifar"
METRICS = ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "rank")
METHODS = ("weight_decay", "syre", "sigma_asym")

CHANNELS = 3
IMAGE_SIDE = 32


@dataclass(frozen=True)
class Config(VisionConfig):
    # --- data
    dataset: str = "cifar10"
    """cifar10 (the paper) | synthetic_cifar10 (the generated stand-in, for smoke runs and tests) | ..."""
    input_scale: float = 1.0
    """α: the inputs are multiplied by this (the strength of the input-output covariance)."""
    augment: bool = True
    """Random crop (4-pixel zero padding) and horizontal flip of every training batch, on the device."""

    # --- model (Yoshioka's ViT for CIFAR-10)
    patch: int = 4
    """Side of the square patches in pixels (divides 32)."""
    dim: int = 512
    """Width of the token embeddings."""
    depth: int = 6
    """Transformer blocks."""
    heads: int = 8
    """Attention heads per block."""
    head_dim: int = 64
    """Width of each head (the attention's inner width is heads × head_dim)."""
    mlp_dim: int = 512
    """Hidden width of each block's MLP (the GELU the method may gate)."""
    vit_dropout: float = 0.1
    """Dropout after the attention's output, inside and after the MLP."""
    emb_dropout: float = 0.1
    """Dropout of the embedded tokens."""

    # --- optimisation
    lr: float = 1e-4
    """Adam's learning rate at the start (cosine-annealed to 0 at the last step)."""
    cosine: bool = True
    """Anneal the learning rate as lr · (1 + cos(π t / steps)) / 2; false: constant lr."""
    batch_size: int = 512
    """Mini-batch size."""
    steps: int = 19400
    """Optimisation steps (200 CIFAR-10 epochs of 97 full batches of 512)."""
    report_every: int = 970
    """Report (and allow a checkpoint) every this many steps (10 epochs), and at the end."""

    # --- measurement
    eval_size: int | None = 10000
    """train_loss/train_accuracy on the first n training images (None: all of them)."""
    rank_samples: int = 512
    """Training images the final layer input's covariance is taken over (the paper: 512)."""
    rank_threshold: float = 1e-4
    """Covariance eigenvalues above this count toward the rank (the paper: 1e-4)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "patch", "dim", "depth", "heads", "head_dim", "mlp_dim", "batch_size", "report_every")
        at_least(self, 0, "steps")
        at_least(self, 2, "rank_samples")
        above(self, 0.0, "input_scale", "lr")
        if IMAGE_SIDE % self.patch:
            raise ConfigError("patch", self.patch, f"a divisor of the image side {IMAGE_SIDE}")
        for key in ("vit_dropout", "emb_dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(key, getattr(self, key), "a rate in [0, 1)")
        if self.eval_size is not None and self.eval_size < 1:
            raise ConfigError("eval_size", self.eval_size, "an integer >= 1 or null")
        if self.rank_threshold < 0:
            raise ConfigError("rank_threshold", self.rank_threshold, "a number >= 0")


# --- the model ----------------------------------------------------------------------------------


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) → (B, (H/p)(W/p), p·p·C): row-major patches, each flattened as (p1 p2 c)
    (einops ``b c (h p1) (w p2) -> b (h w) (p1 p2 c)``, Yoshioka's patch embedding input)."""
    b, c, height, width = images.shape
    h, w = height // patch, width // patch
    grid = images.reshape(b, c, h, patch, w, patch).permute(0, 2, 4, 3, 5, 1)  # (B, h, w, p1, p2, C)
    return grid.reshape(b, h * w, patch * patch * c)


class Dropout(nn.Module):
    """Inverted dropout drawing its masks from ``generator`` (a member's own stream, set by
    :func:`run`; torch's global one when None), so a seed's masks do not depend on other seeds."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
        return x * keep / (1.0 - self.p)


class Block(nn.Module):
    """Pre-norm transformer block: x + Attention(LN(x)), then x + MLP(LN(x)); x (B, T, dim)."""

    def __init__(self, cfg: Config, parts: Parts, name: str) -> None:
        super().__init__()
        inner = cfg.heads * cfg.head_dim
        self.heads = cfg.heads
        self.norm1 = nn.LayerNorm(cfg.dim)
        self.qkv = nn.Linear(cfg.dim, 3 * inner, bias=False)
        self.proj = nn.Linear(inner, cfg.dim)
        self.norm2 = nn.LayerNorm(cfg.dim)
        self.fc1 = nn.Linear(cfg.dim, cfg.mlp_dim)
        self.act = parts.activation("gelu", cfg.mlp_dim, f"{name}.fc1")
        self.fc2 = nn.Linear(cfg.mlp_dim, cfg.dim)
        self.drop_attention, self.drop_hidden, self.drop_out = (Dropout(cfg.vit_dropout) for _ in range(3))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)  # each (B, heads, T, head_dim)
        mixed = F.scaled_dot_product_attention(q, k, v)  # softmax(q kᵀ / √head_dim) v
        return self.drop_attention(self.proj(mixed.transpose(1, 2).reshape(b, t, -1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        hidden = self.drop_hidden(self.act(self.fc1(self.norm2(x))))
        return x + self.drop_out(self.fc2(hidden))


class ViT(nn.Module):
    """images (B, 3, 32, 32) → logits (B, classes); ``features=True`` also returns the final
    Linear's input (B, dim), the representation whose rank Fig. 12 reports."""

    def __init__(self, cfg: Config, classes: int, parts: Parts) -> None:
        super().__init__()
        self.patch = cfg.patch
        tokens = (IMAGE_SIDE // cfg.patch) ** 2 + 1  # the patches and the CLS token
        self.embed = nn.Linear(cfg.patch * cfg.patch * CHANNELS, cfg.dim)
        self.cls_token = nn.Parameter(torch.randn(cfg.dim))
        self.pos_embedding = nn.Parameter(torch.randn(tokens, cfg.dim))
        self.drop = Dropout(cfg.emb_dropout)
        self.blocks = nn.ModuleList(Block(cfg, parts, f"blocks.{i}") for i in range(cfg.depth))
        self.head_norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, classes)

    def forward(self, images: torch.Tensor, *, features: bool = False):
        patches = self.embed(patchify(images, self.patch))  # (B, T − 1, dim)
        cls = self.cls_token.to(patches.dtype).expand(len(patches), 1, -1)
        x = self.drop(torch.cat([cls, patches], dim=1) + self.pos_embedding)
        for block in self.blocks:
            x = block(x)
        last_input = self.head_norm(x[:, 0])  # the CLS token (B, dim)
        logits = self.head(last_input)
        return (logits, last_input) if features else logits


# --- per-seed randomness ------------------------------------------------------------------------


class Streams:
    """Each member's batch order (``Batches`` seeded by its seed) and its generator on the device
    for augmentation and dropout (seeded from (seed, "vit_cifar")), with one state_dict."""

    def __init__(self, n: int, batch_size: int, seeds: tuple[int, ...], device: torch.device) -> None:
        self.orders = [Batches(n, batch_size, seed=seed, device=device) for seed in seeds]
        self.generators = SeedGenerators(seeds, NAME, "augment", device=device)

    def state_dict(self) -> dict[str, list]:
        return {"orders": [o.state_dict() for o in self.orders], **self.generators.state_dict()}

    def load_state_dict(self, state: dict[str, list]) -> None:
        for order, saved in zip(self.orders, state["orders"], strict=True):
            order.load_state_dict(saved)
        self.generators.load_state_dict(state)


def check(cfg: Config) -> None:
    """The data set is there and every ``params`` pattern selects a ViT parameter."""
    check_vision(cfg, lambda parts: ViT(cfg, 10, parts))


def reports(cfg: Config) -> int:
    """How many times a trial reports (rows per seed): at step 0, every ``report_every``, at the end."""
    return Loop.reports(cfg.steps, cfg.report_every)


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs (:mod:`._memory`): every seed's ViT with its gradients and Adam moments,
    and one ViT's batch of activations at a time (or an evaluation chunk's)."""
    sizes = data_sizes(cfg)
    found = _memory.shapes(lambda parts: ViT(cfg, sizes.classes, parts), sizes.shape)
    evaluated = max(cfg.eval_chunk, cfg.rank_samples)
    return _memory.per_seed(found, cfg, sizes, optimizer_states=2, together=False, evaluated=evaluated)


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    data = load_data(cfg)
    alpha = cfg.input_scale

    def build(parts: Parts) -> nn.Module:
        return to_device(cfg, ViT(cfg, data.num_classes, parts))

    def adam(params, **method_kwargs) -> torch.optim.Optimizer:  # weight_decay = 2γ under weight_decay
        return torch.optim.Adam(params, lr=cfg.lr, **method_kwargs)

    members = Members(cfg, build, cfg.seeds, optimizer=adam, params=cfg.params)
    streams = Streams(len(data.y_train), cfg.batch_size, cfg.seeds, data.device)
    for member, gen in zip(members, streams.generators):
        for module in member.model.modules():
            if isinstance(module, Dropout):
                module.generator = gen
    eval_x, eval_y = data.x_train[: cfg.eval_size], data.y_train[: cfg.eval_size]
    rank_x = data.x_train[: cfg.rank_samples] * alpha

    def logits_of_all(x: torch.Tensor) -> torch.Tensor:  # (m, ...) → (K, m, classes)
        with autocast(cfg):
            return torch.stack([m.model(x * alpha) for m in members]).float()

    def rank() -> torch.Tensor:
        ranks = []
        with torch.no_grad():
            for member in members:
                _, last_input = member.model(rank_x, features=True)  # fp32: no autocast
                finite = bool(torch.isfinite(last_input).all())
                ranks.append(float(metrics.covariance_rank(last_input, cfg.rank_threshold)) if finite else math.nan)
        return torch.tensor(ranks)

    def measure() -> dict[str, torch.Tensor]:
        members.eval()
        train_loss, train_accuracy = evaluate(logits_of_all, eval_x, eval_y, chunk=cfg.eval_chunk)
        test_loss, test_accuracy = evaluate(logits_of_all, data.x_test, data.y_test, chunk=cfg.eval_chunk)
        values = {
            "train_loss": train_loss,
            "test_loss": test_loss,
            "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy,
            "rank": rank(),
        }
        members.train()
        return values

    loop = Loop(
        report, steps=cfg.steps, every=cfg.report_every, resume=resume, state={"members": members, "streams": streams}
    )
    if loop.fresh:
        loop.report(measure())
    members.train()
    for step in loop:
        lr = cosine_lr(cfg.lr, step, cfg.steps) if cfg.cosine else cfg.lr
        for member, order, gen in zip(members, streams.orders, streams.generators):
            index = order.next()
            x = data.x_train[index]
            if cfg.augment:
                x = crop_flip(x, gen)
            for group in member.optimizer.param_groups:
                group["lr"] = lr
            with autocast(cfg):
                loss = F.cross_entropy(member.model(x * alpha).float(), data.y_train[index])
            member.step_(loss)
        if loop.due:
            loop.report(measure())
