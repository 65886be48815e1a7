"""End-to-end PPO speed on Slippery Ant, per CPU core, at the benchmark's default settings.

    python bench/ppo.py                       # 5 updates (10,240 steps) per method, one core
    python bench/ppo.py --updates 10 --methods vanilla syre redo

Pins the process to one core and one torch thread (as a 1-CPU trial runs), then times whole PPO
updates (a 2,048-step rollout, then 10 epochs × 16 minibatches of Adam) of ``Agent`` from
``syre_tune.benchmarks.slippery_ant``, splitting collection (environment + policy) from the
update. Prints steps per second per core, and what ``studies/slippery_ant.yaml`` costs in
core-hours at that rate (its trials × total_steps) and on how many cores it finishes in a day.
Target (issue 8): at least 800 steps/s per core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def time_method(method: str, updates: int, seed: int) -> tuple[float, float, float]:
    """Seconds per update (total, collection, learning), medians over ``updates`` after a warm-up."""
    from syre_tune.benchmarks import slippery_ant as sa

    cfg = sa.Config(method=method, seeds=(seed,), total_steps=(updates + 1) * 2048)
    agent = sa.Agent(cfg, seed)
    totals, collects, learns = [], [], []
    try:
        for update in range(updates + 1):
            start = time.perf_counter()
            buffer = agent.collect()
            middle = time.perf_counter()
            agent.update(buffer)
            end = time.perf_counter()
            if update:  # the first update warms caches and allocators
                totals.append(end - start)
                collects.append(middle - start)
                learns.append(end - middle)
    finally:
        agent.close()
    return statistics.median(totals), statistics.median(collects), statistics.median(learns)


def study_cost(steps_per_second: float) -> tuple[int, float]:
    """(runs, core-hours) of studies/slippery_ant.yaml at ``steps_per_second`` per core."""
    from syre_tune import study

    (spec,) = study.load(ROOT / "studies" / "slippery_ant.yaml")
    runs = len(spec.points) * len(spec.seeds)
    total_steps = int(spec.fixed.get("total_steps", 20_000_000))
    return runs, runs * total_steps / steps_per_second / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=5, help="timed updates per method (2,048 steps each)")
    parser.add_argument(
        "--methods", nargs="+", default=["vanilla", "weight_decay", "syre", "l2_init", "shrink_perturb", "redo"]
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    torch.set_num_threads(1)
    print(f"PPO on Slippery Ant, default settings, 1 core, 1 torch thread, torch {torch.__version__}")
    print(f"{'method':<16}{'steps/s':>10}{'collect s':>11}{'update s':>10}")
    rates = []
    for method in args.methods:
        total, collect, learn = time_method(method, args.updates, args.seed)
        rates.append(2048 / total)
        print(f"{method:<16}{2048 / total:>10.0f}{collect:>11.2f}{learn:>10.2f}")
    slowest = min(rates)
    runs, core_hours = study_cost(slowest)
    print(
        f"studies/slippery_ant.yaml at the slowest rate ({slowest:.0f} steps/s): {runs} runs, "
        f"{core_hours:.0f} core-hours; finishes in a day on {core_hours / 24:.0f} cores"
        f" ({core_hours / runs:.1f} core-hours per run)"
    )


if __name__ == "__main__":
    main()
