"""A large grid study as successive waves: one Tune experiment of at most ``wave_size`` trials
after another, so that the driver's memory stays flat in the number of trials.

Ray Tune keeps, on the driver, every trial of an experiment (its config, result statistics and
state) until the experiment ends: about 80 KiB per trial. A wave's experiment is released when
the wave ends (and the freed heap handed back to the system), so a study of 100,000 trials holds
at most one wave's worth. Rows stay exactly once: a wave's trials write their own parts as before,
``waves.json`` (in the study's ``tune/``) records each finished wave and its trials, and a resume
continues the wave in progress from its own experiment, then runs the rest.

Only a grid search without a scheduler is split: a random search draws its samples from one
generator, an Optuna search and ASHA compare trials across the whole experiment, so those run
as one wave whatever their size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import itertools
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from syre_tune import layout, results
from syre_tune.results import Location
from syre_tune.study import Study


@dataclass(frozen=True)
class Wave:
    index: int
    points: tuple[int, ...]
    """Indices into the study's grid points."""
    blocks: tuple[int, ...]
    """Indices into the study's seed blocks: a wave runs every (point, block) pair of these."""

    @property
    def trials(self) -> int:
        return len(self.points) * len(self.blocks)


def waves(study: Study) -> list[Wave]:
    """The study's waves, the same every time it is loaded (a resume recomputes them)."""
    points, blocks = len(study.points), len(study.seed_blocks)
    size = study.wave_size
    if study.search != "grid" or study.scheduler or study.num_trials <= size:
        return [Wave(0, tuple(range(points)), tuple(range(blocks)))]
    if blocks <= size:  # whole points, as many as fit
        step = size // blocks
        starts = range(0, points, step)
        return [Wave(i, tuple(range(s, min(s + step, points))), tuple(range(blocks))) for i, s in enumerate(starts)]
    cells = itertools.product(range(points), range(0, blocks, size))  # one point's blocks, in pieces
    return [Wave(i, (p,), tuple(range(b, min(b + size, blocks)))) for i, (p, b) in enumerate(cells)]


def experiment(study_dir: Location, wave: Wave, several: bool) -> tuple[Location, str]:
    """Where wave's Tune experiment lives: (its storage path, its name). One wave: ``tune/``."""
    if not several:
        return study_dir, layout.TUNE_DIR
    return study_dir / layout.TUNE_DIR, layout.wave_dir(wave.index)


def progress(study_dir: Location) -> dict[str, Any]:
    """``waves.json``: ``done`` (waves finished), their trials' ``trial_ids``, ``done`` / ``failed``
    counts as ``trials_done`` / ``trials_failed``, and the ``best`` result so far; {} before any."""
    where = study_dir / layout.TUNE_DIR / layout.WAVES_FILE
    return json.loads(where.read_text()) if where.exists() else {}


def finished(study_dir: Location, before: dict[str, Any], best: dict[str, Any] | None) -> dict[str, Any]:
    """Record a finished wave: its trials (as ``status.json`` counts them now) join ``before``."""
    status = json.loads((study_dir / layout.STATUS_FILE).read_text())
    after = {
        "done": before.get("done", 0) + 1,
        "trial_ids": status["trial_ids"],
        "trials_done": status["done"],
        "trials_failed": status["failed"],
        "best": best,
    }
    results.write_json_atomic(after, study_dir / layout.TUNE_DIR / layout.WAVES_FILE)
    return after


def counts(progress: dict[str, Any]) -> dict[str, Any]:
    """What the status callback of the next wave starts from."""
    return {
        "done": progress.get("trials_done", 0),
        "failed": progress.get("trials_failed", 0),
        "trial_ids": progress.get("trial_ids", []),
    }


def drop_checkpoints(grid: Any) -> None:
    """Remove the checkpoints of a finished wave's trials that ended without error (a resume never
    runs them again; a failed trial keeps its checkpoints, from which a resume retries it)."""
    for result in grid:
        if result.error is not None or result.path is None:
            continue
        fs = result.filesystem
        for info in fs.get_file_info(pafs.FileSelector(result.path, allow_not_found=True)):
            if info.type == pafs.FileType.Directory and info.base_name.startswith("checkpoint_"):
                fs.delete_dir(info.path)


def release_memory() -> None:
    """Collect what is no longer referenced (a finished wave's experiment, a dataset read back)
    and hand the freed memory back to the system: Arrow's pool, then the heap."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    trim_heap()


def trim_heap() -> None:
    """Hand freed heap pages back to the system: glibc's ``malloc_trim`` (without it the process
    keeps them, and its RSS grows with every trial Tune starts and forgets); nothing elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
