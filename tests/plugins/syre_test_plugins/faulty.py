"""The §6.2 objective, with failures injected on request: a SIGKILL of the worker process, an
exception, a pause per report (to leave the tests time to interfere), and a log of every report.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from syre_tune.benchmarks import symmetry_objective as base

METRICS = base.METRICS


@dataclass(frozen=True)
class Config(base.Config):
    kill_at: int = -1
    """SIGKILL this trial's worker process right after reporting this step, once per trial."""
    raise_at: int = -1
    """Raise ValueError instead of reporting this step, on every attempt."""
    sleep_s: float = 0.0
    """Pause after every report."""
    log_dir: str = ""
    """Where every report is logged (one JSON line per report) and the one-time kill remembered."""


def run(cfg: Config, report, resume=None) -> None:
    tag = f"{cfg.method}-{cfg.sigma0}-{cfg.lr}-{cfg.kill_at}-{cfg.raise_at}-{cfg.seeds[0]}"

    def faulty(step, metrics, state=None):
        if step == cfg.raise_at:
            raise ValueError(f"injected failure at step {step}")
        report(step, metrics, state=state)
        if cfg.log_dir:
            with open(Path(cfg.log_dir) / "reports.jsonl", "a") as log:
                record = {
                    "tag": tag,
                    "step": step,
                    "pid": os.getpid(),
                    "time": time.time(),
                    "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
                }
                log.write(json.dumps(record) + "\n")
        time.sleep(cfg.sleep_s)
        if step == cfg.kill_at:
            marker = Path(cfg.log_dir) / f"killed-{tag}"
            if not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)

    base.run(cfg, faulty, resume=resume)
