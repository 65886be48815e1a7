"""Offline analysis of a study's Parquet dataset: data steps (pure, tested for exact values) and
draw steps (seaborn, smoke-rendered in tests). Needs neither Ray nor torch.

    from syre_tune import analysis, results
    df = results.read("results/theorem4")
    info = analysis.theorem4_info(df)
    analysis.draw_theorem4(info).savefig("theorem4.png")

:func:`analyze` writes every figure a study's benchmark has (PNG + PDF) and its tables (CSV).
For ``search: optuna`` studies it adds the Optuna trials, importances, search history and Pareto front.
"""

from __future__ import annotations

from syre_tune.analysis._draw import draw_theorem4, draw_tradeoff
from syre_tune.analysis._optuna import (
    draw_optuna_history,
    draw_optuna_importances,
    draw_optuna_pareto,
    grid_tradeoff,
    load_optuna_study,
    nondominated_mask,
    optuna_grid_rows,
    optuna_importances,
    optuna_log_params,
    optuna_objectives,
    optuna_report,
    optuna_storage,
    optuna_trials,
    study_spec,
)
from syre_tune.analysis._report import analyze, study_dirs
from syre_tune.analysis._theorem4 import theorem4_bound, theorem4_info, theorem4_slope, theorem4_thresholds
from syre_tune.analysis._tradeoff import HYPERPARAMETER, tradeoff_check, tradeoff_info

__all__ = [
    "HYPERPARAMETER",
    "analyze",
    "draw_optuna_history",
    "draw_optuna_importances",
    "draw_optuna_pareto",
    "draw_theorem4",
    "draw_tradeoff",
    "grid_tradeoff",
    "load_optuna_study",
    "nondominated_mask",
    "optuna_grid_rows",
    "optuna_importances",
    "optuna_log_params",
    "optuna_objectives",
    "optuna_report",
    "optuna_storage",
    "optuna_trials",
    "study_dirs",
    "study_spec",
    "theorem4_bound",
    "theorem4_info",
    "theorem4_slope",
    "theorem4_thresholds",
    "tradeoff_check",
    "tradeoff_info",
]
