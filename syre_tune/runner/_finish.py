"""Finishing a study folder once Tune is done: provenance, the parts of trials the experiment
forgot, and Optuna trials a killed driver left running."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from syre_tune import __version__, _secrets, layout, results
from syre_tune.results import Location
from syre_tune.runner import _waves
from syre_tune.study import Study


@dataclass(frozen=True)
class RunSummary:
    """What a run (or resume) of a study did: its trials by outcome, rows written, wall time and,
    for one objective, the best trial's config and metric."""

    study: str
    study_dir: Location
    trials: int
    errored: tuple[str, ...]
    diverged: tuple[str, ...]
    stopped: tuple[str, ...]
    rows: int
    wall_s: float
    best: dict[str, Any] | None
    interrupted: int | None = None
    """Set when the run was interrupted (Ctrl+C): how many trials had ended (finished or failed)."""
    planned: int = 0


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def provenance(study: Study, started: str) -> dict[str, Any]:
    """What ``provenance.json`` holds when a study starts (:func:`finish` adds the outcome)."""
    import ray
    import torch

    return {
        "study": study.name,
        "benchmark": study.benchmark,
        "source": str(study.source),
        "syre_tune": __version__,
        "ray": ray.__version__,
        "torch": torch.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": [_secrets.redact(arg) for arg in sys.argv],
        "trials_planned": study.num_trials,
        "started": started,
    }


def finish(
    study: Study,
    study_dir: Location,
    record: dict[str, Any],
    *,
    trials: int,
    wall: float,
    best: dict[str, Any] | None,
    interrupted: int | None = None,
) -> RunSummary:
    """After Tune ran ``trials`` trials in ``wall`` seconds: leave the dataset with exactly the
    experiment's trials, close Optuna's orphans, and complete ``record`` (the provenance).
    ``interrupted``: the run was stopped (Ctrl+C) with this many trials ended; a resume continues
    it, so Optuna's running trials stay open and the provenance says it did not finish."""
    _remove_forgotten(study_dir)
    rows = results.count_rows(study_dir)
    table = results.trials(study_dir) if rows else None
    errored, diverged, stopped = (
        tuple(table.trial_id[table.status == status]) if table is not None else ()
        for status in ("error", "diverged", "stopped")
    )
    if interrupted is None:
        _close_orphans(study, study_dir)
    record.pop("interrupted", None)
    record.update(
        **({"finished": now()} if interrupted is None else {"interrupted": now(), "finished": None}),
        wall_s=round(wall + record.get("wall_s", 0.0), 2),
        trials=trials,
        errored=list(errored),
        diverged=list(diverged),
        stopped=list(stopped),
        rows=rows,
    )
    results.write_json_atomic(record, study_dir / layout.PROVENANCE_FILE)
    _waves.release_memory()  # what reading the dataset back took
    return RunSummary(
        study.name, study_dir, trials, errored, diverged, stopped, rows, wall, best, interrupted, study.num_trials
    )


def _remove_forgotten(study_dir: Location) -> None:
    """Remove the rows of trials the experiment does not know: a driver killed between two
    snapshots of Tune's state had started them, and the resumed search ran their work again as
    new trials. What is left has exactly one row per (trial, seed, iteration) of its trials."""
    status = study_dir / layout.STATUS_FILE
    if not status.exists():
        return
    known = set(json.loads(status.read_text()).get("trial_ids", []))
    folder = study_dir / layout.RESULTS_DIR
    for name in sorted(entry.base_name for entry in folder.entries() if layout.is_part(entry.base_name)):
        if layout.trial_of(name) not in known:
            (folder / name).remove()


def _close_orphans(study: Study, study_dir: Location) -> None:
    """Optuna trials still RUNNING once Tune is done were asked for by a driver that was killed
    before it saved them; Tune re-asks for those configurations, so close these as failed."""
    if study.search != "optuna":
        return
    import optuna

    storage = layout.optuna_storage(study_dir, study.optuna_storage, create=True)
    loaded = optuna.load_study(study_name=study.name, storage=storage)
    for trial in loaded.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        loaded.tell(trial.number, state=optuna.trial.TrialState.FAIL)
