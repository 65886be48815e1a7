"""A 1,000-trial study of a cheap benchmark on an embedded local Ray: trials per minute, the
driver's memory as trials finish, and the size of what the study stored.

    python bench/trial_scale.py [--trials 1000] [--seeds 4] [--wave-size N] [--keep DIR] [--trace]

The driver is this process (the runner runs in it, as under ``syre-tune run``). A thread samples
its resident memory every half second together with the number of finished trials (part files
written), so the growth per finished trial can be measured: the driver holds no rows (trials write
their own Parquet parts), so what grows is Ray Tune's own bookkeeping of the trials. The headline
is the issue's measure: driver RSS when every trial has finished minus RSS when 20 % had, divided
by the trials finished in between; a least-squares slope and the peak are printed beside it. A
study of more than ``wave_size`` trials runs in waves (``--wave-size``, the study key).

``--trace`` runs ``tracemalloc`` from 20 % to 80 % of the trials (it slows the run several
times over; its rate is not the benchmark's) and prints the Python memory still held at the end
of that window per trial finished within it, by the innermost Ray source line that allocated it.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from syre_tune import results, runner, study  # noqa: E402


def rss() -> int:
    """This process's resident memory in bytes (Linux: /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def traced_sources(snapshot: tracemalloc.Snapshot, trials: int, top: int = 8) -> list[str]:
    """Lines ``KiB/trial  source`` for the largest allocations still held, by Ray source line."""
    held: collections.Counter[str] = collections.Counter()
    for stat in snapshot.statistics("traceback"):
        ray_frames = [f for f in stat.traceback if "/ray/" in f.filename]
        where = ray_frames[-1] if ray_frames else stat.traceback[-1]  # frames run oldest to newest
        held[f"{where.filename.rsplit('site-packages/', 1)[-1]}:{where.lineno}"] += stat.size
    total = sum(held.values())
    lines = [f"{total / trials / 1024:8.1f} KiB/trial  all Python allocations still held"]
    lines += [f"{size / trials / 1024:8.1f} KiB/trial  {source}" for source, size in held.most_common(top)]
    return lines


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=4, help="seeds per trial (vectorised)")
    parser.add_argument("--wave-size", type=int, help="the study's wave_size (default: the study default)")
    parser.add_argument("--keep", help="keep the study here instead of a temporary folder")
    parser.add_argument("--trace", action="store_true", help="attribute the driver's Python memory (slow)")
    args = parser.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="trial-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    spec = {
        "name": "scale",
        "benchmark": "theorem4",
        "config": {"method": "syre", "gamma": 0.1, "n_symmetries": 2, "steps": 20},
        "sweep": {"sigma0": {"logspace": [1.0e-3, 10.0, args.trials]}},
        "seeds": args.seeds,
        "metric": "min_abs_delta",
        "mode": "max",
        **({"wave_size": args.wave_size} if args.wave_size else {}),
    }
    path = work / "scale.yaml"
    path.write_text(yaml.safe_dump(spec))
    (loaded,) = study.load(path)
    target = results.location(work / "store" / "scale")
    samples: list[tuple[float, int, int]] = []  # (time, finished trials, rss)
    done = threading.Event()
    parts = work / "store" / "scale" / "results"
    window: dict[str, Any] = {}  # --trace: trials finished at its start and end, and the snapshot

    def sample() -> None:
        while not done.is_set():
            finished = len(list(parts.glob("part-*.parquet"))) if parts.exists() else 0
            samples.append((time.perf_counter(), finished, rss()))
            if args.trace and "start" not in window and finished >= 0.2 * args.trials:
                window["start"] = finished
                tracemalloc.start(25)
            elif args.trace and "end" not in window and finished >= 0.8 * args.trials:
                gc.collect()
                window["end"], window["snapshot"] = finished, tracemalloc.take_snapshot()
                tracemalloc.stop()
            done.wait(0.5)

    runner._ensure_ray(None)  # Ray's start-up is not part of the per-trial rate
    rss_start = rss()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    summary = runner.run_study(loaded, target, verbose=0)
    wall = time.perf_counter() - start
    done.set()
    thread.join()
    rss_end = rss()
    runner.shutdown()

    arr = np.array(samples, dtype=np.float64)
    if os.environ.get("TRIAL_SCALE_DEBUG"):
        for t, f, r in samples[:: max(1, len(samples) // 40)]:
            print(f"  {t - start:6.1f} s {int(f):6d} finished {r / 2**20:7.0f} MiB")
    late = arr[arr[:, 1] >= 0.1 * args.trials]  # after the first 10 %: start-up allocations are done
    slope = np.polyfit(late[:, 1], late[:, 2], 1)[0] if len(late) > 3 else float("nan")
    at20 = arr[arr[:, 1] >= 0.2 * args.trials]
    at100 = arr[arr[:, 1] >= args.trials]  # every trial finished (before the study's own end reads the rows)
    per_trial = (at100[0, 2] - at20[0, 2]) / (at100[0, 1] - at20[0, 1]) if len(at20) and len(at100) else float("nan")
    study_dir = work / "store" / "scale"
    rows_bytes = size(study_dir / "results")
    print(f"trials: {summary.trials} ({len(summary.errored)} failed), rows: {summary.rows}")
    print(f"wall (Tuner.fit + writing): {wall:.1f} s -> {summary.trials / wall * 60:.0f} trials/min")
    print(
        f"driver RSS: start {rss_start / 2**20:.0f} MiB, end {rss_end / 2**20:.0f} MiB, "
        f"peak {arr[:, 2].max() / 2**20:.0f} MiB"
    )
    print(
        f"driver RSS growth from 20% to 100% of the trials: {per_trial / 1024:.1f} KiB per finished trial "
        f"(least-squares slope after 10%: {slope / 1024:.1f} KiB; waves of {loaded.wave_size})"
    )
    print(
        f"stored: results/ {rows_bytes / 2**20:.1f} MiB in {len(list((study_dir / 'results').glob('*')))} files, "
        f"tune/ {size(study_dir / 'tune') / 2**20:.1f} MiB, all {size(study_dir) / 2**20:.1f} MiB"
    )
    print(f"rows themselves: {rows_bytes / summary.rows:.0f} bytes per row on disk")
    if "snapshot" in window:
        trials = window["end"] - window["start"]
        print(f"Python memory held after {trials} trials finished under tracemalloc:")
        print("\n".join(traced_sources(window["snapshot"], trials)))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
