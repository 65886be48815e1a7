"""Loss of plasticity on permuted MNIST: a CNN trained on 10 pixel-permuted tasks in turn (paper §6.6, Fig. 11).

Setup (paper §6.6 "Supervised Learning" and the caption of Fig. 11): a CNN with two convolution
layers (10 and 20 channels, 5×5 kernels, each followed by 2×2 max-pooling and ReLU, as in the
classic PyTorch MNIST example, so the second block outputs 20×4×4 = 320 features) and two fully
connected layers (320 → 50 → 10), trained with SGD on a sequence of ``tasks`` tasks built from one
MNIST-family data set: task 0 is the original images, task t ≥ 1 permutes the 784 pixels of every
train and test image with a fixed permutation drawn from (seed, t). The same seed gives the same
permutations (and the same batch order) for every method, so methods compare on the same tasks.
The model is trained ``steps_per_task`` SGD steps on each task, one after the other, never
reset; the paper's "weight decay 0.01" is γ = 0.01 for weight_decay (coupled, γ‖θ‖²) and syre
(γ‖θ‖²_D around θ0, Eq. 6-7). The paper's finding: the rank of the convolution output of the
plain (weight-decayed) CNN decays task after task and the model collapses after about six tasks,
while the syre CNN stays near full rank and keeps its accuracy.

Reported (one value per seed), every ``report_every`` steps and always at the end of each task,
with ``iteration`` = SGD steps done:

- ``test_loss``: test cross-entropy on the task being trained (the loss that marks divergence);
- ``task``: the index of the task being trained, 0 .. tasks-1; a task-end row is the one whose
  iteration is (task + 1)·steps_per_task (with the default ``report_every`` there is one row per
  task end and no other);
- ``task_accuracy``: test accuracy on that task (at a task end, the accuracy it was learnt to:
  Fig. 11's main curve);
- ``mean_accuracy``: test accuracy of the current model averaged over tasks 0 .. task (forgetting
  included);
- ``conv_rank``: the covariance rank (eigenvalues of the feature covariance > ``rank_threshold``,
  1e-4 in the paper) of the output of convolution block ``rank_layer`` (after pooling and ReLU)
  on the first ``rank_batch`` training images of the task (1000 in the paper), each image's
  C×H×W output flattened into one row: a (images, C·H·W) matrix, 320 columns for conv2, 1440 for
  conv1 (Fig. 11's inset).

Methods: vanilla, weight_decay, syre, w_fix, sigma_asym (σ-Asym gates the conv layers along their
channels, dim=1), and the plasticity baselines beyond the paper: l2_init (γ‖θ − θ_init‖², Kumar et al.
2023), shrink_perturb (θ ← (1 − shrink)θ + perturb·ε after every step, Ash & Adams 2020) and redo
(every ``redo_every`` steps the τ-dormant units of conv1, conv2 and fc1 are recycled on the current
batch, Sokar et al. 2023). All seeds of a trial train as one vectorised population (``torch.func.vmap``
over the CNN, conv layers included); each member sees its own permutations and batch order.
Resuming works anywhere, mid-task included: the task index follows from the step counter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from syre_tune import metrics
from syre_tune._random import generator
from syre_tune.benchmarks import _memory
from syre_tune.benchmarks._common import (
    ConfigError,
    DataConfig,
    Report,
    at_least,
    check_data,
    data_sizes,
    load_data,
)
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._methods import Parts
from syre_tune.benchmarks._population import Population
from syre_tune.benchmarks._supervised import MemberBatches, cross_entropy, evaluate

NAME = "continual_permuted"
METRICS = ("test_loss", "task", "task_accuracy", "mean_accuracy", "conv_rank")
METHODS = ("vanilla", "weight_decay", "syre", "w_fix", "sigma_asym", "l2_init", "shrink_perturb", "redo")
check = check_data

IMAGE_SIDE = 28  # the MNIST family (digits is upsampled to 28×28), so conv2's output is 20×4×4


@dataclass(frozen=True)
class Config(DataConfig):
    # --- method defaults of the paper (§6.6: "SGD and weight decay 0.01")
    gamma: float = 0.01
    """Weight decay γ of the penalty γ‖θ‖²_D (syre, weight_decay); the paper: 0.01."""
    sigma0: float = 1.0
    """Scale of the static bias θ0 (syre), in units of 1/√fan_in."""

    # --- continual tasks
    tasks: int = 10
    """Number of tasks: task 0 the original images, tasks 1.. a fixed pixel permutation each (paper: 10)."""
    steps_per_task: int = 1000
    """SGD steps on each task before moving to the next."""

    # --- optimisation
    batch_size: int = 64
    """Mini-batch size."""
    lr: float = 0.01
    """SGD learning rate."""
    momentum: float = 0.0
    """SGD momentum."""

    # --- measurement
    report_every: int | None = None
    """Report every this many steps as well as at each task end (None: at task ends only)."""
    rank_layer: Literal["conv1", "conv2"] = "conv2"
    """The convolution block whose (pooled, ReLU'd) output rank is measured: conv1 (10×12×12) or conv2 (20×4×4)."""
    rank_batch: int = 1000
    """Training images of the current task whose conv outputs give the rank (the paper: 1000)."""
    rank_threshold: float = 1e-4
    """Covariance eigenvalues at or below this count as zero (the paper: 1e-4)."""
    eval_chunk: int = 2000
    """Test images evaluated at once (memory bound; does not change results)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "tasks", "steps_per_task", "batch_size", "rank_batch", "eval_chunk")
        if self.rank_batch < 2:
            raise ConfigError("rank_batch", self.rank_batch, "an integer >= 2 (a covariance needs 2 samples)")
        if self.report_every is not None and self.report_every < 1:
            raise ConfigError("report_every", self.report_every, "an integer >= 1 or null (task ends only)")
        if self.lr <= 0:
            raise ConfigError("lr", self.lr, "a number > 0")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError("momentum", self.momentum, "a number in [0, 1)")
        if self.rank_threshold < 0:
            raise ConfigError("rank_threshold", self.rank_threshold, "a number >= 0")

    @property
    def steps(self) -> int:
        return self.tasks * self.steps_per_task


class CNN(nn.Module):
    """The PyTorch-example MNIST CNN: conv(1→10, 5) → pool 2 → ReLU → conv(10→20, 5) → pool 2 →
    ReLU → 320 → 50 → ReLU → 10 (no dropout). ``forward(x, layer="conv1"|"conv2")`` returns that
    block's output flattened per image instead of the logits."""

    def __init__(self, parts: Parts) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.act1 = parts.activation("relu", 10, "conv1", dim=1)  # σ-Asym mixes the channels
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.act2 = parts.activation("relu", 20, "conv2", dim=1)
        self.fc1 = nn.Linear(320, 50)
        self.act3 = parts.activation("relu", 50, "fc1")
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x: torch.Tensor, layer: str | None = None) -> torch.Tensor:
        h1 = self.act1(F.max_pool2d(self.conv1(x), 2))  # (B, 10, 12, 12)
        if layer == "conv1":
            return h1.flatten(1)
        h2 = self.act2(F.max_pool2d(self.conv2(h1), 2))  # (B, 20, 4, 4)
        if layer == "conv2":
            return h2.flatten(1)
        return self.fc2(self.act3(self.fc1(h2.flatten(1))))


def permutations(seeds: tuple[int, ...], tasks: int, pixels: int) -> torch.Tensor:
    """(K, tasks, pixels): per seed, the identity for task 0 and a pixel permutation drawn from
    (seed, task) for each later task; independent of the method and of the other seeds."""
    rows = []
    for seed in seeds:
        per_task = [torch.arange(pixels)]
        for task in range(1, tasks):
            per_task.append(torch.randperm(pixels, generator=generator(seed, "permutation", f"task{task}")))
        rows.append(torch.stack(per_task))
    return torch.stack(rows)


def permute(images: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Images (K, B, C, H, W), member k's pixels reordered by ``order[k]`` (K, H·W): out[..., i] =
    in[..., order[i]] over the flattened H×W plane of every channel."""
    flat = images.flatten(-2)  # (K, B, C, H·W)
    index = order[:, None, None, :].expand_as(flat)
    return torch.gather(flat, -1, index).view_as(images)


def reports(cfg: Config) -> int:
    """Rows per seed: at every multiple of ``report_every`` steps or of ``steps_per_task`` (each
    step counted once; the last step ends a task)."""
    every, task = cfg.report_every or cfg.steps_per_task, cfg.steps_per_task
    return cfg.steps // every + cfg.steps // task - cfg.steps // math.lcm(every, task)


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs (:mod:`._memory`): the population's weights, gradients and momentum, a
    batch's activations for every member, or an evaluation chunk's (the rank batch's)."""
    sizes = data_sizes(cfg)
    return _memory.trial_bytes(
        _memory.shapes(CNN, sizes.shape),
        members=len(cfg.seeds),
        optimizer_states=int(cfg.momentum > 0),
        batch=cfg.batch_size,
        together=True,
        evaluated=max(min(cfg.eval_chunk, sizes.test), cfg.rank_batch),
        data=_memory.data_numbers(sizes.train, sizes.test, sizes.shape) * (1 + len(cfg.seeds) / 2),
    )  # a chunk's inputs, permuted per member: K copies of eval_chunk images


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    data = load_data(cfg)
    if data.input_shape != (1, IMAGE_SIDE, IMAGE_SIDE):
        raise ConfigError("dataset", cfg.dataset, f"1×{IMAGE_SIDE}×{IMAGE_SIDE} images (the MNIST family)")
    if cfg.rank_batch > len(data.y_train):
        raise ConfigError("rank_batch", cfg.rank_batch, f"at most the {len(data.y_train)} training images")
    count = len(cfg.seeds)
    orders = permutations(cfg.seeds, cfg.tasks, IMAGE_SIDE * IMAGE_SIDE).to(cfg.device)  # (K, tasks, 784)

    population = Population(cfg, CNN, cfg.seeds)
    optimizer = torch.optim.SGD(population.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    batches = MemberBatches(len(data.y_train), cfg.batch_size, seeds=cfg.seeds, device=cfg.device)
    loop = Loop(
        report,
        steps=cfg.steps,
        every=cfg.report_every or cfg.steps_per_task,
        resume=resume,
        state={"model": population, "optimizer": optimizer, "batches": batches},
    )

    def task_inputs(x: torch.Tensor, task: int) -> torch.Tensor:  # (n, 1, 28, 28) → (K, n, 1, 28, 28)
        return permute(x.expand(count, *x.shape), orders[:, task])

    @torch.no_grad()
    def measure(task: int) -> dict[str, torch.Tensor]:
        per_task = [
            evaluate(population, lambda rows, t=t: task_inputs(data.x_test[rows], t), data.y_test, chunk=cfg.eval_chunk)
            for t in range(task + 1)
        ]
        loss, accuracy = per_task[task]
        features = population(task_inputs(data.x_train[: cfg.rank_batch], task), layer=cfg.rank_layer)
        finite = torch.isfinite(features).flatten(1).all(1)  # a diverged member has no rank
        rank = torch.full((count,), float("nan"), device=features.device)
        if finite.any():
            rank[finite] = metrics.covariance_rank(features[finite], cfg.rank_threshold).to(rank.dtype)
        return {
            "test_loss": loss,
            "task": torch.full((count,), float(task), device=accuracy.device),
            "task_accuracy": accuracy,
            "mean_accuracy": torch.stack([acc for _, acc in per_task]).mean(0),
            "conv_rank": rank,
        }

    for step in loop:
        task = step // cfg.steps_per_task
        idx = batches.next()  # (K, B)
        x, y = permute(data.x_train[idx], orders[:, task]), data.y_train[idx]  # (K, B, 1, 28, 28), (K, B)
        logits = population(x)  # (K, B, 10)
        population.step_(optimizer, cross_entropy(logits, y), probe=x)
        if loop.due or loop.iteration % cfg.steps_per_task == 0:
            loop.report(measure(task))
