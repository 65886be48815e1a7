"""The files ``analyze`` writes: figures as PNG + PDF, tables as CSV (atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syre_tune import results

__all__ = ["save_figure", "write_csv"]


def write_csv(table: Any, path: Path) -> Path:
    results.write_text_atomic(table.to_csv(index=False), path)
    return path


def save_figure(fig: Any, out: Path, stem: str) -> list[Path]:
    """``out/stem.png`` and ``out/stem.pdf``; closes the figure."""
    import matplotlib.pyplot as plt

    paths = []
    for suffix in ("png", "pdf"):
        target = out / f"{stem}.{suffix}"
        fig.savefig(target, dpi=150)
        paths.append(target)
    plt.close(fig)
    return paths
