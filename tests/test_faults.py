"""Fault tolerance on local Ray, end to end through the CLI: a worker SIGKILLed mid-trial, a trial
that raises, a diverging trial, the driver killed mid-study and resumed (grid and Optuna).

Every test checks the dataset's exactly-once property: one row per (trial, seed, iteration) that
the study planned, no gap, no duplicate. The failures come from ``tests/plugins/syre_test_plugins``
(a benchmark loaded by module path on the Ray workers' PYTHONPATH).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from syre_tune import results

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "tests" / "plugins"
CLI = [sys.executable, "-m", "syre_tune.cli"]
BENCH = "syre_test_plugins.faulty"
STEPS, EVERY = 600, 100  # 7 reports per trial: steps 0, 100, ..., 600
ITERATIONS = list(range(0, STEPS + 1, EVERY))


def env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(PLUGINS), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def syre_tune(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env())


def write_study(folder: Path, **spec) -> Path:
    base = {"benchmark": BENCH, "seeds": 2, "metric": "objective", "mode": "min"}
    config = {"method": "syre", "sigma0": 1.0, "gamma": 0.1, "dim": 16, "steps": STEPS, "report_every": EVERY}
    spec = {**base, **spec, "config": {**config, "log_dir": str(folder), **spec.get("config", {})}}
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def reports(folder: Path) -> pd.DataFrame:
    return pd.read_json(folder / "reports.jsonl", lines=True)


def assert_exactly_once(study_dir: Path, trials: int, seeds: int) -> pd.DataFrame:
    """Every trial has each (seed, iteration) once; finished trials have every planned iteration."""
    df = results.read(study_dir, measurements=True)
    assert not df.duplicated(["trial_id", "seed", "iteration"]).any()
    assert df["trial_id"].nunique() == trials
    status = results.trials(study_dir).set_index("trial_id")["status"]
    for trial_id, rows in df.groupby("trial_id"):
        if status[trial_id] == "ok":
            assert rows.groupby("seed")["iteration"].apply(sorted).tolist() == [ITERATIONS] * seeds
    return df


def test_killed_worker_raising_and_diverging_trials(tmp_path: Path) -> None:
    path = write_study(
        tmp_path,
        variants=[
            {"config": {"kill_at": 400}},  # SIGKILLed after its 5th report: retried from the 4th
            {"config": {"raise_at": 200}},  # raises on every attempt
            {"config": {"lr": 0.5, "sigma0": 10.0}},  # diverges
            {"config": {"sigma0": 2.0}},  # fine
        ],
        max_failures=1,
        checkpoint_every=2,
    )
    done = syre_tune("run", str(path), "--storage", str(tmp_path / "store"), "--no-analyze", cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    study = tmp_path / "store" / "study"
    trials = results.trials(study).set_index("trial_id")
    failed = trials.index[trials.status == "error"].tolist()
    assert len(failed) == 1 and f"failed trials: {failed[0]}" in done.stderr
    assert "ValueError: injected failure at step 200" in trials.loc[failed[0], "error"]
    assert (trials.status == "diverged").sum() == 1 and (trials.status == "ok").sum() == 2
    df = assert_exactly_once(study, trials=4, seeds=2)
    # the failed trial keeps what it measured before it raised (steps 0 and 100), and one error row per seed
    raised = results.read(study).query("trial_id == @failed[0]")
    assert sorted(raised.loc[raised.status == "ok", "iteration"].unique()) == [0, 100]
    assert raised.loc[raised.status == "error", "seed"].tolist() == [0, 1]
    assert raised.loc[raised.status == "error", "config.device"].isna().all()  # the driver cannot tell
    assert (raised.loc[raised.status == "ok", "config.device"] == "cpu").all()
    # the diverged trial stopped at its first NaN/inf, was not retried, and says so
    diverged = df[df.trial_id.isin(trials.index[trials.status == "diverged"])]
    last = diverged["iteration"].max()
    assert last < STEPS and (diverged.loc[diverged.iteration == last, "status"] == "diverged").any()
    log = reports(tmp_path)
    assert log[log.tag.str.startswith("syre-10.0-0.5")].step.is_unique
    # the killed trial ran twice: from the start to step 400, then from its checkpoint at step 300
    killed = log[log.tag.str.contains("-400--1-")]
    assert killed.pid.nunique() == 2
    assert killed.groupby("step").size().to_dict() == {0: 1, 100: 1, 200: 1, 300: 1, 400: 2, 500: 1, 600: 1}
    status = json.loads((study / "status.json").read_text())
    assert (status["done"], status["failed"], status["running"], status["pending"]) == (3, 1, 0, 0)
    shown = syre_tune("status", "study", "--storage", str(tmp_path / "store"), cwd=tmp_path)
    assert shown.returncode == 0 and "3 done, 0 running, 1 failed, 0 pending of 4 trials" in shown.stdout
    assert "1 trials diverged, 0 stopped early by the scheduler" in shown.stdout


def kill_when(process: subprocess.Popen, parts: Path, count: int, group: bool = True, timeout: float = 120) -> None:
    """SIGKILL the driver once ``count`` part files exist: with its local Ray (``group``), or
    the driver process alone (its local Ray must then go down by itself)."""
    deadline = time.monotonic() + timeout
    while len(list(parts.glob("part-*.parquet"))) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the study made no progress"
        time.sleep(0.2)
    if group:
        os.killpg(process.pid, signal.SIGKILL)
    else:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()


def assert_quiet_within(folder: Path, seconds: float, still: float = 4.0) -> None:
    """Within ``seconds``, the files in ``folder`` stop changing for ``still`` seconds."""
    deadline = time.monotonic() + seconds

    def listing() -> list[tuple[str, int]]:
        return sorted((path.name, path.stat().st_mtime_ns) for path in folder.iterdir())

    seen, since = listing(), time.monotonic()
    while time.monotonic() - since < still:
        assert time.monotonic() < deadline, f"{folder} still changing {seconds} s after its driver died"
        time.sleep(0.5)
        now = listing()
        if now != seen:
            seen, since = now, time.monotonic()


@pytest.mark.parametrize(("search", "group"), [("grid", True), ("optuna", False)], ids=["grid", "optuna-driver-only"])
def test_killed_driver_then_resume_finishes_exactly_once(tmp_path: Path, search: str, group: bool) -> None:
    spec = {
        "config": {"sleep_s": 0.25},
        "max_concurrent": 2,
        "checkpoint_every": 2,
    }
    if search == "grid":
        spec["sweep"] = {"sigma0": {"grid": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]}}
    else:
        spec.update(search="optuna", num_samples=6, sweep={"sigma0": {"loguniform": [0.5, 16.0]}})
    path = write_study(tmp_path, **spec)
    storage = tmp_path / "store"
    study = storage / "study"
    process = subprocess.Popen(
        [*CLI, "run", str(path), "--storage", str(storage), "--no-analyze"],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        kill_when(process, study / "results", count=3, group=group)
        if not group:  # the local Ray the driver started goes down with it: soon, nothing writes
            assert_quiet_within(study / "results", seconds=20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    shown = syre_tune("status", "study", "--storage", str(storage), cwd=tmp_path)
    assert shown.returncode == 0 and "its driver is gone: finish it with  syre-tune resume study" in shown.stdout
    # rows of a trial Tune's last snapshot before the kill did not record: its work runs again
    forgotten = next((study / "results").glob("part-*-00000.parquet"))
    shutil.copy(forgotten, study / "results" / "part-forgotten-00000.parquet")
    done = syre_tune("resume", "study", "--storage", str(storage), "--no-analyze", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # the restored experiment is shown by this run's line, each trial counted once
    assert "study: 6 done, 0 running, 0 pending, 0 failed of 6 · " in done.stdout, done.stdout[-3000:]
    df = assert_exactly_once(study, trials=6, seeds=2)
    assert (df["status"] == "ok").all() and "forgotten" not in set(df["trial_id"])
    log = reports(tmp_path)
    assert log.groupby("tag").step.max().eq(STEPS).all() and log.tag.nunique() == 6
    if search == "optuna":
        import optuna
        from optuna.storages.journal import JournalFileBackend

        storage_ = optuna.storages.JournalStorage(JournalFileBackend(str(study / "optuna.journal")))
        loaded = optuna.load_study(study_name="study", storage=storage_)
        complete = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert len(complete) == 6
        assert not [t for t in loaded.trials if t.state == optuna.trial.TrialState.RUNNING]
        assert sorted(round(t.params["sigma0"], 12) for t in complete) == sorted(
            round(v, 12) for v in df.groupby("trial_id")["sigma0"].first()
        )
    status = json.loads((study / "status.json").read_text())
    assert status["finished"] and status["done"] == 6


def test_resume_of_an_unknown_study_is_a_usage_error(tmp_path: Path) -> None:
    done = syre_tune("resume", "nothing-here", "--storage", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no study of that name" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_optuna_with_asha_stops_trials_early_and_keeps_what_they_reported(tmp_path: Path) -> None:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    path = write_study(
        tmp_path,
        search="optuna",
        sweep={"sigma0": {"loguniform": [0.1, 20.0]}, "gamma": {"loguniform": [0.01, 1.0]}},
        optuna={"sampler": "tpe"},
        num_samples=8,
        max_concurrent=2,
        scheduler={"asha": {"grace_period": 1, "reduction_factor": 2, "max_t": len(ITERATIONS)}},
        config={"sleep_s": 0.05},
    )
    done = syre_tune("run", str(path), "--storage", str(tmp_path / "store"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    study = tmp_path / "store" / "study"
    everything = results.read(study)
    df = results.read(study, measurements=True)
    assert not df.duplicated(["trial_id", "seed", "iteration"]).any() and (df["status"] == "ok").all()
    last = df.groupby("trial_id")["iteration"].max()
    assert last.nunique() > 1 and last.min() < STEPS, "ASHA stopped no trial early"
    # the trials ASHA stopped before max_t carry one `stopped` marker per seed; the others none
    markers = everything[everything.status == "stopped"]
    assert markers.iteration.isna().all() and len(markers) == len(markers.drop_duplicates(["trial_id", "seed"]))
    assert markers["config.device"].isna().all() and markers["metric.objective"].isna().all()
    assert set(markers.trial_id) == set(last.index[last < ITERATIONS[-1]])
    summary = results.trials(study).set_index("trial_id")
    assert (summary.status == "stopped").sum() == len(set(markers.trial_id)) > 0
    provenance = json.loads((study / "provenance.json").read_text())
    assert sorted(provenance["stopped"]) == sorted(set(markers.trial_id))
    assert "stopped early by the scheduler" in done.stdout
    # every step a trial reported is in the dataset, even for a trial ASHA stopped at a report: each
    # trial's rows are the first k planned iterations, and they cover what its reports logged
    # (a trial stopped inside its report never logs that report: at most one step more in the rows)
    log = reports(tmp_path)
    logged = {tag.split("-")[1]: set(steps) for tag, steps in log.groupby("tag").step}
    for _, trial in df.groupby("trial_id"):
        steps = sorted(trial.iteration.unique())
        assert steps == ITERATIONS[: len(steps)]
        seen = logged.get(str(trial.sigma0.iloc[0]), set())
        assert seen <= set(steps) and len(steps) - len(seen) <= 1, (steps, seen)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(study / "optuna.journal")))
    loaded = optuna.load_study(study_name="study", storage=storage)
    complete = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 8
    final = df[df.iteration == df.trial_id.map(last)].groupby("trial_id")
    best = final["metric.objective"].mean().idxmin()
    assert loaded.best_trial.params["sigma0"] == pytest.approx(final["sigma0"].first()[best], rel=1e-12)
    assert loaded.best_value == pytest.approx(final["metric.objective"].mean().min(), rel=1e-6)
    figures = study / "figures"
    assert (figures / "optuna_history.png").exists() and (figures / "optuna_importances.csv").exists()
