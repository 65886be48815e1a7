"""Steps per second of SlipperyAnt against the PyBullet AntBulletEnv it wraps, on one core.

What it measures
    Wall time of N environment steps with random actions (uniform in [-1, 1], from a generator seeded per round and
    shared by all variants), resets included whenever an episode ends (torso fell, or 1,000 steps). Variants:

    - ``AntBulletEnv``: pybullet_envs_gymnasium's class, bare; the loop itself truncates at 1,000 steps.
    - ``AntBulletEnv-v0 (make)``: the registered env through ``gymnasium.make`` (TimeLimit, OrderEnforcing and
      PassiveEnvChecker wrappers), as most training code would make it.
    - ``SlipperyAnt f=1.2``: ours, with the friction pinned at 1.2, the stock Ant's combined foot–floor friction
      (1.5 × 0.8), so that the physics matches the bare env's and the difference is the wrapper's cost.
    - ``SlipperyAnt f=sched``: ours with the default schedule (schedule_seed=0, period 0): the friction changes the
      gait, episode lengths and contact counts, hence the physics' cost; shown for what a run will see.

How to run
    python bench/ant_env.py                      # 20,000 steps per variant and round, 3 rounds
    python bench/ant_env.py --steps 5000 --rounds 5

Methodology
    One core: the process is pinned to CPU 0 (``os.sched_setaffinity``, where available) and torch uses one
    thread. Every variant's env is made and reset (seed 0) once and warmed up; then R interleaved rounds follow,
    each running every variant for N steps in a freshly shuffled order (episodes carry over between rounds).
    Reported: per variant, the median over rounds of steps/s by this process's CPU time (``time.process_time``:
    pybullet DIRECT steps in this thread, and other jobs on a shared machine do not inflate it) and by wall time,
    the ratio of CPU-time medians to the bare env's, and the min–max of the per-round ratio to the bare env. The
    target, stated as a measured fact and not asserted: SlipperyAnt f=1.2 costs at most 10 % (time ratio ≤ 1.10).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable

import gymnasium
import numpy as np
import pybullet_envs_gymnasium  # noqa: F401 (registers AntBulletEnv-v0)
import torch

from syre_tune.envs import SlipperyAnt

EPISODE_STEPS = 1000
TARGET = 1.10
STOCK_FRICTION = 1.5 * 0.8  # the MJCF Ant's links × plane_stadium's floor; Bullet multiplies the pair


class BareAnt:
    """AntBulletEnv as is; truncation at 1,000 steps done here, as TimeLimit would."""

    def __init__(self) -> None:
        from pybullet_envs_gymnasium.gym_locomotion_envs import AntBulletEnv

        self.env = AntBulletEnv()
        self.episode_steps = 0

    def reset(self, seed: int | None = None) -> None:
        self.env.reset(seed=seed)
        self.episode_steps = 0

    def step(self, action: np.ndarray) -> bool:
        _, _, terminated, _, _ = self.env.step(action)
        self.episode_steps += 1
        return terminated or self.episode_steps >= EPISODE_STEPS


class GymEnv:
    """Any gymnasium env; the episode ends at termination or truncation."""

    def __init__(self, env: gymnasium.Env) -> None:
        self.env = env

    def reset(self, seed: int | None = None) -> None:
        self.env.reset(seed=seed)

    def step(self, action: np.ndarray) -> bool:
        _, _, terminated, truncated, _ = self.env.step(action)
        return terminated or truncated


VARIANTS: dict[str, Callable[[], BareAnt | GymEnv]] = {
    "AntBulletEnv": BareAnt,
    "AntBulletEnv-v0 (make)": lambda: GymEnv(gymnasium.make("AntBulletEnv-v0")),
    "SlipperyAnt f=1.2": lambda: GymEnv(
        SlipperyAnt(friction_low=STOCK_FRICTION, friction_high=STOCK_FRICTION * (1 + 1e-12))
    ),
    "SlipperyAnt f=sched": lambda: GymEnv(SlipperyAnt()),
}
BASELINE = "AntBulletEnv"


def timed_steps(env: BareAnt | GymEnv, actions: np.ndarray) -> tuple[float, float]:
    """(CPU seconds, wall seconds) for len(actions) steps, resetting whenever an episode ends."""
    cpu, wall = time.process_time(), time.perf_counter()
    for action in actions:
        if env.step(action):
            env.reset()
    return time.process_time() - cpu, time.perf_counter() - wall


def pin_one_core() -> str:
    torch.set_num_threads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
        return "pinned to CPU 0"
    return "not pinned (no os.sched_setaffinity)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--steps", type=int, default=20_000, help="steps per variant and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=500, help="untimed steps per variant first")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("steps", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pinning = pin_one_core()
    print(f"{pinning}, torch threads {torch.get_num_threads()}, {args.steps} steps × {args.rounds} rounds")

    envs = {name: make() for name, make in VARIANTS.items()}
    warmup = np.random.default_rng(args.seed).uniform(-1, 1, (args.warmup, 8)).astype(np.float32)
    for env in envs.values():
        env.reset(seed=args.seed)
        timed_steps(env, warmup)

    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    wall: dict[str, list[float]] = {name: [] for name in VARIANTS}
    order = list(VARIANTS)
    shuffle = random.Random(args.seed)
    for r in range(args.rounds):
        actions = np.random.default_rng([args.seed, r]).uniform(-1, 1, (args.steps, 8)).astype(np.float32)
        shuffle.shuffle(order)
        for name in order:
            cpu_s, wall_s = timed_steps(envs[name], actions)
            cpu[name].append(cpu_s)
            wall[name].append(wall_s)
        print(f"  round {r + 1}/{args.rounds} done", file=sys.stderr)

    base = cpu[BASELINE]
    print()
    print("| variant | steps/s (CPU time) | steps/s (wall) | CPU time ratio to bare | round ratios min–max |")
    print("|---|---:|---:|---:|---:|")
    for name in VARIANTS:
        ratios = [t / b for t, b in zip(cpu[name], base, strict=True)]
        ratio = statistics.median(cpu[name]) / statistics.median(base)
        cpu_rate, wall_rate = args.steps / statistics.median(cpu[name]), args.steps / statistics.median(wall[name])
        print(f"| {name} | {cpu_rate:,.0f} | {wall_rate:,.0f} | {ratio:.3f} | {min(ratios):.3f}–{max(ratios):.3f} |")
    ratio = statistics.median(cpu["SlipperyAnt f=1.2"]) / statistics.median(base)
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"\ntarget SlipperyAnt f=1.2 ≤ {TARGET:.2f}× the bare env's CPU time: {verdict} ({ratio:.3f})")


if __name__ == "__main__":
    main()
