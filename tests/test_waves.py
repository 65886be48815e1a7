"""A grid study larger than ``wave_size`` runs as successive Tune experiments (waves): every
(point, seed block) trial exactly once across the waves, the counts and the rows as if it were
one experiment, finished trials' checkpoints removed, and a Ctrl+C inside a later wave resumed
from that wave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syre_tune import results, study
from syre_tune.runner import _waves

CLI = [sys.executable, "-m", "syre_tune.cli"]
LONG = 250_000  # theorem4 steps: about 7 s


def load(tmp_path: Path, text: str) -> study.Study:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    (loaded,) = study.load(path)
    return loaded


@pytest.mark.parametrize(
    ("points", "seeds", "per_trial", "size"), [(7, 2, 1, 4), (3, 10, 1, 4), (5, 3, 3, 2), (4, 2, 1, 8), (1, 9, 2, 2)]
)
def test_waves_cover_every_trial_once_within_the_size(tmp_path, points, seeds, per_trial, size) -> None:
    grid = ", ".join(str(0.1 * (i + 1)) for i in range(points))
    loaded = load(
        tmp_path,
        f"benchmark: theorem4\nsweep: {{sigma0: {{grid: [{grid}]}}}}\nseeds: {seeds}\n"
        f"seeds_per_trial: {per_trial}\nwave_size: {size}\n",
    )
    waves = _waves.waves(loaded)
    cells = [(p, b) for wave in waves for p in wave.points for b in wave.blocks]
    expected = [(p, b) for p in range(points) for b in range(len(loaded.seed_blocks))]
    assert sorted(cells) == expected  # each trial once
    assert all(0 < wave.trials <= size for wave in waves)
    assert [wave.index for wave in waves] == list(range(len(waves)))
    one = len(expected) <= size
    assert (len(waves) == 1) == one


def test_random_and_optuna_and_asha_run_as_one_wave(tmp_path) -> None:
    base = "benchmark: theorem4\nseeds: 4\nseeds_per_trial: 1\nwave_size: 1\n"
    for extra in (
        "search: random\nnum_samples: 3\nsweep: {sigma0: {uniform: [0.1, 1.0]}}\n",
        "search: optuna\nnum_samples: 3\nseeds_per_trial: 4\nsweep: {sigma0: {uniform: [0.1, 1.0]}}\n",
        "sweep: {sigma0: {grid: [0.1, 1.0]}}\nscheduler: asha\n",
    ):
        text = base.replace("seeds_per_trial: 1\n", "") if "seeds_per_trial: 4" in extra else base
        assert len(_waves.waves(load(tmp_path, text + extra))) == 1


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*CLI, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_a_study_in_waves_interrupted_in_its_last_wave_then_resumed(tmp_path: Path) -> None:
    """Three trials, one per wave; Ctrl+C while the third (long) runs: the run says so (trials
    finished, the resume command), draws no figures, exits 130, and ``status`` shows it; the
    printed resume runs only the third trial, and the dataset ends exactly once."""
    (tmp_path / "s.yaml").write_text(
        "benchmark: theorem4\nconfig: {gamma: 0.1, sigma0: 1.0, n_symmetries: 2}\n"
        f"sweep: {{steps: {{grid: [40, 60, {LONG}]}}}}\nseeds: 2\nwave_size: 1\n"
    )
    driver = subprocess.Popen(
        [*CLI, "run", "s.yaml", "--storage", "store"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    study_dir = tmp_path / "store" / "s"
    third = study_dir / "tune" / "wave-0002"
    deadline = time.monotonic() + 180
    while not (third.exists() and list(third.glob("trainable_*"))):  # the long trial has started
        assert driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "the third wave did not start"
        time.sleep(0.2)
    time.sleep(2.0)
    os.killpg(driver.pid, signal.SIGINT)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err[-3000:]
    ours = [line.strip() for line in err.splitlines() if "syre-tune" in line]
    assert "[syre-tune] s: interrupted: 2 of 3 trials finished; no figures drawn. Finish it with:" in ours, err
    assert "syre-tune resume s --storage store" in ours
    assert " rows in " not in out  # not reported as a finished study
    assert not (study_dir / "figures").exists()
    status = json.loads((study_dir / "status.json").read_text())
    assert (status["finished"], status["interrupted"], status["done"], status["pending"]) == (False, True, 2, 1)
    provenance = json.loads((study_dir / "provenance.json").read_text())
    assert provenance["finished"] is None and provenance["interrupted"]
    shown = run(tmp_path, "status", "s", "--storage", "store")
    assert "2 done, 0 running, 0 failed, 1 pending of 3 trials" in shown.stdout
    assert "interrupted (Ctrl+C): finish it with  syre-tune resume s --storage store" in shown.stdout
    waves = json.loads((study_dir / "tune" / "waves.json").read_text())
    assert waves["done"] == 2 and len(waves["trial_ids"]) == 2
    # the finished waves' checkpoints are gone
    assert list((study_dir / "tune").glob("wave-000[01]/trainable_*"))
    assert not list((study_dir / "tune").glob("wave-000[01]/trainable_*/checkpoint_*"))

    resumed = run(tmp_path, "resume", "s", "--storage", "store", "--no-analyze")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    status = json.loads((study_dir / "status.json").read_text())
    assert (status["finished"], status["interrupted"], status["done"], status["pending"]) == (True, False, 3, 0)
    assert len(status["trial_ids"]) == 3
    df = results.read(study_dir)
    assert not df.duplicated(["trial_id", "seed", "iteration"]).any()
    assert df.groupby("config.steps").size().to_dict() == {40: 2, 60: 2, LONG: 2}  # one report per seed
    assert (df.iteration == df["config.steps"]).all()
    assert sorted(p.name for p in (study_dir / "tune").iterdir()) == [
        "wave-0000",
        "wave-0001",
        "wave-0002",
        "waves.json",
    ]
