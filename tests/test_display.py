"""The live display: one line per study with its trials, rows, elapsed time and time left; Ray's
table and log lines only with --verbose."""

from __future__ import annotations

import io
import os
from types import SimpleNamespace

import pytest

from syre_tune.runner import _display
from syre_tune.runner._display import Counts, Display, clock, progress_line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def trial(status: str, reports: int, block: int = 0) -> SimpleNamespace:
    return SimpleNamespace(status=status, last_result={"training_iteration": reports}, config={"seed_block": block})


def test_clock() -> None:
    assert [clock(s) for s in (0, 59.6, 61, 3600, 3725)] == ["0:00", "1:00", "1:01", "1:00:00", "1:02:05"]


def test_line_fields() -> None:
    counts = Counts(12, done=5, running=2, failed=1, rows=246)
    assert counts.pending == 4
    line = progress_line("theorem4", counts, 64, 30)
    assert line == "theorem4: 5 done, 2 running, 4 pending, 1 failed of 12 · 246 rows · 1:04, ~0:30 left"
    bar = progress_line("theorem4", counts, 64, None, fraction=0.41, bar=True)
    assert bar == "theorem4  [####------]  41%  5 done, 2 running, 4 pending, 1 failed of 12 · 246 rows · 1:04"
    assert progress_line("t", counts, 64, 3, finished=True).endswith("· 246 rows · finished in 1:04")
    stopped = progress_line("t", counts, 64, 3, finished=True, ended="interrupted after")
    assert stopped.endswith("· 246 rows · interrupted after 1:04")


def test_log_lines_count_trials_and_rows_and_estimate_the_time_left_from_the_rows() -> None:
    """Rows: reports × seeds of the trial's seed block; time left: the elapsed time scaled by the
    rows still to come (600 planned: 150 in 30 s, so 450 more take 90 s)."""
    stream, now = io.StringIO(), Clock()
    display = Display("theorem4", 12, planned_rows=600, stream=stream, clock=now)
    seeds = {0: 50, 1: 25}
    trials = [trial("TERMINATED", 2, 0), trial("RUNNING", 1, 1), trial("ERROR", 0, 0), trial("PENDING", 0, 1)]
    now.now += 30
    display.update(trials, lambda t: seeds[t.config["seed_block"]])
    assert stream.getvalue() == (
        "theorem4: 1 done, 1 running, 9 pending, 1 failed of 12 · 125 rows · 0:30, ~1:54 left\n"
    )  # 125 rows in 30 s: 475 more take 114 s
    now.now += 5  # within the interval: no new line
    display.update(trials, lambda t: 50)
    assert stream.getvalue().count("\n") == 1
    display.end_wave()  # the next wave counts on from this one
    now.now += 10
    display.update([trial("RUNNING", 1)], lambda t: 50)
    assert stream.getvalue().splitlines()[-1].startswith("theorem4: 1 done, 1 running, 9 pending, 1 failed of 12 · ")
    display.close()
    assert stream.getvalue().splitlines()[-1].endswith("· finished in 0:45")


def test_without_a_row_count_the_time_left_goes_by_trials_and_a_resume_counts_what_was_there() -> None:
    stream, now = io.StringIO(), Clock()
    before = Counts(10, done=4, rows=400)
    display = Display("s", 10, before=before, stream=stream, clock=now)
    now.now += 20
    display.update([trial("TERMINATED", 3), trial("TERMINATED", 3)], lambda t: 1)  # 2 trials in 20 s, 4 to go
    assert stream.getvalue() == "s: 6 done, 0 running, 4 pending, 0 failed of 10 · 406 rows · 0:20, ~0:40 left\n"


def test_a_terminal_gets_a_bar_redrawn_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_display.shutil, "get_terminal_size", lambda: os.terminal_size((200, 24)))
    stream, now = Terminal(), Clock()
    display = Display("tradeoff", 4, planned_rows=40, stream=stream, clock=now)
    assert display.every == _display.TERMINAL_EVERY_S
    now.now += 2
    display.update([trial("TERMINATED", 5), trial("RUNNING", 5)], lambda t: 2)
    display.close()
    first, last = stream.getvalue().split("\r\x1b[2K")[1:]
    assert (
        first == "tradeoff  [#####-----]  50%  1 done, 1 running, 2 pending, 0 failed of 4 · 20 rows · 0:02, ~0:02 left"
    )
    assert last.startswith("tradeoff  [#####-----]  50%  1 done, 1 running") and last.endswith("finished in 0:02\n")
    monkeypatch.setattr(_display.shutil, "get_terminal_size", lambda: os.terminal_size((41, 24)))
    display.draw()  # never wider than the terminal: a wrapped line could not be redrawn in place
    assert stream.getvalue().split("\r\x1b[2K")[-1] == "tradeoff  [#####-----]  50%  1 done, 1 r"


def test_a_resume_counts_only_the_reports_made_since_a_trial_was_first_seen() -> None:
    """What a restored trial had reported is on storage (``before.rows``); counting its whole
    iteration again would count those rows twice."""
    stream, now = io.StringIO(), Clock()
    display = Display("s", 3, before=Counts(3, rows=70), resumed=True, stream=stream, clock=now)
    restored = [trial("TERMINATED", 5), trial("PENDING", 2)]
    for t, name in zip(restored, "ab"):
        t.trial_id = name
    display.update(restored, lambda t: 10)
    restored[1].status, restored[1].last_result = "RUNNING", {"training_iteration": 4}
    now.now += 10
    display.update(restored, lambda t: 10)
    assert stream.getvalue().splitlines()[-1].startswith("s: 1 done, 1 running, 1 pending, 0 failed of 3 · 90 rows · ")
