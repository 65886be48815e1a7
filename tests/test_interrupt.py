"""Ctrl+C on ``syre-tune run``: the study says it was interrupted (how many trials finished and
the exact command that finishes it), draws no figures, exits 130, ``status`` shows it, and the
printed ``resume`` command completes the dataset exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from syre_tune import results

CLI = [sys.executable, "-m", "syre_tune.cli"]
SHORT, LONG = 40, 400_000  # theorem4 steps: the short trial ends at once, the long one in ~10 s


def test_ctrl_c_says_interrupted_exits_130_and_resume_finishes(tmp_path: Path) -> None:
    study = tmp_path / "s.yaml"
    study.write_text(
        "benchmark: theorem4\nconfig: {gamma: 0.1, sigma0: 1.0, n_symmetries: 2}\n"
        f"sweep: {{steps: {{grid: [{SHORT}, {LONG}]}}}}\nseeds: 2\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # its own process group, which Ctrl+C in a terminal signals as a whole
    driver = subprocess.Popen(
        [*CLI, "run", str(study), "--storage", "store"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    parts = tmp_path / "store" / "s" / "results"
    deadline = time.monotonic() + 120
    while not list(parts.glob("part-*.parquet")):  # the short trial has finished
        assert driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "the study made no progress"
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGINT)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, out[-2000:] + err[-3000:]
    ours = [line.strip() for line in err.splitlines() if "syre-tune" in line]
    assert "[syre-tune] s: interrupted: 1 of 2 trials finished; no figures drawn. Finish it with:" in ours, err
    assert "syre-tune resume s --storage store" in ours
    assert " rows in " not in out  # not reported as a finished study
    study_dir = tmp_path / "store" / "s"
    assert not (study_dir / "figures").exists()
    status = json.loads((study_dir / "status.json").read_text())
    assert (status["finished"], status["interrupted"], status["done"], status["pending"]) == (False, True, 1, 1)
    provenance = json.loads((study_dir / "provenance.json").read_text())
    assert provenance["finished"] is None and provenance["interrupted"]

    shown = subprocess.run([*CLI, "status", "s", "--storage", "store"], cwd=tmp_path, capture_output=True, text=True)
    assert "1 done, 0 running, 0 failed, 1 pending of 2 trials" in shown.stdout
    assert "interrupted (Ctrl+C): finish it with  syre-tune resume s --storage store" in shown.stdout

    resumed = subprocess.run(
        [*CLI, "resume", "s", "--storage", "store", "--no-analyze"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    df = results.read(study_dir)
    assert not df.duplicated(["trial_id", "seed", "iteration"]).any()
    assert sorted(df.groupby("config.steps").size().items()) == [(SHORT, 2), (LONG, 2)]  # one report per seed
    status = json.loads((study_dir / "status.json").read_text())
    assert (status["finished"], status["interrupted"], status["done"]) == (True, False, 2)
