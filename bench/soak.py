"""A fault soak: a study of a few minutes on an embedded local Ray during which trial workers are
SIGKILLed at random times and the driver once (its whole process group, its local Ray with it),
then resumed; afterwards every (trial, seed, iteration) must be in the dataset exactly once, with
the values an uninterrupted run measures.

    python bench/soak.py [--minutes 3] [--worker-kills 6] [--seed 0] [--reference study|direct] [--keep DIR]

The study (:func:`soak_spec`): ``theorem4`` swept over σ0, every trial ten reports with a checkpoint
every second one, so a killed trial continues from a checkpoint mid-way and rewrites the chunks
after it. ``max_failures`` is the number of worker kills: a trial survives every kill aimed at it.

The faults (:func:`schedule`, seeded by ``--seed``): each fires once the study has written a random
fraction of its planned part files, then after a random delay of up to ``--jitter`` seconds, so
that it lands anywhere within a report (between reports, while rows or a checkpoint are written).
About half the worker kills come before the driver's and the rest during ``syre-tune resume``. A
worker kill SIGKILLs one process, drawn at random, among those of the driver's local Ray that run a
trial (Ray titles them ``ray::ImplicitFunc.train``; found under ``/proc``: Linux only).

The reference (``--reference``): ``study`` runs the same study once more, uninterrupted, through
``syre-tune run``; ``direct`` runs every trial's benchmark in this process, without Ray, through the
same row buffer (a plain reference, and seconds instead of minutes). Rows are matched on (σ0, seed,
iteration), trial ids being Ray's own; their metrics and status must be equal, bit for bit (NaN
equal to NaN): the benchmark is seeded and a resumed trial continues from its saved state. Only
``time_s`` (wall time) and ``trial_id`` are not compared.

Reported: faults injected and survived, rows lost, duplicated, unexpected (not in the reference:
an ``error`` marker of a trial that exhausted its retries, a forgotten trial's rows) and
differing, and the wall time. Exit status 1 unless the study finished with every row exactly once
and equal to the reference's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from syre_tune import benchmarks, layout, results, study  # noqa: E402

CLI = [sys.executable, "-m", "syre_tune.cli"]
NAME = "soak"
"""The study's name, the same for the reference and the faulted run (it is a column of every row)."""
TRIAL_WORKER_TITLE = "ray::ImplicitFunc.train"
"""Ray's process title of a worker running a Tune function trainable's trial."""
KEYS = ("sigma0", "seed", "iteration")
"""What identifies a row across runs: the trial's grid point, the seed, the iteration."""
REPORTS = 10
"""Reports per trial (theorem4 measures after every ``steps / REPORTS`` steps)."""
CHECKPOINT_EVERY = 2
"""A checkpoint (after a chunk of rows) every this many reports."""
STEPS_PER_SECOND = 25_000
"""theorem4 steps of 8 seeds per second on one core of the 2-core machine it was sized on."""
TRIAL_OVERHEAD_S = 2.0
"""Ray's own time per trial there (start, ten reports, five checkpoints), for sizing the study."""
POLL_S = 0.1


@dataclass(frozen=True)
class Args:
    # --- the study
    minutes: float = 3.0
    """Roughly how long the faulted study runs (it has ``trials`` trials, two at a time)."""
    trial_seconds: float = 4.0
    """Roughly how long one trial computes (its steps); a kill lands within one."""
    seeds: int = 8
    """Seeds per trial (vectorised)."""
    # --- the faults
    worker_kills: int = 6
    """How many trial workers are SIGKILLed (the driver is killed once besides)."""
    seed: int = 0
    """Seeds the fault schedule and the choice of worker."""
    jitter: float = 1.5
    """Each fault fires up to this many seconds after its progress mark."""
    # --- the run
    reference: Literal["study", "direct"] = "study"
    """study: an uninterrupted ``syre-tune run``; direct: the benchmark in this process, no Ray."""
    keep: str | None = None
    """Keep the studies and the drivers' logs here instead of a temporary folder."""

    def __post_init__(self) -> None:
        if self.minutes <= 0 or self.trial_seconds <= 0:
            raise ValueError(f"minutes and trial_seconds must be > 0, got {self.minutes=}, {self.trial_seconds=}")
        if self.worker_kills < 0 or self.seeds < 1 or self.jitter < 0:
            raise ValueError(f"expected worker_kills >= 0, seeds >= 1, jitter >= 0, got {self}")

    @property
    def trials(self) -> int:
        """Two trials run at once (one CPU each, two cores), so about 2 · minutes / trial time."""
        return max(2, round(2 * self.minutes * 60 / (self.trial_seconds + TRIAL_OVERHEAD_S)))

    @property
    def steps(self) -> int:
        """Gradient steps per trial: a multiple of REPORTS."""
        return max(1, round(self.trial_seconds * STEPS_PER_SECOND / REPORTS)) * REPORTS


def soak_spec(args: Args) -> dict[str, Any]:
    """The study mapping: theorem4 over ``args.trials`` values of σ0, one seed block per trial."""
    return {
        "name": NAME,
        "benchmark": "theorem4",
        "config": {
            "method": "syre",
            "gamma": 0.1,
            "n_symmetries": 4,
            "steps": args.steps,
            "report_every": args.steps // REPORTS,
        },
        "sweep": {"sigma0": {"logspace": [1.0e-2, 10.0, args.trials]}},
        "seeds": args.seeds,
        "seeds_per_trial": args.seeds,
        "metric": "min_abs_delta",
        "mode": "max",
        "resources": {"cpu": 1},
        "max_concurrent": 2,
        "checkpoint_every": CHECKPOINT_EVERY,
        "max_failures": max(1, args.worker_kills),
    }


def planned_parts(trials: int) -> int:
    """Part files of the finished study: a chunk of rows at every checkpoint (and the last one)."""
    return trials * math.ceil(REPORTS / CHECKPOINT_EVERY)


# --- the faults: when, and which process --------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    kind: Literal["worker", "driver"]
    progress: float
    """Fires once this fraction of the planned part files exists..."""
    delay_s: float
    """...and this much later."""


def schedule(worker_kills: int, rng: np.random.Generator, jitter_s: float) -> list[Fault]:
    """The driver's kill between 30 % and 60 % of the study; ceil(k/2) worker kills before it and
    the rest after it (during the resume), each at a uniform random point, in progress order."""
    driver = rng.uniform(0.3, 0.6)
    before = (worker_kills + 1) // 2
    marks = [*rng.uniform(0.05, driver, before), *rng.uniform(driver, 0.95, worker_kills - before)]
    faults = [Fault("worker", float(mark), float(rng.uniform(0, jitter_s))) for mark in marks]
    faults.append(Fault("driver", float(driver), float(rng.uniform(0, jitter_s))))
    return sorted(faults, key=lambda fault: fault.progress)


def _parents() -> dict[int, int]:
    """Every process's parent (Linux /proc); processes that exit while read are left out."""
    parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces
    return parents


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace").strip()
    except OSError:
        return ""


def trial_workers(driver: int) -> list[int]:
    """The processes under ``driver`` (its local Ray's raylet starts the workers) running a trial."""
    parents = _parents()
    below, frontier = set(), {driver}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - below
        below |= frontier
    return sorted(pid for pid in below if _title(pid) == TRIAL_WORKER_TITLE)


@dataclass(frozen=True)
class Injected:
    kind: Literal["worker", "driver"]
    at_s: float
    """Seconds since the faulted study started."""
    progress: float
    """The fraction of the planned part files written when it fired."""
    pid: int


@dataclass
class FaultInjector:
    """Fires a schedule of faults at the drivers of one study, in order, and logs what it fired."""

    pending: list[Fault]
    parts: Path
    """The study's results folder, whose part files measure its progress."""
    planned: int
    """Part files of the finished study."""
    rng: np.random.Generator
    """Chooses the worker to kill."""
    started: float = field(default_factory=time.monotonic)
    injected: list[Injected] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(fault.kind == kind for fault in self.injected)

    def progress(self) -> float:
        return len(list(self.parts.glob("part-*.parquet"))) / self.planned if self.parts.exists() else 0.0

    def fire_at(self, process: subprocess.Popen) -> None:
        """Fire the pending faults at ``process`` (a ``syre-tune`` driver, leader of its process
        group) while it runs; return after a driver kill, or when it exits."""
        while self.pending and process.poll() is None:
            fault = self.pending[0]
            progress = self.progress()
            if progress < fault.progress:
                time.sleep(POLL_S)
                continue
            time.sleep(fault.delay_s)
            if fault.kind == "driver":
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                self._fired(fault, progress, process.pid)
                return
            workers = trial_workers(process.pid)
            if not workers:  # between trials, or Ray restarting one: wait for a trial to run
                time.sleep(POLL_S)
                continue
            victim = int(self.rng.choice(workers))
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:  # it exited meanwhile: choose again
                continue
            self._fired(fault, progress, victim)

    def _fired(self, fault: Fault, progress: float, pid: int) -> None:
        self.pending.remove(fault)
        self.injected.append(Injected(fault.kind, time.monotonic() - self.started, progress, pid))


# --- running the study --------------------------------------------------------------------------


def _start(args: Sequence[str], cwd: Path, log: Path) -> subprocess.Popen:
    """A ``syre-tune`` command as the leader of a new process group (its local Ray joins it)."""
    with log.open("w") as out:
        return subprocess.Popen(
            [*CLI, *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )


def _finish(process: subprocess.Popen, timeout_s: float, log: Path) -> int:
    """Wait for ``process``; past ``timeout_s`` kill its process group. Its exit status."""
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise RuntimeError(f"{' '.join(process.args)} ran past {timeout_s:.0f} s (its output: {log})") from None


def _timeout_s(args: Args) -> float:
    return 600 + 10 * args.minutes * 60


@dataclass(frozen=True)
class FaultedRun:
    injected: tuple[Injected, ...]
    missed: tuple[Fault, ...]
    """Faults not fired: the study ended before their mark, or with no trial running after it."""
    exit_status: int
    """The last command's: ``syre-tune resume``'s (the run's when its driver was not killed)."""
    status: dict[str, Any]
    """The study's ``status.json`` at the end."""

    def count(self, kind: str) -> int:
        return sum(fault.kind == kind for fault in self.injected)


def _drive(command: list[str], output: Path, timeout_s: float, injector: FaultInjector) -> int:
    """Run a ``syre-tune`` command while ``injector`` fires at it; its exit status."""
    process = _start(command, output.parent, output)
    try:
        injector.fire_at(process)
        return _finish(process, timeout_s, output)
    finally:
        if process.poll() is None:  # an error on our side: leave no study running
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_faulted(args: Args, study_file: Path, storage: Path, work: Path) -> FaultedRun:
    """Run the study with ``args``'s faults: ``syre-tune run`` until the driver's kill, then
    ``syre-tune resume`` (with the worker kills left) to the end."""
    rng = np.random.default_rng(args.seed)  # the schedule, then the choice of workers
    injector = FaultInjector(
        pending=schedule(args.worker_kills, rng, args.jitter),
        parts=storage / NAME / layout.RESULTS_DIR,
        planned=planned_parts(args.trials),
        rng=rng,
    )
    run = ["run", str(study_file), "--storage", str(storage), "--name", NAME, "--no-analyze"]
    exit_status = _drive(run, work / "run.log", _timeout_s(args), injector)
    if injector.count("driver"):  # else the study ended before the driver's mark: nothing to resume
        resume = ["resume", NAME, "--storage", str(storage), "--no-analyze"]
        exit_status = _drive(resume, work / "resume.log", _timeout_s(args), injector)
    status = json.loads((storage / NAME / layout.STATUS_FILE).read_text())
    return FaultedRun(tuple(injector.injected), tuple(injector.pending), exit_status, status)


def reference_study(args: Args, study_file: Path, storage: Path, work: Path) -> pd.DataFrame:
    """Every row of an uninterrupted ``syre-tune run`` of the study."""
    command = ["run", str(study_file), "--storage", str(storage), "--name", NAME, "--no-analyze"]
    log = work / "reference.log"
    exit_status = _finish(_start(command, work, log), _timeout_s(args), log)
    if exit_status != 0:
        raise RuntimeError(f"the uninterrupted reference run failed (exit status {exit_status}; its output: {log})")
    return results.read(storage / NAME)


class _Diverged(Exception):
    """A seed's loss turned NaN/inf: the runner stops the trial there, and so does the reference."""


def reference_direct(loaded: study.Study) -> pd.DataFrame:
    """Every trial's benchmark run in this process, uninterrupted, its rows through the runner's
    row buffer: the rows ``syre-tune run`` writes, without Ray (one torch thread, as a trial)."""
    import torch

    bench = benchmarks.get(loaded.benchmark)
    schema = results.schema_for({}, bench.metrics)  # identity, progress and metrics: what is compared
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(loaded.resources.cpu)))
    tables = []
    try:
        for point in loaded.points:
            for seeds in loaded.seed_blocks:
                cfg = bench.make_config({**loaded.fixed, **point, "seeds": seeds, "device": "cpu"})
                rows = results.RowBuffer(schema, {"sigma0": cfg.sigma0}, {}, loss=bench.loss)

                def report(iteration: int, metrics: dict[str, Any], state: Any = None) -> None:
                    rows.add(iteration, 0.0, cfg.seeds, metrics)  # noqa: B023 (called within this iteration)
                    if rows.diverged:  # noqa: B023
                        raise _Diverged

                try:
                    bench.run(cfg, report)
                except _Diverged:
                    pass
                tables.append(rows.take())
    finally:
        torch.set_num_threads(threads)
    return pd.concat([table.to_pandas() for table in tables], ignore_index=True)


# --- the comparison -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    expected: int
    """Rows of the reference."""
    lost: int
    """Reference rows whose key the run lacks."""
    duplicated: int
    """Run rows beyond the first of their key."""
    unexpected: int
    """Run rows whose key the reference lacks (error markers, rows of forgotten trials)."""
    differing: int
    """Keys in both whose values differ (the first of the run's rows)."""

    @property
    def exact(self) -> bool:
        return self.lost == self.duplicated == self.unexpected == self.differing == 0


def compared_columns(frame: pd.DataFrame) -> list[str]:
    """The values compared: every metric, and the row's status."""
    return ["status", *(column for column in frame.columns if column.startswith("metric."))]


def compare(reference: pd.DataFrame, run: pd.DataFrame, keys: Sequence[str] = KEYS) -> Comparison:
    """How ``run``'s rows differ from ``reference``'s, matched on ``keys``; values equal bit for bit
    (NaN equal to NaN). ``reference`` has one row per key."""
    keys, values = list(keys), compared_columns(reference)
    copies = run.groupby(keys, dropna=False).size()
    merged = reference[keys + values].merge(
        run.drop_duplicates(keys)[keys + values], on=keys, how="outer", suffixes=("", "_run"), indicator=True
    )
    both = merged[merged["_merge"] == "both"]
    same = np.ones(len(both), dtype=bool)
    for column in values:
        mine, theirs = both[column], both[f"{column}_run"]
        same &= ((mine == theirs) | (mine.isna() & theirs.isna())).to_numpy()
    return Comparison(
        expected=len(reference),
        lost=int((merged["_merge"] == "left_only").sum()),
        duplicated=int((copies - 1).sum()),
        unexpected=int((merged["_merge"] == "right_only").sum()),
        differing=int((~same).sum()),
    )


# --- the soak -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoakReport:
    trials: int
    faults: FaultedRun
    worker_kills_survived: int
    driver_kills_survived: int
    comparison: Comparison
    finished: bool
    """The study ended (exit status 0, ``status.json`` finished) with no failed trial."""
    wall_s: float
    """The faulted study: from ``syre-tune run`` to the end of ``syre-tune resume``."""
    reference_wall_s: float

    @property
    def injected(self) -> int:
        return len(self.faults.injected)

    @property
    def survived(self) -> int:
        return self.worker_kills_survived + self.driver_kills_survived

    @property
    def passed(self) -> bool:
        return self.finished and self.comparison.exact

    def lines(self) -> list[str]:
        c = self.comparison
        kills = f"{self.faults.count('worker')} worker SIGKILLs, {self.faults.count('driver')} driver SIGKILL"
        missed = f" ({len(self.faults.missed)} scheduled not fired)" if self.faults.missed else ""
        return [
            f"trials: {self.trials}, rows expected: {c.expected}",
            f"faults injected: {self.injected} ({kills}){missed}",
            f"faults survived: {self.survived}",
            f"rows lost: {c.lost}",
            f"rows duplicated: {c.duplicated}",
            f"rows unexpected: {c.unexpected}",
            f"rows differing: {c.differing}",
            f"wall: faulted study {self.wall_s:.1f} s, reference {self.reference_wall_s:.1f} s",
            "PASS" if self.passed else "FAIL",
        ]


def soak(args: Args, work: Path) -> SoakReport:
    """Write the study under ``work``, run the reference and the faulted study, compare."""
    work.mkdir(parents=True, exist_ok=True)
    study_file = work / f"{NAME}.yaml"
    study_file.write_text(yaml.safe_dump(soak_spec(args), sort_keys=False))
    (loaded,) = study.load(study_file)

    start = time.perf_counter()
    if args.reference == "study":
        reference = reference_study(args, study_file, work / "reference", work)
    else:
        reference = reference_direct(loaded)
    reference_wall = time.perf_counter() - start

    start = time.perf_counter()
    faulted = run_faulted(args, study_file, work / "faulted", work)
    wall = time.perf_counter() - start

    status = faulted.status
    finished = faulted.exit_status == 0 and bool(status.get("finished")) and status.get("failed") == 0
    rows = results.read(work / "faulted" / NAME)
    comparison = compare(reference, rows)
    # A worker kill is survived when Ray retried the trial it hit to the end; a trial that ran out
    # of retries keeps an error marker, and is the end of at least one kill.
    failed_trials = int(rows.loc[rows["status"] == "error", "trial_id"].nunique())
    workers = faulted.count("worker")
    return SoakReport(
        trials=loaded.num_trials,
        faults=faulted,
        worker_kills_survived=workers if finished else max(0, workers - failed_trials),
        driver_kills_survived=faulted.count("driver") if finished else 0,
        comparison=comparison,
        finished=finished,
        wall_s=wall,
        reference_wall_s=reference_wall,
    )


def parse(argv: Sequence[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Args()
    parser.add_argument("--minutes", type=float, default=defaults.minutes, help="faulted study's length, about")
    parser.add_argument("--trial-seconds", type=float, default=defaults.trial_seconds, help="one trial's compute")
    parser.add_argument("--seeds", type=int, default=defaults.seeds, help="seeds per trial")
    parser.add_argument("--worker-kills", type=int, default=defaults.worker_kills, help="trial workers SIGKILLed")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seeds the fault schedule")
    parser.add_argument("--jitter", type=float, default=defaults.jitter, help="random delay of a fault, at most")
    parser.add_argument("--reference", choices=("study", "direct"), default=defaults.reference)
    parser.add_argument("--keep", help="keep the studies and logs here")
    return Args(**{key.replace("-", "_"): value for key, value in vars(parser.parse_args(argv)).items()})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="soak-"))
    print(f"soak: {args.trials} trials of {args.steps} steps, {args.worker_kills} worker kills + 1 driver kill")
    report = soak(args, work)
    for fault in report.faults.injected:
        print(f"  {fault.at_s:7.1f} s  {fault.progress:5.0%}  SIGKILL {fault.kind} (pid {fault.pid})")
    print("\n".join(report.lines()))
    if not report.passed:
        print(f"the studies and the drivers' output: {work}")
    elif not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
