"""`syre-tune analyze`: every figure and table a study's benchmark has, written beside the data."""

from __future__ import annotations

import json
from pathlib import Path

from syre_tune import results
from syre_tune.analysis._draw import draw_theorem4, draw_tradeoff
from syre_tune.analysis._theorem4 import theorem4_info, theorem4_slope, theorem4_thresholds
from syre_tune.analysis._tradeoff import tradeoff_check, tradeoff_info

__all__ = ["analyze", "study_dirs"]


def study_dirs(path: str | Path) -> list[Path]:
    """``path`` if it is a study folder, else the study folders directly inside it."""
    path = Path(path)
    if (path / "results").is_dir():
        return [path]
    found = sorted(p for p in path.iterdir() if (p / "results").is_dir()) if path.is_dir() else []
    if not found:
        raise FileNotFoundError(f"{path}: no study results here (expected <storage>/<study>/results/)")
    return found


def _save(fig: object, out: Path, stem: str) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    for suffix in ("png", "pdf"):
        target = out / f"{stem}.{suffix}"
        fig.savefig(target, dpi=150)
        paths.append(target)
    plt.close(fig)
    return paths


def _benchmark(study_dir: Path) -> str:
    provenance = study_dir / "provenance.json"
    if provenance.exists():
        return json.loads(provenance.read_text())["benchmark"]
    return str(results.read(study_dir, columns=["benchmark"])["benchmark"].iloc[0])


def analyze(study_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    """Write the figures (PNG, PDF) and tables (CSV) of one study; return the paths written."""
    study_dir = Path(study_dir)
    out = Path(out) if out else study_dir / "figures"
    out.mkdir(parents=True, exist_ok=True)
    benchmark = _benchmark(study_dir)
    df = results.read(study_dir)
    written: list[Path] = []
    if benchmark == "theorem4":
        info = theorem4_info(df)
        thresholds = theorem4_thresholds(info)
        slope = theorem4_slope(thresholds)
        thresholds["loglog_slope_vs_N"] = slope
        for name, table in (("theorem4_probability", info), ("theorem4_thresholds", thresholds)):
            written.append(results.write_text_atomic(table.to_csv(index=False), out / f"{name}.csv"))
        written += _save(draw_theorem4(info, thresholds), out, "theorem4")
    elif benchmark == "symmetry_objective":
        info = tradeoff_info(df)
        check = tradeoff_check(info)
        for name, table in (("tradeoff", info), ("tradeoff_check", check)):
            written.append(results.write_text_atomic(table.to_csv(index=False), out / f"{name}.csv"))
        written += _save(draw_tradeoff(info), out, "tradeoff")
    return written
