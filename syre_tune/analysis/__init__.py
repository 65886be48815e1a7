"""Offline analysis of a study's Parquet dataset: data steps (pure, tested for exact values) and
draw steps (seaborn, smoke-rendered in tests). Needs neither Ray nor torch.

    from syre_tune import analysis, results
    df = results.read("results/theorem4")
    info = analysis.theorem4_info(df)
    analysis.draw_theorem4(info).savefig("theorem4.png")

:func:`analyze` writes every figure a study's benchmark has (PNG + PDF) and its tables (CSV).
"""

from __future__ import annotations

from syre_tune.analysis._draw import draw_theorem4, draw_tradeoff
from syre_tune.analysis._report import analyze, study_dirs
from syre_tune.analysis._theorem4 import theorem4_bound, theorem4_info, theorem4_slope, theorem4_thresholds
from syre_tune.analysis._tradeoff import HYPERPARAMETER, tradeoff_check, tradeoff_info

__all__ = [
    "HYPERPARAMETER",
    "analyze",
    "draw_theorem4",
    "draw_tradeoff",
    "study_dirs",
    "theorem4_bound",
    "theorem4_info",
    "theorem4_slope",
    "theorem4_thresholds",
    "tradeoff_check",
    "tradeoff_info",
]
