"""The live display of ``syre-tune run`` and ``resume``: one line per study, through Tune's
progress-reporter API, instead of Ray's trial table.

    theorem4  [####------]  41%  5 done, 2 running, 5 pending, 0 failed of 12 · 246 rows · 0:04, ~0:06 left
    theorem4: 5 done, 2 running, 5 pending, 0 failed of 12 · 246 rows · 0:04, ~0:06 left

On a terminal the line is redrawn in place every ``TERMINAL_EVERY_S`` seconds (a progress bar);
written to a file or a pipe (a log) it is a plain line every ``LOG_EVERY_S`` seconds, without the
bar. Every study gets its line, each study of a multi-study file and each wave of a large grid
(the counts then cover the whole study). ``syre-tune run --verbose`` shows Ray's own table and
logs instead.

Counts come from the trials Tune holds; "rows" are the measurements the trials have reported
(one per seed and report; written to Parquet at each checkpoint and at a trial's end). The time
left is the elapsed time scaled by the rows still to come, from the benchmark's own count of its
reports (:func:`syre_tune.sizing.planned_rows`); by the trials still to come where it gives none
or a scheduler may stop trials early.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["ACTIVE", "LOG_EVERY_S", "TERMINAL_EVERY_S", "Counts", "Display", "clock", "progress_line", "reporter"]

TERMINAL_EVERY_S = 2.0
"""Seconds between two redraws of the line on a terminal."""
LOG_EVERY_S = 10.0
"""Seconds between two lines written to a log (a file or a pipe)."""
BAR_WIDTH = 10


@dataclass(frozen=True)
class Counts:
    """A study's trials and rows at one moment."""

    planned: int
    done: int = 0
    running: int = 0
    failed: int = 0
    rows: int = 0

    @property
    def pending(self) -> int:
        return max(0, self.planned - self.done - self.running - self.failed)


def clock(seconds: float) -> str:
    """``h:mm:ss`` (``m:ss`` under an hour)."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(
    name: str,
    counts: Counts,
    elapsed: float,
    left: float | None,
    *,
    fraction: float | None = None,
    bar: bool = False,
    finished: bool = False,
    ended: str = "finished in",
) -> str:
    """The study's line: trials done / running / pending / failed, rows, elapsed and time left
    (``left`` None: not known yet). ``fraction`` of the study done draws the bar (``bar``); a
    ``finished`` line says how long it took, after ``ended``."""
    head = f"{name}:"
    if bar and fraction is not None:
        filled = min(BAR_WIDTH, int(fraction * BAR_WIDTH))
        head = f"{name}  [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {min(100, int(fraction * 100)):3d}% "
    trials = (
        f"{counts.done} done, {counts.running} running, {counts.pending} pending, {counts.failed} failed "
        f"of {counts.planned}"
    )
    if finished:
        timing = f"{ended} {clock(elapsed)}"
    else:
        timing = clock(elapsed) + (f", ~{clock(left)} left" if left is not None else "")
    return f"{head} {trials} · {counts.rows} rows · {timing}"


@dataclass
class Display:
    """One study's live line, kept across its waves (one Tune experiment each).

    ``before``: what was there before this process started (a resume): the trials of its finished
    waves and every row on storage; ``planned_rows``: the rows of the whole study (None where
    unknown, or where early stopping makes the count an upper bound: the estimate then goes by
    trials). In a resume (``resumed``) a trial's rows count from the report it had reached when
    first seen: what it had before is on storage already."""

    name: str
    planned: int
    planned_rows: int | None = None
    before: Counts | None = None
    resumed: bool = False
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    every: float | None = None
    clock: Any = time.monotonic
    start: float = field(init=False)
    _last: float = field(init=False, default=float("-inf"))
    _waves: Counts = field(init=False)  # waves of this process that have ended
    _current: Counts = field(init=False)
    _seen: dict[str, int] = field(init=False, default_factory=dict)  # a resume's reports per trial at first sight

    def __post_init__(self) -> None:
        self.start = self.clock()
        self.before = self.before or Counts(self.planned)
        self._waves = Counts(self.planned)
        self._current = Counts(self.planned)
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        if self.every is None:
            self.every = TERMINAL_EVERY_S if self.terminal else LOG_EVERY_S

    def counts(self) -> Counts:
        """The whole study now: waves before, waves ended, the running wave."""
        parts = (self.before, self._waves, self._current)
        return Counts(
            self.planned,
            done=sum(p.done for p in parts),
            running=self._current.running,
            failed=sum(p.failed for p in parts),
            rows=sum(p.rows for p in parts),
        )

    def _fraction_and_left(self, counts: Counts, elapsed: float) -> tuple[float | None, float | None]:
        """The fraction of the study done and the seconds left, from this process's own progress."""
        if self.planned_rows:
            total, now, then = self.planned_rows, counts.rows, self.before.rows
        else:
            total, now, then = self.planned, counts.done + counts.failed, self.before.done + self.before.failed
        fraction = min(1.0, now / total) if total else None
        rate = (now - then) / elapsed if elapsed > 0 else 0.0
        left = (total - now) / rate if rate > 0 and total >= now else None
        return fraction, left

    def update(self, trials: Sequence[Any], seeds_of: Any, force: bool = False) -> None:
        """Count ``trials`` (Tune's, of the running wave; ``seeds_of(trial)``: its seeds) and redraw
        when the interval has passed (or ``force``)."""
        self._current = _count(trials, seeds_of, self.planned, self._seen if self.resumed else None)
        now = self.clock()
        if force or now - self._last >= self.every:
            self._last = now
            self.draw()

    def end_wave(self) -> None:
        """The running wave's trials ended: fold them into the study's counts."""
        current, ended = self._current, self._waves
        self._waves = Counts(self.planned, ended.done + current.done, 0, ended.failed + current.failed,
                             ended.rows + current.rows)  # fmt: skip
        self._current = Counts(self.planned)

    def draw(self, finished: bool = False, ended: str = "finished in") -> None:
        counts = self.counts()
        elapsed = self.clock() - self.start
        fraction, left = self._fraction_and_left(counts, elapsed)
        if finished:
            fraction, left = 1.0 if counts.pending == 0 and counts.running == 0 else fraction, None
        line = progress_line(
            self.name, counts, elapsed, left, fraction=fraction, bar=self.terminal, finished=finished, ended=ended
        )
        if self.terminal:  # redrawn in place (cut to the terminal's width); the finished line stays
            width = shutil.get_terminal_size().columns - 1
            self.stream.write(f"\r\x1b[2K{line[:width]}" + ("\n" if finished else ""))
        else:
            self.stream.write(f"{line}\n")
        self.stream.flush()

    def close(self, ended: str = "finished in") -> None:
        """The study's last line (on a terminal, the line left in place): how long it ran, after
        ``ended`` ("finished in", "interrupted after", "stopped after")."""
        self.draw(finished=True, ended=ended)


def _count(trials: Sequence[Any], seeds_of: Any, planned: int, seen: dict[str, int] | None = None) -> Counts:
    """Trials by state and the rows they reported; with ``seen`` (a resume), only the reports made
    since each trial was first seen, which it records."""
    done = running = failed = rows = 0
    for trial in trials:
        status = trial.status
        if status == "TERMINATED":
            done += 1
        elif status == "ERROR":
            failed += 1
        elif status in ("RUNNING", "PAUSED"):
            running += 1
        reports = int((trial.last_result or {}).get("training_iteration") or 0)
        if seen is not None:
            reports -= seen.setdefault(trial.trial_id, reports)
        rows += reports * seeds_of(trial)
    return Counts(planned, done=done, running=running, failed=failed, rows=rows)


ACTIVE: list[Display] = []
"""The display of the study being run (set by the runner around its waves). The reporter finds it
here, not in itself: Tune pickles the reporter with the experiment, and a display holds a stream."""


def reporter(seeds_of: Any) -> Any:
    """A Tune progress reporter (``RunConfig(progress_reporter=...)``) that updates the active
    :class:`Display`; ``seeds_of(trial)``: the number of seeds a trial runs."""
    from ray.tune import ProgressReporter

    class StudyLine(ProgressReporter):
        def should_report(self, trials: list, done: bool = False) -> bool:
            return _active() is not None  # the display decides how often it draws

        def report(self, trials: list, done: bool, *sys_info: str) -> None:
            display = _active()
            if display is not None:
                display.update(trials, seeds_of)

    return StudyLine()


def _active() -> Display | None:
    """The active display. A module-level function: the pickled reporter refers to it by name
    instead of carrying :data:`ACTIVE` (and the display's stream) by value."""
    return ACTIVE[-1] if ACTIVE else None
