"""A vectorised population against sequential runs: K members of the four-layer FCN
(784-300-300-300-10, ReLU, batch 64, SGD, syre) trained as one vmapped model vs K models stepped
one after the other.

What it measures
    The wall time of one training step of all K members. ``population``: one
    :class:`~syre_tune.benchmarks._population.Population` (stacked parameters, ``torch.func.vmap``
    over ``functional_call``, per-member syre penalty, one backward, one SGD step on the stacks).
    ``sequential``: K ``prepare``-d models (``Syre`` attached, anchor form), each with its own SGD,
    stepped in turn, as K separate runs would. Every member has its own batch of 64 from data held
    as one tensor on the device (indexing, no DataLoader). Reported: ms per step for each, and the
    speed-up sequential / population, for K = 1, 8, 64 (``--members``).

How to run
    python bench/population.py                          # CPU, K = 1 8 64, hidden 300
    python bench/population.py --hidden 64              # the smoke studies' width
    python bench/population.py --device cuda --members 8 64 --json /tmp/population.json

Methodology
    Warm-up steps first, then ``--rounds`` interleaved rounds of ``--steps`` steps per variant; the
    median of the per-round mean step times is reported, with the min-max of the per-round speed-up.
    On CUDA every round is closed by ``torch.cuda.synchronize()``. The target (the issue's) is ≥ 3× at
    K = 64 on 2 CPU cores and ≥ 20× on a GPU; the script prints whether it was met, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from syre_tune.benchmarks._methods import Parts, prepare
from syre_tune.benchmarks._population import Population


@dataclass(frozen=True)
class Cfg:
    method: str = "syre"
    sigma0: float = 0.01
    sigma_d: float = 0.0
    gamma: float = 1e-3
    phi: float = 0.0
    kappa: float = 0.01
    dropout: float = 0.0
    device: str = "cpu"


def fcn(hidden: int):
    """The paper's four-layer FCN, 784-hidden-hidden-hidden-10 (hidden = 300 in §6.3)."""

    def build(parts: Parts) -> nn.Module:
        layers: list[nn.Module] = []
        width = 784
        for index in range(3):
            layers += [nn.Linear(width, hidden), parts.activation("relu", hidden, f"h{index}")]
            width = hidden
        return nn.Sequential(nn.Flatten(), *layers, nn.Linear(hidden, 10))

    return build


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=300, help="hidden width (the paper: 300)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    cfg = Cfg(device=args.device)
    data_x = torch.randn(4096, 784, device=args.device)
    data_y = torch.randint(0, 10, (4096,), device=args.device)
    out = []
    for k in args.members:
        seeds = list(range(k))
        population = Population(cfg, fcn(args.hidden), seeds)
        pop_opt = torch.optim.SGD(population.parameters(), lr=0.01)
        models = [prepare(cfg, fcn(args.hidden), seed=s) for s in seeds]
        opts = [torch.optim.SGD(m.model.parameters(), lr=0.01) for m in models]
        gen = torch.Generator().manual_seed(0)

        def batch(k: int = k, gen: torch.Generator = gen) -> torch.Tensor:
            return torch.randint(0, 4096, (k, 64), generator=gen).to(args.device)

        def population_step(k: int = k, population: Population = population, pop_opt=pop_opt) -> None:
            index = batch()
            logits = population(data_x[index])  # (K, 64, 10)
            losses = nn.functional.cross_entropy(logits.flatten(0, 1), data_y[index].flatten(), reduction="none")
            population.step_(pop_opt, losses.view(k, 64).mean(1))

        def sequential_step(models: list = models, opts: list = opts) -> None:
            index = batch()
            for member, (prepared, opt) in enumerate(zip(models, opts)):
                opt.zero_grad()
                task = nn.functional.cross_entropy(prepared.model(data_x[index[member]]), data_y[index[member]])
                prepared.loss(task).backward()
                opt.step()

        variants = {"population": population_step, "sequential": sequential_step}
        for step in variants.values():
            for _ in range(2):
                step()
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, step in variants.items():
                sync(args.device)
                start = time.perf_counter()
                for _ in range(args.steps):
                    step()
                sync(args.device)
                times[name].append((time.perf_counter() - start) / args.steps * 1e3)
        ratios = [s / p for s, p in zip(times["sequential"], times["population"])]
        row = {
            "members": k,
            "hidden": args.hidden,
            "device": args.device,
            "torch_threads": torch.get_num_threads(),
            "population_ms": statistics.median(times["population"]),
            "sequential_ms": statistics.median(times["sequential"]),
            "speedup": statistics.median(times["sequential"]) / statistics.median(times["population"]),
            "speedup_min": min(ratios),
            "speedup_max": max(ratios),
        }
        out.append(row)
        print(
            f"K={k:>3}  population {row['population_ms']:8.2f} ms/step   sequential {row['sequential_ms']:8.2f} ms/step"
            f"   speed-up {row['speedup']:5.1f}x (rounds {row['speedup_min']:.1f}-{row['speedup_max']:.1f})"
        )
    target = 20.0 if args.device.startswith("cuda") else 3.0
    at64 = [row for row in out if row["members"] == 64]
    if at64:
        met = "met" if at64[0]["speedup"] >= target else "NOT met"
        print(f"target >= {target:g}x at K = 64 on {args.device}: {met} ({at64[0]['speedup']:.1f}x)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=2)


if __name__ == "__main__":
    main()
