"""bench/soak.py (a fault soak) in a short version: trial workers SIGKILLed at random times and the
driver once, then resumed; every row exactly once and equal to an uninterrupted run's. Also the
comparison it reports (exact counts on hand-made frames) and its fault schedule."""

from __future__ import annotations

from pathlib import Path

import bench_scripts
import numpy as np
import pandas as pd
import pytest

soak = bench_scripts.load("soak")


def frame(rows: list[tuple[float, int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["sigma0", "seed", "iteration", "metric.loss"]).assign(status="ok")


def test_compare_counts_lost_duplicated_unexpected_and_differing_rows() -> None:
    reference = frame([(1.0, 0, 1, 0.5), (1.0, 1, 1, np.nan), (2.0, 0, 1, 0.25), (2.0, 0, 2, 0.125)])
    assert soak.compare(reference, reference).exact
    run = frame(
        [
            (1.0, 0, 1, 0.5),
            (1.0, 0, 1, 0.5),  # a duplicate
            (1.0, 1, 1, np.nan),  # NaN equals NaN
            (2.0, 0, 1, np.nextafter(0.25, 1.0)),  # one ulp off
            (4.0, 0, 1, 0.5),  # not in the reference
        ]
    )  # (2.0, 0, 2) lost
    assert soak.compare(reference, run) == soak.Comparison(expected=4, lost=1, duplicated=1, unexpected=1, differing=1)
    marker = frame([(2.0, 0, 2, 0.125)]).assign(status="error")  # same key, another status
    assert soak.compare(reference.iloc[3:], marker).differing == 1


@pytest.mark.parametrize("kills", [0, 1, 6])
def test_schedule_kills_the_driver_once_between_the_worker_kills(kills: int) -> None:
    faults = soak.schedule(kills, np.random.default_rng(3), jitter_s=1.5)
    kinds = [fault.kind for fault in faults]
    assert kinds.count("driver") == 1 and kinds.count("worker") == kills
    assert kinds.index("driver") == (kills + 1) // 2  # half the worker kills hit the resumed study
    progress = [fault.progress for fault in faults]
    assert progress == sorted(progress) and 0.05 <= progress[0] and progress[-1] <= 0.95
    assert all(0 <= fault.delay_s <= 1.5 for fault in faults)
    assert faults == soak.schedule(kills, np.random.default_rng(3), jitter_s=1.5)  # seeded


def test_short_soak_loses_duplicates_and_changes_no_row(tmp_path: Path) -> None:
    args = soak.Args(minutes=0.15, trial_seconds=2.0, worker_kills=2, seed=0, reference="direct")
    report = soak.soak(args, tmp_path)
    logs = {path.name: path.read_text()[-3000:] for path in tmp_path.glob("*.log")}
    # the faults happened: a study that ended before them would prove nothing
    assert report.faults.count("driver") == 1, logs
    assert report.faults.count("worker") >= 1, logs
    assert report.finished and report.survived == report.injected, (report.lines(), logs)
    comparison = report.comparison
    assert comparison.expected == args.trials * soak.REPORTS * args.seeds
    assert (comparison.lost, comparison.duplicated, comparison.unexpected, comparison.differing) == (0, 0, 0, 0)
