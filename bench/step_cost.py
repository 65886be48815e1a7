"""Per-step training cost of syre against vanilla AdamW, on CPU.

What it measures
    The wall time of one training step (zero_grad, forward, cross-entropy, backward, decay, optimizer
    step) for two models, an MLP (784→300→300→300→300→10, ReLU, MNIST-shaped random inputs) and
    torchvision's ResNet18 (num_classes=10, CIFAR-shaped 3×32×32 random inputs), both on random labels
    with one fixed, pre-generated batch. Variants per model:

    - ``vanilla``: ``AdamW(lr=1e-3, weight_decay=2γ)``, torch's own decoupled decay (2γ is the documented
      mapping of γ‖θ‖²).
    - ``bias/buffer``, ``bias/seed``, ``anchor/buffer``, ``anchor/seed``: ``Syre(σ0=0.01, γ=5e-4, σ_D=0,
      relative=True, mode=..., store=...)`` attached to the model, ``AdamW(lr=1e-3, weight_decay=0)``, and
      ``syre.decay_(model, lr)`` called right before ``opt.step()`` (decoupled, AdamW-style).

    Every variant starts from the same initial weights and trains its own copy of the model.

How to run
    python bench/step_cost.py                        # both models, batch 32, 10 rounds
    python bench/step_cost.py --models mlp --rounds 20 --steps 50 --json /tmp/step_cost.json

Methodology
    Single timings on a shared CPU are noisy, so: torch uses ``os.cpu_count()`` threads; each variant
    first runs a few warm-up steps; then R interleaved rounds follow (``--rounds``, default 10). In each
    round every variant runs K consecutive steps (``--steps``, default 5 for ResNet18 and 20 for the MLP)
    in a freshly shuffled order, and the round's mean step time is recorded. Reported per variant: the
    median over rounds of the per-round mean step time (ms), the ratio of that median to vanilla's
    median, and the min–max over rounds of the ratio to the same round's vanilla time (a drift of the
    machine's speed then cancels within a round). The script states, as a measured fact and without
    asserting, whether ``anchor/buffer`` is within 1.05× vanilla for each model.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torchvision
from torch import nn

from syre_tune import Syre

LR = 1e-3
SIGMA0 = 0.01
GAMMA = 5e-4
SIGMA_D = 0.0
TARGET = 1.05
VARIANTS = ("vanilla", "bias/buffer", "bias/seed", "anchor/buffer", "anchor/seed")
DEFAULT_STEPS = {"mlp": 20, "resnet18": 5}


def make_mlp() -> nn.Module:
    """784→300→300→300→300→10 with ReLU."""
    widths = [784, 300, 300, 300, 300]
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=False):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], 10))
    return nn.Sequential(*layers)


def make_resnet18() -> nn.Module:
    return torchvision.models.resnet18(num_classes=10)


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (make_mlp, (784,)),
    "resnet18": (make_resnet18, (3, 32, 32)),
}


class Runner:
    """One variant: its own model copy, optimizer and (for syre) attached Syre."""

    def __init__(self, variant: str, base: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.variant = variant
        self.model = copy.deepcopy(base).train()
        self.inputs, self.targets = inputs, targets
        self.loss_fn = nn.CrossEntropyLoss()
        self.syre: Syre | None = None
        if variant == "vanilla":
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=LR, weight_decay=2.0 * GAMMA)
        else:
            mode, store = variant.split("/")
            self.syre = Syre(SIGMA0, GAMMA, sigma_d=SIGMA_D, seed=0, relative=True, mode=mode, store=store)
            self.syre.attach(self.model)
            # Parameters are collected after attach: in bias mode the leaves are the parametrizations' θ.
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=LR, weight_decay=0.0)

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.inputs), self.targets)
        loss.backward()
        if self.syre is not None:
            self.syre.decay_(self.model, LR)
        self.opt.step()

    def timed(self, steps: int) -> float:
        """Mean seconds per step over ``steps`` consecutive steps."""
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - start) / steps


@dataclass
class VariantResult:
    variant: str
    median_ms: float
    ratio_to_vanilla: float
    round_ratio_min: float
    round_ratio_max: float
    round_ms: list[float] = field(default_factory=list)


@dataclass
class ModelResult:
    model: str
    batch: int
    steps_per_round: int
    rounds: int
    warmup: int
    variants: list[VariantResult]
    wall_s: float


def bench_model(name: str, batch: int, rounds: int, steps: int, warmup: int, seed: int) -> ModelResult:
    start = time.perf_counter()
    factory, shape = MODELS[name]
    torch.manual_seed(seed)
    base = factory()
    inputs = torch.randn(batch, *shape)
    targets = torch.randint(0, 10, (batch,))
    runners = {v: Runner(v, base, inputs, targets) for v in VARIANTS}
    for runner in runners.values():
        for _ in range(warmup):
            runner.step()
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    order = list(VARIANTS)
    rng = random.Random(seed)
    for r in range(rounds):
        rng.shuffle(order)
        gc.collect()
        for variant in order:
            times[variant].append(runners[variant].timed(steps))
        print(f"  {name} round {r + 1}/{rounds} done ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    vanilla = times["vanilla"]
    vanilla_median = statistics.median(vanilla)
    results = []
    for variant in VARIANTS:
        ratios = [t / v for t, v in zip(times[variant], vanilla, strict=True)]
        median = statistics.median(times[variant])
        results.append(
            VariantResult(
                variant=variant,
                median_ms=1e3 * median,
                ratio_to_vanilla=median / vanilla_median,
                round_ratio_min=min(ratios),
                round_ratio_max=max(ratios),
                round_ms=[1e3 * t for t in times[variant]],
            )
        )
    return ModelResult(name, batch, steps, rounds, warmup, results, time.perf_counter() - start)


def print_table(results: list[ModelResult]) -> None:
    print("| model | batch | variant | median ms/step | ratio to vanilla | round ratios min–max |")
    print("|---|---:|---|---:|---:|---:|")
    for res in results:
        for v in res.variants:
            print(
                f"| {res.model} | {res.batch} | {v.variant} | {v.median_ms:.2f} | {v.ratio_to_vanilla:.3f}"
                f" | {v.round_ratio_min:.3f}–{v.round_ratio_max:.3f} |"
            )


def print_target(results: list[ModelResult]) -> None:
    for res in results:
        anchor = next(v for v in res.variants if v.variant == "anchor/buffer")
        verdict = "met" if anchor.ratio_to_vanilla <= TARGET else "NOT met"
        print(
            f"target anchor/buffer ≤ {TARGET:.2f}× vanilla, {res.model}: {verdict}"
            f" (ratio of medians {anchor.ratio_to_vanilla:.3f},"
            f" round ratios {anchor.round_ratio_min:.3f}–{anchor.round_ratio_max:.3f})"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["mlp", "resnet18"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds R")
    parser.add_argument(
        "--steps", type=int, default=None, help="steps K per variant per round (default: 5 ResNet18, 20 MLP)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="warm-up steps per variant")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, batch and round order")
    parser.add_argument("--json", type=str, default=None, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    for flag in ("batch", "rounds", "steps"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag} must be >= 1, got {value}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, CPU threads: {torch.get_num_threads()}")
    print(f"syre: sigma0={SIGMA0} (relative), gamma={GAMMA}, sigma_d={SIGMA_D}; AdamW lr={LR}")
    results = []
    for name in args.models:
        steps = args.steps if args.steps is not None else DEFAULT_STEPS[name]
        results.append(bench_model(name, args.batch, args.rounds, steps, args.warmup, args.seed))
    print()
    print(f"rounds={args.rounds}, steps per round: " + ", ".join(f"{r.model}={r.steps_per_round}" for r in results))
    print()
    print_table(results)
    print()
    print_target(results)
    wall = time.perf_counter() - start
    print(f"wall time: {wall:.1f} s (" + ", ".join(f"{r.model} {r.wall_s:.1f} s" for r in results) + ")")
    if args.json:
        payload = {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "sigma0": SIGMA0,
            "gamma": GAMMA,
            "sigma_d": SIGMA_D,
            "lr": LR,
            "wall_s": wall,
            "results": [asdict(r) for r in results],
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
