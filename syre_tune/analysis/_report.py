"""`syre-tune analyze`: every figure and table a study's benchmark has, written beside the data."""

from __future__ import annotations

from pathlib import Path

from syre_tune import layout, results
from syre_tune.analysis._optuna import optuna_report
from syre_tune.analysis.figures import figures_for

__all__ = ["HEADLINE_LINES", "SUMMARY", "analyze", "headline", "study_dirs"]

SUMMARY = "summary.txt"
"""Beside the figures: the lines of the figure module's ``summary(df)``, if it has one."""
HEADLINE_LINES = 3
"""The first lines of ``summary(df)`` that ``run`` and ``analyze`` print: the study's main result."""


def headline(written: list[Path]) -> list[str]:
    """The study's main result, as ``run`` and ``analyze`` print it before the paths: the first
    :data:`HEADLINE_LINES` lines of the ``summary.txt`` among ``written`` (none without one)."""
    for path in written:
        if Path(path).name == SUMMARY:
            return Path(path).read_text().splitlines()[:HEADLINE_LINES]
    return []


def study_dirs(path: str | Path) -> list[Path | results.Location]:
    """``path`` (a folder or a storage URI) if it is a study folder, else the study folders directly
    inside it; local ones as Paths."""
    found = results.study_folders(path, layout.RESULTS_DIR)
    where = results.location(path)
    if not found and where.name == layout.RESULTS_DIR:  # a study's results/ folder: the study is its parent
        found = results.study_folders(where.parent, layout.RESULTS_DIR)
    if not found:
        raise FileNotFoundError(f"{path}: no study results here (expected <storage>/<study>/results/)")
    return [f.local if f.local is not None else f for f in found]


def analyze(study_dir: str | Path | results.Location, out: str | Path | None = None) -> list[Path]:
    """Write the figures (PNG, PDF) and tables (CSV) of one study; return the paths written.

    The benchmark's figure module draws them (:mod:`syre_tune.analysis.figures`: its own, one
    registered, or the generic curves of every metric against iteration); its ``summary`` lines,
    if any, go to ``summary.txt``. ``study_dir`` may be on remote storage (a URI); figures then go
    to ``./figures/<study>`` unless ``out`` says otherwise."""
    where = results.location(study_dir)
    local = where.local
    default = local / layout.FIGURES_DIR if local is not None else Path(layout.FIGURES_DIR) / where.name
    out = Path(out) if out else default
    out.mkdir(parents=True, exist_ok=True)
    figures = figures_for(results.benchmark_of(where))
    columns = list(figures.columns) if figures.columns is not None else None
    df = results.read(where, columns=columns, measurements=True)  # not the error rows of failed trials
    written = figures.write(df, out)
    if not isinstance(written, list):
        raise TypeError(f"{figures.source}: write(df, out) must return the list of paths written, got {written!r}")
    if figures.summary is not None:
        lines = figures.summary(df)
        if lines:
            results.write_text_atomic("".join(f"{line}\n" for line in lines), out / SUMMARY)
            written.append(out / SUMMARY)
    if local is not None:  # search: optuna studies only; nothing without their storage
        written += optuna_report(local, out)
    return written
