"""Cost of one anchor decay step over a ResNet18-sized parameter list (11.2M parameters).

What it measures
    The wall time of the decay step alone (no forward or backward pass) over the parameters of
    torchvision's ``resnet18(num_classes=10)`` (62 tensors, 11,181,642 float32 values), for:

    - ``adamw_decay``: AdamW's own decoupled decay, ``torch._foreach_mul_(params, 1 − lr·wd)``: the floor
      of any decay (one read and one write of φ, nothing else).
    - ``lerp_stored``: ``torch._foreach_lerp_(params, theta0, rate)`` toward a stored θ0 (syre's
      ``store="buffer"``; reads φ and θ0, 45 MB more memory).
    - ``drawn_lerp``: θ0 written out in full every step (``syre_tune.functional.theta0``), then the
      same lerp: the shape of 0.1's ``store="seed"`` step (which drew θ0 with ``torch.randn`` on the
      CPU and copied it over); 0.2's ``Syre`` runs ``seeded_*`` instead.
    - ``seeded_torch`` / ``seeded_torch_diag``: ``syre_tune.kernels.anchor_decay_`` on the PyTorch path,
      θ0 (and D, σ_D = 0.1) regenerated from Philox inside the step, nothing stored.
    - ``seeded_triton`` / ``seeded_triton_diag`` (CUDA only): the same step as one Triton launch.

How to run
    python bench/anchor_kernel.py                          # CPU, 7 rounds of 3 steps
    python bench/anchor_kernel.py --threads 1 --rounds 5
    python bench/anchor_kernel.py --device cuda --rounds 20 --steps 50 --json /tmp/anchor_kernel.json
    python bench/anchor_kernel.py --smoke-test             # a few small tensors, one round

Methodology
    Each variant works on its own copy of the parameters and first runs one warm-up step (Triton
    compiles there). Then R interleaved rounds (``--rounds``): in each, every variant runs K steps
    (``--steps``) in a freshly shuffled order; on CUDA a round is timed with CUDA events after a
    synchronize. Reported per variant: median over rounds of the mean step time (ms) and the min–max
    over rounds; the ratio to ``adamw_decay`` uses the medians.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from syre_tune import functional
from syre_tune._random import fan_ins, normal_std
from syre_tune.kernels import anchor_decay_, stream_key, triton_available

LR = 1e-3
GAMMA = 5e-4
SIGMA0 = 0.01
SIGMA_D = 0.1
SEED = 0
RATE = LR * 2 * GAMMA  # the decoupled step of γ‖φ − θ0‖²: lr·2γ


@dataclass
class Result:
    variant: str
    median_ms: float
    min_ms: float
    max_ms: float
    ratio_to_adamw_decay: float


def resnet18_parameters(smoke: bool) -> dict[str, torch.Tensor]:
    """{name: tensor} of torchvision's ResNet18 (10 classes), or a few odd-sized tensors for --smoke-test."""
    if smoke:
        generator = torch.Generator().manual_seed(0)
        return {f"t{i}": torch.randn(shape, generator=generator) for i, shape in enumerate([(37, 29), (1500,), (5,)])}
    import torchvision

    model = torchvision.models.resnet18(num_classes=10)
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def variants(named: dict[str, torch.Tensor], device: torch.device) -> dict[str, Callable[[], None]]:
    """One step function per variant, each over its own copy of the parameters."""
    names = list(named)
    fans = fan_ins({n: tuple(named[n].shape) for n in names})
    stds = [normal_std(SIGMA0, tuple(named[n].shape), relative=True, fan=fans[n]) for n in names]
    keys = [stream_key(SEED, n, "theta0") for n in names]
    diag_keys = [stream_key(SEED, n, "diag") for n in names]
    shapes = {n: tuple(named[n].shape) for n in names}

    def fresh() -> list[torch.Tensor]:
        return [copy.deepcopy(named[n]).to(device) for n in names]

    p_adamw, p_lerp, p_drawn = fresh(), fresh(), fresh()
    theta0 = list(functional.theta0(shapes, SIGMA0, seed=SEED, device=device).values())

    def drawn_lerp() -> None:
        drawn = functional.theta0(shapes, SIGMA0, seed=SEED, device=device)
        torch._foreach_lerp_(p_drawn, list(drawn.values()), RATE)

    steps = {
        "adamw_decay": lambda: torch._foreach_mul_(p_adamw, 1.0 - LR * 2 * GAMMA),
        "lerp_stored": lambda: torch._foreach_lerp_(p_lerp, theta0, RATE),
        "drawn_lerp": drawn_lerp,
    }
    backends = ["torch"] + (["triton"] if device.type == "cuda" and triton_available() else [])
    for backend in backends:
        plain, with_diag = fresh(), fresh()
        steps[f"seeded_{backend}"] = lambda p=plain, b=backend: anchor_decay_(p, keys, stds, rate=RATE, backend=b)
        steps[f"seeded_{backend}_diag"] = lambda p=with_diag, b=backend: anchor_decay_(
            p, keys, stds, rate=RATE, sigma_d=SIGMA_D, diag_keys=diag_keys, backend=b
        )
    return steps


def timed(step: Callable[[], None], count: int, device: torch.device) -> float:
    """Mean seconds per step over ``count`` consecutive steps."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(count):
            step()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3 / count
    began = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - began) / count


def bench(device: torch.device, rounds: int, steps_per_round: int, smoke: bool) -> list[Result]:
    named = resnet18_parameters(smoke)
    steps = variants(named, device)
    for step in steps.values():  # warm-up (and Triton's compile)
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    shuffler = random.Random(SEED)
    for index in range(rounds):
        shuffler.shuffle(order)
        for name in order:
            times[name].append(timed(steps[name], steps_per_round, device))
        print(f"  round {index + 1}/{rounds}", file=sys.stderr)
    floor = statistics.median(times["adamw_decay"])
    return [
        Result(name, 1e3 * statistics.median(t), 1e3 * min(t), 1e3 * max(t), statistics.median(t) / floor)
        for name, t in times.items()
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=3, help="steps per variant per round")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--smoke-test", action="store_true", help="three small tensors, one round of one step")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Result]:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.smoke_test:
        args.rounds, args.steps = 1, 1
    device = torch.device(args.device)
    results = bench(device, args.rounds, args.steps, args.smoke_test)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"anchor decay step, ResNet18 parameters, {where}, {args.rounds} rounds × {args.steps} steps")
    print("| variant | median ms/step | min–max ms | ratio to adamw_decay |")
    print("|---|---:|---:|---:|")
    for r in results:
        print(f"| {r.variant} | {r.median_ms:.3f} | {r.min_ms:.3f}–{r.max_ms:.3f} | {r.ratio_to_adamw_decay:.2f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"device": where, "args": vars(args), "results": [asdict(r) for r in results]}, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
