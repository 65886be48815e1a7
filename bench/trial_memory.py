"""Each benchmark's ``trial_memory(cfg)`` estimate against the peak resident memory of a real run.

    python bench/trial_memory.py [BENCHMARK ...]

Every case runs in a fresh process: the libraries are imported and torch warmed up first, the
resident memory then is the baseline, and the benchmark's run is measured by the process's peak
resident memory (``ru_maxrss``) above it. The configs are small in compute but large in memory
(many seeds, wide layers, big batches), so that what the trial holds dominates the noise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _seeds(n: int) -> list[int]:
    return list(range(n))


SYRE = {"method": "syre", "sigma0": 1.0, "gamma": 0.01}
CASES: dict[str, dict] = {
    "theorem4": {**SYRE, "seeds": _seeds(64), "n_symmetries": 100, "extra_dims": 400, "steps": 2},
    "symmetry_objective": {**SYRE, "seeds": _seeds(64), "dim": 500, "steps": 2, "report_every": 1},
    "ridge": {**SYRE, "seeds": _seeds(64), "dim": 1000, "train_size": 2000, "steps": 2, "report_every": 1},
    "reparam_regression": {**SYRE, "seeds": _seeds(64), "dim": 1000, "train_size": 2000, "steps": 2}
    | {"report_every": 1, "batch_size": 64},
    "teacher_student": {**SYRE, "seeds": _seeds(32), "steps": 2, "report_every": 1},
    "fcn_collapse": {**SYRE, "width": 512, "seeds": _seeds(64), "train_size": 64, "test_size": 32}
    | {"eval_size": 64, "rank_samples": 64, "batch_size": 16, "steps": 2, "report_every": 1},
    "low_capacity_init": {**SYRE, "seeds": _seeds(64), "width": 800, "steps": 1, "report_every": 1}
    | {"train_size": 200, "test_size": 100, "eval_size": 200, "rank_samples": 200},
    "ntk_rank": {**SYRE, "seeds": _seeds(8), "hidden": 128, "points": 1500, "steps": 1, "collapsed": [0]},
    "mode_connectivity": {"seeds": _seeds(8), "steps": 2, "report_every": 1, "lambdas": 2}
    | {"train_size": 500, "test_size": 300},
    "continual_permuted": {**SYRE, "seeds": _seeds(64), "batch_size": 256, "tasks": 1, "steps_per_task": 2}
    | {"rank_batch": 500, "test_size": 300},
    "vae_posterior_collapse": {**SYRE, "seeds": _seeds(8), "dataset": "digits", "hidden": 2048, "steps": 2}
    | {"report_every": 1, "reconstructions": 0},
    "resnet_cifar": {**SYRE, "seeds": _seeds(2), "dataset": "synthetic_cifar10", "width": 32, "train_size": 256}
    | {"test_size": 128, "batch_size": 256, "epochs": 1, "report_every": 1},
    "vit_cifar": {**SYRE, "seeds": _seeds(2), "dataset": "synthetic_cifar10", "train_size": 256, "test_size": 128}
    | {"eval_size": 128, "batch_size": 128, "steps": 1, "report_every": 1},
    "simclr": {**SYRE, "seeds": _seeds(2), "dataset": "synthetic_cifar10", "width": 16, "train_size": 128}
    | {"test_size": 64, "batch_size": 128, "epochs": 1, "report_every_epochs": 1, "probe_steps": 2},
    "slippery_ant": {**SYRE, "seeds": _seeds(4), "total_steps": 512, "rollout_steps": 256, "minibatches": 4}
    | {"epochs": 1},
}

PROBE = """
import json, resource, sys
import sklearn.datasets, torchvision, torch  # the libraries: the process's baseline, not the trial
sys.path.insert(0, sys.argv[3])
from syre_tune import benchmarks
bench = benchmarks.get(sys.argv[1])
cfg = bench.make_config(json.loads(sys.argv[2]))
estimate = bench.trial_memory(cfg)
torch.ones(8) @ torch.ones(8)
before = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmRSS:"))
bench.run(cfg, lambda *args, **kwargs: None)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"estimate": estimate, "measured": peak - before}))
"""


def measure(name: str, values: dict | None = None) -> dict[str, int]:
    """{"estimate": bytes, "measured": bytes} of one run of ``name`` (``CASES[name]`` by default)."""
    config = json.dumps(values if values is not None else CASES[name])
    done = subprocess.run([sys.executable, "-c", PROBE, name, config, str(ROOT)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{name}: the probe failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    names = sys.argv[1:] or list(CASES)
    print(f"{'benchmark':24s} {'estimate':>10s} {'measured':>10s} {'ratio':>6s}")
    for name in names:
        found = measure(name)
        ratio = found["estimate"] / found["measured"]
        print(f"{name:24s} {found['estimate'] / 2**20:7.0f} MiB {found['measured'] / 2**20:7.0f} MiB {ratio:6.2f}")


if __name__ == "__main__":
    main()
