"""The files ``analyze`` writes: figures as PNG + PDF, tables as CSV (atomically); and the
pyplot every draw step uses (a file-only backend, so analysis runs on machines without a display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syre_tune import results

__all__ = ["pyplot", "save_figure", "write_csv"]


def pyplot() -> Any:
    """``matplotlib.pyplot``, on the file-only Agg backend unless one was chosen already."""
    import matplotlib

    matplotlib.use("Agg", force=False)  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def write_csv(table: Any, path: Path) -> Path:
    """``table`` (a DataFrame) as CSV at ``path``, without its index; returns ``path``."""
    results.write_text_atomic(table.to_csv(index=False), path)
    return path


def save_figure(fig: Any, out: Path, stem: str) -> list[Path]:
    """``out/stem.png`` and ``out/stem.pdf``; closes the figure."""
    plt = pyplot()
    paths = []
    for suffix in ("png", "pdf"):
        target = out / f"{stem}.{suffix}"
        fig.savefig(target, dpi=150)
        paths.append(target)
    plt.close(fig)
    return paths
