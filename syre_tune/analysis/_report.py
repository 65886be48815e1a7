"""`syre-tune analyze`: every figure and table a study's benchmark has, written beside the data."""

from __future__ import annotations

from pathlib import Path

from syre_tune import results
from syre_tune.analysis._draw import draw_theorem4, draw_tradeoff
from syre_tune.analysis._files import save_figure, write_csv
from syre_tune.analysis._optuna import optuna_report
from syre_tune.analysis._theorem4 import COLUMNS as THEOREM4_COLUMNS
from syre_tune.analysis._theorem4 import theorem4_info, theorem4_slope, theorem4_thresholds
from syre_tune.analysis._tradeoff import tradeoff_check, tradeoff_info

__all__ = ["analyze", "study_dirs"]


def study_dirs(path: str | Path) -> list[Path | results.Location]:
    """``path`` (a folder or a storage URI) if it is a study folder, else the study folders directly
    inside it; local ones as Paths."""
    found = results.study_folders(path, "results")
    if not found:
        raise FileNotFoundError(f"{path}: no study results here (expected <storage>/<study>/results/)")
    return [f.local if f.local is not None else f for f in found]


def analyze(study_dir: str | Path | results.Location, out: str | Path | None = None) -> list[Path]:
    """Write the figures (PNG, PDF) and tables (CSV) of one study; return the paths written.

    ``study_dir`` may be on remote storage (a URI); figures then go to ``./figures/<study>`` unless
    ``out`` says otherwise."""
    where = results.location(study_dir)
    local = where.local
    out = Path(out) if out else (local / "figures" if local is not None else Path("figures") / where.name)
    out.mkdir(parents=True, exist_ok=True)
    benchmark = results.benchmark_of(where)
    # theorem4: only the columns its analysis reads (a third of the load time on a million rows)
    columns = list(THEOREM4_COLUMNS) if benchmark == "theorem4" else None
    df = results.read(where, columns=columns, measurements=True)  # not the error rows of failed trials
    written: list[Path] = []
    if benchmark == "theorem4":
        info = theorem4_info(df)
        thresholds = theorem4_thresholds(info)
        slope = theorem4_slope(thresholds)
        thresholds["loglog_slope_vs_N"] = slope
        for name, table in (("theorem4_probability", info), ("theorem4_thresholds", thresholds)):
            written.append(write_csv(table, out / f"{name}.csv"))
        written += save_figure(draw_theorem4(info, thresholds), out, "theorem4")
    elif benchmark == "symmetry_objective":
        info = tradeoff_info(df)
        check = tradeoff_check(info)
        for name, table in (("tradeoff", info), ("tradeoff_check", check)):
            written.append(write_csv(table, out / f"{name}.csv"))
        written += save_figure(draw_tradeoff(info), out, "tradeoff")
    if local is not None:  # search: optuna studies only; nothing without their storage
        written += optuna_report(local, out)
    return written
