"""The driver's Tune callback: ``status.json`` (what ``syre-tune status`` shows) and the marker
rows of trials that failed (``error``) or that the scheduler stopped early (``stopped``)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from syre_tune import layout, results
from syre_tune.results import Location
from syre_tune.runner import _waves
from syre_tune.runner._trial import TrialPlan, part, row_buffer


def _error_text(trial: Any) -> str:
    """The last line of the trial's error (``ValueError: ...``), or Ray's own description."""
    error = None
    try:  # the driver's own copy first: the one in storage may not be synced yet
        local = trial.error_file
        error = Path(local).read_text() if local and Path(local).exists() else trial.get_error()
    except Exception:  # the error file may be gone; keep the study going
        pass
    lines = [line.strip() for line in str(error or "unknown error").splitlines() if line.strip()]
    errors = [line for line in lines if line.split(":", 1)[0].endswith(("Error", "Exception", "Interrupt"))]
    return (errors[-1] if errors else lines[-1])[:2000]


TRIM_EVERY = 50
"""Trials completed between two returns of the driver's freed heap to the system."""
INTERRUPTED = threading.Event()
"""Set when Ctrl+C (SIGINT) reached the driver during the current ``Tuner.fit``."""


def catch_interrupt() -> None:
    """Note a Ctrl+C in :data:`INTERRUPTED`, then let Tune's own handler end the run gracefully (a
    last snapshot; trials it stops look TERMINATED, so this is how the runner tells). Called from
    the callback's ``setup``, which Tune calls after installing its handler (the runner clears
    :data:`INTERRUPTED` before each ``fit``)."""
    if threading.current_thread() is not threading.main_thread():
        return
    tune_handler = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        INTERRUPTED.set()
        if callable(tune_handler):
            tune_handler(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


def mark_interrupted(study_dir: Location, done: int | None = None, failed: int | None = None) -> None:
    """Record in ``status.json`` that the run was interrupted, with the trials that had finished
    and failed when known (Tune's end of experiment, which it also calls on Ctrl+C, had marked
    every trial it stopped TERMINATED and the study finished)."""
    where = study_dir / layout.STATUS_FILE
    if where.exists():
        status = json.loads(where.read_text())
        status.update(finished=False, interrupted=True, updated=_now())
        if done is not None and failed is not None:
            status.update(done=done, failed=failed, running=0, pending=status["planned"] - done - failed)
        results.write_json_atomic(status, where)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def status_callback(
    plan: TrialPlan,
    study_dir: Location,
    planned: int,
    max_t: int | None,
    waves: bool = False,
    last: bool = True,
) -> Any:
    """``max_t``: the scheduler's budget in reports (a trial it stops there is not stopped early).
    A study run in ``waves`` counts the earlier waves' trials too (read from ``waves.json`` when
    the wave starts, not kept in the callback, which Tune pickles with each wave's experiment),
    and only the ``last`` wave's end finishes the study."""
    from ray import tune

    class StatusCallback(tune.Callback):
        """Writes ``status.json`` (counts of trials by state) and the marker rows of trials that
        failed (``error``) or that the scheduler stopped early (``stopped``)."""

        def __init__(self) -> None:
            self.written = 0.0
            self.completed = 0
            self.stopped: set[str] = set()
            self.before: dict[str, Any] = {}

        def __getstate__(self) -> dict[str, Any]:
            return {**self.__dict__, "before": {}}

        def _write(self, trials: list[Any], finished: bool = False, force: bool = False) -> None:
            if not force and time.monotonic() - self.written < 2.0:
                return
            self.written = time.monotonic()
            before = self.before
            earlier = before.get("trial_ids", [])
            counts = {"done": before.get("done", 0), "running": 0, "failed": before.get("failed", 0), "pending": 0}
            for trial in trials:
                state = {"TERMINATED": "done", "RUNNING": "running", "ERROR": "failed"}.get(trial.status, "pending")
                counts[state] += 1
            counts["pending"] += max(0, planned - len(earlier) - len(trials))
            status = {
                "study": plan.study,
                "planned": planned,
                **counts,
                "finished": finished and last,
                "interrupted": False,
                "trial_ids": [*earlier, *sorted(trial.trial_id for trial in trials)],
                "driver": {"host": socket.gethostname(), "pid": os.getpid()},
                "updated": _now(),
            }
            results.write_json_atomic(status, study_dir / layout.STATUS_FILE)

        def _marker(self, trial: Any, status: str, error: str | None = None) -> None:
            _, _, rows = row_buffer(plan, trial.trial_id, trial.config, "cpu")
            table = rows.marker_table(plan.seed_blocks[trial.config["seed_block"]], status, error)
            where = table.schema.get_field_index("config.device")  # the driver cannot tell: null
            if where >= 0:
                table = table.set_column(where, "config.device", pa.nulls(table.num_rows, pa.string()))
            results.write_table_atomic(table, part(plan, trial.trial_id, status))

        def setup(self, **info: Any) -> None:
            catch_interrupt()
            self.before = _waves.counts(_waves.progress(study_dir)) if waves else {}

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            self._write(trials)

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any) -> None:
            # Tune marks a result `done` here only when the scheduler decided to stop the trial (a
            # trial that returns ends without a further result); at max_t it used its whole budget
            if result.get("done") and max_t is not None and result.get("training_iteration", max_t) < max_t:
                self.stopped.add(trial.trial_id)

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self.completed += 1
            if self.completed % TRIM_EVERY == 0:
                _waves.trim_heap()
            try:
                if trial.num_failures:  # it failed before (error rows may be there), and finished now
                    part(plan, trial.trial_id, "error").remove()
                if trial.trial_id in self.stopped:
                    self._marker(trial, "stopped")
                    self.stopped.discard(trial.trial_id)
            finally:
                self._write(trials, force=True)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            try:
                self._marker(trial, "error", _error_text(trial))
            finally:
                self._write(trials, force=True)

        def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
            self._write(trials, finished=True, force=True)

    return StatusCallback()
