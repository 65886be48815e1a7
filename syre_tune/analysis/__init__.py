"""Offline analysis of a study's Parquet dataset: data steps (pure, tested for exact values) and
draw steps (seaborn, smoke-rendered in tests). Needs neither Ray nor torch.

    from syre_tune import analysis, results
    df = results.read("results/theorem4")
    info = analysis.theorem4_info(df)
    analysis.draw_theorem4(info).savefig("theorem4.png")

:func:`analyze` writes every figure a study's benchmark has (PNG + PDF) and its tables (CSV), from
the benchmark's figure module: ``syre_tune/analysis/figures/<benchmark>.py``, one given to
:func:`register`, or else the generic curves (:func:`curves_info`, :func:`draw_curves`: every metric
against iteration by method, bootstrap bands over seeds). How to write a figure module:
``help(syre_tune.analysis.figures)``. For ``search: optuna`` studies it adds the Optuna trials,
importances, search history and Pareto front.

A benchmark's own data and draw steps live in its figure module
(``syre_tune.analysis.figures.theorem4.theorem4_info``); those of theorem4 and
symmetry_objective are also here, imported when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from syre_tune.analysis._curves import curves_info, draw_curves, varying_settings, write_curves
from syre_tune.analysis._files import pyplot, save_figure, write_csv
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
from syre_tune.analysis._report import analyze, headline, study_dirs
from syre_tune.analysis.figures import Figures, figures_for, register, unregister

if TYPE_CHECKING:
    from syre_tune.analysis.figures.symmetry_objective import (
        HYPERPARAMETER,
        draw_tradeoff,
        tradeoff_check,
        tradeoff_info,
    )
    from syre_tune.analysis.figures.theorem4 import (
        draw_theorem4,
        theorem4_bound,
        theorem4_info,
        theorem4_slope,
        theorem4_slope_interval,
        theorem4_thresholds,
    )

__all__ = [
    "HYPERPARAMETER",
    "Figures",
    "analyze",
    "curves_info",
    "draw_curves",
    "draw_optuna_history",
    "draw_optuna_importances",
    "draw_optuna_pareto",
    "draw_theorem4",
    "draw_tradeoff",
    "figures_for",
    "grid_tradeoff",
    "headline",
    "load_optuna_study",
    "nondominated_mask",
    "optuna_grid_rows",
    "optuna_importances",
    "optuna_log_params",
    "optuna_objectives",
    "optuna_report",
    "optuna_storage",
    "optuna_trials",
    "pyplot",
    "register",
    "save_figure",
    "study_dirs",
    "study_spec",
    "theorem4_bound",
    "theorem4_info",
    "theorem4_slope",
    "theorem4_slope_interval",
    "theorem4_thresholds",
    "tradeoff_check",
    "tradeoff_info",
    "unregister",
    "varying_settings",
    "write_csv",
    "write_curves",
]

# Names that moved into figure modules, kept here for existing code; imported on first use.
_IN_FIGURE_MODULES = {
    "HYPERPARAMETER": "symmetry_objective",
    "draw_tradeoff": "symmetry_objective",
    "tradeoff_check": "symmetry_objective",
    "tradeoff_info": "symmetry_objective",
    "draw_theorem4": "theorem4",
    "theorem4_bound": "theorem4",
    "theorem4_info": "theorem4",
    "theorem4_slope": "theorem4",
    "theorem4_slope_interval": "theorem4",
    "theorem4_thresholds": "theorem4",
}


def __getattr__(name: str) -> Any:
    module = _IN_FIGURE_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.figures.{module}"), name)
    globals()[name] = value
    return value
