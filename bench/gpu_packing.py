"""Small-network trials packed several per GPU (``resources: {gpu: 0.25}``) against one per GPU.

What it measures
    The same study, run once per ``--fractions`` value through ``syre-tune run`` (an embedded local
    Ray, the whole machine): ``--trials`` trials of ``fcn_collapse`` (the paper's 784-300-300-300-10
    FCN, batch 64, Adam, syre with σ0 = 1; the ``digits`` stand-in, so no data set is needed), each
    trial ``--steps`` steps and ``--seeds-per-trial`` seeds (one population of that many members),
    ``resources: {cpu: 1, gpu: FRACTION}`` — so Ray runs 1/FRACTION trials on the GPU at once (as many
    as the CPUs allow). While a run lasts, ``nvidia-smi`` is sampled every ``--sample-ms``: the GPU's
    utilisation (the share of time a kernel was running) and its memory in use.

    Reported per fraction: wall time of the whole ``syre-tune run`` (Ray's start included, the same
    for both), trials per hour, mean and median GPU utilisation over the run, peak GPU memory, and
    the speed-up in trials per hour over the first fraction.

When to pack
    Packing pays when one trial leaves the GPU idle most of the time (small models: the step is
    launch- and Python-bound, the GPU's utilisation is low), and stops paying once the packed trials'
    utilisations add up to ~100 % or their memory no longer fits. The printed utilisation of
    ``--fractions 1`` says which case a study is in: well under 50 % → pack; near 100 % → one per GPU.

How to run (needs a CUDA GPU and nvidia-smi; ~5 min with the defaults)
    python bench/gpu_packing.py
    python bench/gpu_packing.py --fractions 1 0.5 0.25 0.125 --trials 32 --out /tmp/packing

Without a GPU it refuses with one line and exit status 2, writing nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

EXIT_USAGE = 2


@dataclass
class Settings:
    fractions: list[float] = field(default_factory=lambda: [1.0, 0.25])
    """GPU share per trial; 1/FRACTION trials share the GPU."""
    trials: int = 16
    """Trials per run (one γ each, log-spaced)."""
    steps: int = 2000
    """Training steps per trial."""
    seeds_per_trial: int = 1
    """Members of each trial's population (seeds trained as one vmapped model)."""
    width: int = 300
    """Hidden width of the FCN (the paper's 300)."""
    sample_ms: int = 500
    """nvidia-smi sampling period."""
    out: str | None = None
    """Folder for packing.json; none: print only."""


# --- the study each run executes -------------------------------------------------------------------------------------


def study(settings: Settings, fraction: float) -> dict:
    """A study file's contents: ``trials`` γ values of fcn_collapse with syre, one GPU share each."""
    gammas = [10 ** (-4 + 3 * i / max(1, settings.trials - 1)) for i in range(settings.trials)]
    return {
        "description": f"GPU packing probe: {settings.trials} FCN trials at gpu {fraction}",
        "benchmark": "fcn_collapse",
        "config": {
            "dataset": "digits",
            "width": settings.width,
            "batch_size": 64,
            "optimizer": "adam",
            "lr": 1.0e-3,
            "steps": settings.steps,
            "report_every": settings.steps,
            "method": "syre",
            "sigma0": 1.0,
            "input_scale": 1.0,
        },
        "sweep": {"gamma": {"grid": gammas}},
        "seeds": settings.seeds_per_trial,
        "seeds_per_trial": settings.seeds_per_trial,
        "metric": "test_accuracy",
        "mode": "max",
        "resources": {"cpu": 1, "gpu": fraction},
    }


# --- GPU sampling ----------------------------------------------------------------------------------------------------


def query_gpu() -> list[tuple[float, float]]:
    """(utilisation %, memory MiB) of every GPU, from nvidia-smi."""
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return [tuple(float(v) for v in line.split(",")) for line in done.stdout.strip().splitlines()]


class Sampler(threading.Thread):
    """Samples GPU 0 every ``period_s`` until stopped."""

    def __init__(self, period_s: float) -> None:
        super().__init__(daemon=True)
        self.period_s, self.samples, self._stop_event = period_s, [], threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(query_gpu()[0])
            self._stop_event.wait(self.period_s)

    def stop(self) -> list[tuple[float, float]]:
        self._stop_event.set()
        self.join()
        return self.samples


# --- the data step ---------------------------------------------------------------------------------------------------


def summarise(fraction: float, trials: int, seconds: float, samples: list[tuple[float, float]]) -> dict:
    """One run's row: trials per hour and the utilisation / memory over its samples."""
    utilisation = [u for u, _ in samples] or [float("nan")]
    memory = [m for _, m in samples] or [float("nan")]
    return {
        "gpu_fraction": fraction,
        "concurrent_trials": int(round(1 / fraction)),
        "trials": trials,
        "wall_s": seconds,
        "trials_per_hour": 3600 * trials / seconds,
        "gpu_util_mean": statistics.fmean(utilisation),
        "gpu_util_median": statistics.median(utilisation),
        "gpu_memory_peak_mib": max(memory),
        "samples": len(samples),
    }


def table(rows: list[dict]) -> str:
    """The paper-style markdown table, with the speed-up over the first row."""
    lines = [
        "| gpu per trial | trials at once | wall s | trials/hour | speed-up | GPU util mean · median | peak MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        speedup = row["trials_per_hour"] / rows[0]["trials_per_hour"]
        lines.append(
            f"| {row['gpu_fraction']:g} | {row['concurrent_trials']} | {row['wall_s']:.0f} | "
            f"{row['trials_per_hour']:.0f} | {speedup:.2f}× | {row['gpu_util_mean']:.0f} % · "
            f"{row['gpu_util_median']:.0f} % | {row['gpu_memory_peak_mib']:.0f} |"
        )
    return "\n".join(lines)


# --- command line ----------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Settings:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--fractions", nargs="+", type=float, default=defaults.fractions)
    parser.add_argument("--trials", type=int, default=defaults.trials)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--seeds-per-trial", type=int, default=defaults.seeds_per_trial)
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--sample-ms", type=int, default=defaults.sample_ms)
    parser.add_argument("--out", default=None, metavar="DIR", help="write packing.json here")
    settings = Settings(**vars(parser.parse_args(argv)))
    for key in ("trials", "steps", "seeds_per_trial", "width", "sample_ms"):
        if getattr(settings, key) < 1:
            raise SystemExit(_refuse(f"--{key.replace('_', '-')} must be >= 1, got {getattr(settings, key)}"))
    if any(not 0 < f <= 1 for f in settings.fractions):
        raise SystemExit(_refuse(f"--fractions must each be in (0, 1], got {settings.fractions}"))
    return settings


def _refuse(message: str) -> int:
    print(f"gpu_packing: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _gpu_problem() -> str | None:
    """Why this machine cannot run the benchmark, or None."""
    if shutil.which("nvidia-smi") is None:
        return "needs a CUDA GPU and nvidia-smi (none found on this machine)"
    try:
        query_gpu()
    except (subprocess.SubprocessError, OSError, ValueError) as error:
        return f"nvidia-smi does not answer ({error})"
    import torch

    if not torch.cuda.is_available():
        return "torch sees no CUDA device (a CPU-only torch build?)"
    return None


def main(argv: list[str] | None = None) -> list[dict]:
    settings = parse_args(argv)
    problem = _gpu_problem()
    if problem is not None:
        raise SystemExit(_refuse(problem))
    rows = []
    with tempfile.TemporaryDirectory(prefix="syre-packing-") as scratch:
        for fraction in settings.fractions:
            name = f"packing_{str(fraction).replace('.', '_')}"
            study_file = Path(scratch) / f"{name}.yaml"
            study_file.write_text(yaml.safe_dump(study(settings, fraction), sort_keys=False))
            command = [sys.executable, "-m", "syre_tune.cli", "run", str(study_file), "--storage", scratch]
            sampler = Sampler(settings.sample_ms / 1e3)
            start = time.perf_counter()
            sampler.start()
            done = subprocess.run([*command, "--no-analyze"], capture_output=True, text=True)
            seconds, samples = time.perf_counter() - start, sampler.stop()
            if done.returncode != 0:
                print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(_refuse(f"the study at gpu {fraction} failed (exit {done.returncode})"))
            rows.append(summarise(fraction, settings.trials, seconds, samples))
            print(f"  gpu {fraction:g}: {seconds:.0f} s", file=sys.stderr)
    import torch

    device = torch.cuda.get_device_name(0)
    print(f"device: {device} | {os.cpu_count()} CPUs | torch {torch.__version__}")
    print(
        f"{settings.trials} trials of fcn_collapse (784-{settings.width}×3-10, batch 64, Adam, syre), "
        f"{settings.steps} steps, {settings.seeds_per_trial} seed(s) per trial; "
        f"GPU sampled every {settings.sample_ms} ms"
    )
    print(table(rows))
    if settings.out is not None:
        out = Path(settings.out)
        out.mkdir(parents=True, exist_ok=True)
        partial = out / ".packing.json.partial"
        partial.write_text(json.dumps({"settings": asdict(settings), "device": device, "rows": rows}, indent=2))
        os.replace(partial, out / "packing.json")
    return rows


if __name__ == "__main__":
    main()
