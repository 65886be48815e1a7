"""Optuna studies (``search: optuna``): the data steps (pure, tested for exact values), the draw
steps (matplotlib/seaborn, smoke-rendered) and the files :func:`analyze` writes for them.

The Optuna study is named like the study (``spec["name"]``) and lives in ``spec["optuna"]["storage"]``
(an RDB URL such as ``sqlite:///path``) or else in the journal file ``<study_dir>/optuna.journal``.

- :func:`optuna_trials`: one row per Optuna trial: number, state, the params, ``value.<metric>``
  per objective, start/complete times, and ``best`` (one objective) or ``pareto`` (several);
- :func:`optuna_importances`: fANOVA parameter importances (seeded), one set per objective;
- :func:`optuna_grid_rows` / :func:`grid_tradeoff`: a sibling grid sweep of the same benchmark,
  reduced to one point per trial and its non-dominated subset, to overlay on the Pareto front;
- :func:`draw_optuna_history`, :func:`draw_optuna_importances`, :func:`draw_optuna_pareto`.

Browse a study live: ``optuna-dashboard <study_dir>/optuna.journal`` (a plain file path is read as a journal;
checked with optuna-dashboard 0.21), or ``optuna-dashboard <the optuna.storage URL>`` for an RDB storage.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune import layout, results
from syre_tune.analysis._files import pyplot, save_figure, write_csv

__all__ = [
    "JOURNAL",
    "draw_optuna_history",
    "draw_optuna_importances",
    "draw_optuna_pareto",
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
    "study_spec",
]

JOURNAL = layout.OPTUNA_JOURNAL  # the journal file inside the study folder when no RDB storage is given
_FIXED = ("number", "state", "datetime_start", "datetime_complete", "best", "pareto")
_IMPORTANCE_COLUMNS = ["objective", "mode", "param", "importance"]


# --- data steps ---------------------------------------------------------------------------------


def study_spec(study_dir: str | Path) -> dict[str, Any]:
    """The study spec as run (``study.yaml``), or ``{}`` when there is none."""
    import yaml

    path = Path(study_dir) / layout.STUDY_FILE
    if not path.exists():
        return {}
    spec = yaml.safe_load(path.read_text())
    return dict(spec) if isinstance(spec, Mapping) else {}


def optuna_storage(study_dir: str | Path, spec: Mapping[str, Any]) -> Any:
    """The Optuna storage of the study: the RDB URL of ``spec["optuna"]["storage"]`` if given,
    else a ``JournalStorage`` on ``<study_dir>/optuna.journal``. None when it does not exist
    (a missing journal or SQLite file), so that reading never creates one. The rule is
    :func:`syre_tune.layout.optuna_storage`'s."""
    url = (spec.get("optuna") or {}).get("storage")
    return layout.optuna_storage(Path(study_dir), str(url) if url else None)


def load_optuna_study(study_dir: str | Path, spec: Mapping[str, Any] | None = None) -> Any:
    """The ``optuna.Study`` named like the study; FileNotFoundError when its storage is missing,
    KeyError when the storage has no study of that name."""
    spec = study_spec(study_dir) if spec is None else spec
    storage = optuna_storage(study_dir, spec)
    if storage is None:
        raise FileNotFoundError(f"{study_dir}: no Optuna storage (expected {JOURNAL} or optuna.storage)")
    import optuna

    return optuna.load_study(study_name=str(spec.get("name") or Path(study_dir).name), storage=storage)


def optuna_objectives(spec: Mapping[str, Any], study: Any = None) -> list[tuple[str, str]]:
    """(metric, mode) per objective, from the spec's ``metric``/``mode`` (a string or a list each);
    the Optuna study's directions fill in a missing mode, ``value<i>`` a missing or mismatched name."""
    metric = spec.get("metric")
    names = [metric] if isinstance(metric, str) else [str(m) for m in metric or []]
    mode = spec.get("mode")
    modes = [mode] * len(names) if isinstance(mode, str) else [str(m) for m in mode or []]
    if study is not None:
        directions = ["max" if d.name == "MAXIMIZE" else "min" for d in study.directions]
        if len(names) != len(directions):
            names = list(study.metric_names or [f"value{i}" for i in range(len(directions))])
        if len(modes) != len(directions):
            modes = directions
    if len(modes) != len(names):
        modes = (modes + ["min"] * len(names))[: len(names)]
    return list(zip(names, modes))


def optuna_log_params(study: Any) -> list[str]:
    """The params sampled on a log scale (a ``log=True`` float or int distribution)."""
    log = set()
    for trial in study.get_trials(deepcopy=False):
        log.update(name for name, dist in trial.distributions.items() if getattr(dist, "log", False))
    return sorted(log)


def _trials_frame(study: Any, objectives: Sequence[tuple[str, str]]) -> pd.DataFrame:
    trials = study.get_trials(deepcopy=False)
    params: list[str] = []
    for trial in trials:
        params += [name for name in trial.params if name not in params]
    rows = []
    for trial in trials:
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
        row.update({name: trial.params.get(name, np.nan) for name in params})
        values = trial.values or [np.nan] * len(objectives)
        row.update({f"value.{name}": float(v) for (name, _), v in zip(objectives, values)})
        row.update(datetime_start=trial.datetime_start, datetime_complete=trial.datetime_complete)
        rows.append(row)
    columns = ["number", "state", *params, *(f"value.{name}" for name, _ in objectives)]
    frame = pd.DataFrame(rows, columns=[*columns, "datetime_start", "datetime_complete"])
    for column in ("datetime_start", "datetime_complete"):
        frame[column] = pd.to_datetime(frame[column])
    chosen: set[int] = set()
    if any(t.state.name == "COMPLETE" for t in trials):
        chosen = {t.number for t in study.best_trials} if len(objectives) > 1 else {study.best_trial.number}
    frame["best" if len(objectives) == 1 else "pareto"] = frame["number"].isin(chosen)
    return frame.sort_values("number", ignore_index=True)


def optuna_trials(study_dir: str | Path, spec: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per Optuna trial: number, state (COMPLETE, FAIL, ...), one column per param,
    ``value.<metric>`` per objective (NaN unless complete), datetime_start, datetime_complete, and
    ``best`` (one objective: the best trial) or ``pareto`` (several: in ``study.best_trials``)."""
    spec = study_spec(study_dir) if spec is None else spec
    study = load_optuna_study(study_dir, spec)
    return _trials_frame(study, optuna_objectives(spec, study))


def optuna_importances(
    study: Any, objectives: Sequence[tuple[str, str]] | None = None, *, seed: int = 0
) -> pd.DataFrame:
    """Columns objective, mode, param, importance (normalised fANOVA importances, evaluator seeded
    with ``seed``), one set per objective, most important first. Empty when there are fewer than
    2 complete trials or Optuna cannot tell (e.g. zero variance)."""
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    objectives = list(objectives) if objectives is not None else optuna_objectives({}, study)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return pd.DataFrame(columns=_IMPORTANCE_COLUMNS)
    rows = []
    for index, (name, mode) in enumerate(objectives):
        target = None if len(objectives) == 1 else (lambda t, i=index: t.values[i])
        try:
            found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed), target=target)
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue
        rows += [{"objective": name, "mode": mode, "param": p, "importance": float(v)} for p, v in found.items()]
    return pd.DataFrame(rows, columns=_IMPORTANCE_COLUMNS)


def nondominated_mask(values: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """Which rows of ``values`` (points × objectives) no other row dominates (no worse in every
    objective and better in one), ``modes`` min/max per objective. Rows with a NaN are False."""
    points = np.asarray(values, dtype=np.float64).reshape(len(values), len(modes))
    signs = np.array([-1.0 if mode == "max" else 1.0 for mode in modes])
    points = points * signs  # every objective minimised
    finite = np.isfinite(points).all(axis=1)
    candidates = points[finite]
    mask = np.zeros(len(points), dtype=bool)
    keep = [
        not np.any(np.all(candidates <= point, axis=1) & np.any(candidates < point, axis=1)) for point in candidates
    ]
    mask[np.flatnonzero(finite)] = keep
    return mask


def _matches(column: pd.Series, value: Any) -> pd.Series:
    if isinstance(value, (list, tuple)):
        value = json.dumps(list(value))
    if pd.api.types.is_bool_dtype(column) or isinstance(value, bool):
        return column == value
    if pd.api.types.is_numeric_dtype(column):
        try:
            return pd.Series(np.isclose(column.astype(float), float(value)), index=column.index)
        except (TypeError, ValueError):
            return pd.Series(False, index=column.index)
    return column.astype(str) == str(value)


def optuna_grid_rows(
    study_dir: str | Path, spec: Mapping[str, Any] | None = None, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Rows of the grid sweeps beside the study: sibling study folders (same parent) of the same
    benchmark with ``search: grid`` (or none) whose rows carry ``metric.<m>`` for ``metrics``
    (default: the study's objectives). Only rows whose ``config.<key>`` agrees with the study's
    fixed ``config`` are kept, so the points are comparable. Empty when there is no such sweep."""
    study_dir = Path(study_dir)
    spec = study_spec(study_dir) if spec is None else spec
    metrics = list(metrics) if metrics is not None else [name for name, _ in optuna_objectives(spec)]
    benchmark = spec.get("benchmark") or results.benchmark_of(study_dir)
    wanted = ["study", "trial_id", "method", "seed", "iteration", *(f"metric.{m}" for m in metrics)]
    frames = []
    siblings = sorted(p for p in study_dir.resolve().parent.iterdir() if p.is_dir()) if metrics else []
    for sibling in siblings:
        if sibling == study_dir.resolve() or not (sibling / layout.RESULTS_DIR).is_dir():
            continue
        other = study_spec(sibling)
        if other.get("search", "grid") != "grid" or results.benchmark_of(sibling) != benchmark:
            continue
        try:
            rows = results.read(sibling, measurements=True)
        except (OSError, ValueError):
            continue
        if not set(wanted) <= set(rows.columns):
            continue
        keep = pd.Series(True, index=rows.index)
        for key, value in (spec.get("config") or {}).items():
            if f"config.{key}" in rows.columns:
                keep &= _matches(rows[f"config.{key}"], value)
        frames.append(rows.loc[keep, wanted])
    if not frames:
        return pd.DataFrame(columns=wanted)
    return pd.concat(frames, ignore_index=True)


def grid_tradeoff(rows: pd.DataFrame, objectives: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """One point per grid trial: its last iteration's metrics averaged over seeds. Columns study,
    trial_id, method, ``value.<metric>`` per objective, seeds, and ``nondominated`` (no other
    grid point is at least as good in every objective and better in one)."""
    values = [f"value.{name}" for name, _ in objectives]
    columns = ["study", "trial_id", "method", *values, "seeds", "nondominated"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    last = rows.loc[rows.groupby(["study", "trial_id", "seed"])["iteration"].idxmax()]
    last = last.rename(columns={f"metric.{name}": f"value.{name}" for name, _ in objectives})
    aggregations = {value: (value, "mean") for value in values}
    table = (
        last.groupby(["study", "trial_id", "method"], as_index=False, dropna=False)
        .agg(**aggregations, seeds=("seed", "size"))
        .sort_values(["study", "trial_id"], ignore_index=True)
    )
    table["nondominated"] = nondominated_mask(table[values].to_numpy(), [mode for _, mode in objectives])
    return table[columns]


# --- draw steps -----------------------------------------------------------------------------------


def _label(name: str, mode: str) -> str:
    return f"{name} ({mode})"


def _params(trials: pd.DataFrame) -> list[str]:
    return [c for c in trials.columns if c not in _FIXED and not c.startswith("value.")]


def draw_optuna_history(
    trials: pd.DataFrame,
    objectives: Sequence[tuple[str, str]],
    log_params: Collection[str] = (),
    title: str | None = None,
) -> Any:
    """One panel per (objective, param): the param's value (log axis for ``log_params``) against the
    objective, complete trials coloured by trial number; the best (one objective) or Pareto trials
    (several) ringed in red. Failed and unfinished trials are left out. Returns the Figure."""
    plt = pyplot()
    params = _params(trials) or ["number"]
    marked = "best" if "best" in trials.columns else "pareto"
    done = trials.dropna(subset=[f"value.{name}" for name, _ in objectives])
    fig, axes = plt.subplots(
        len(objectives),
        len(params),
        figsize=(4.2 * len(params) + 1.2, 3.6 * len(objectives)),
        constrained_layout=True,
        squeeze=False,
    )
    norm = plt.Normalize(vmin=0, vmax=max(1, int(trials["number"].max()) if len(trials) else 1))
    scatter = None
    for row, (name, mode) in enumerate(objectives):
        for col, param in enumerate(params):
            ax = axes[row][col]
            data = done.dropna(subset=[param])
            x = data[param] if pd.api.types.is_numeric_dtype(data[param]) else data[param].astype(str)
            scatter = ax.scatter(x, data[f"value.{name}"], c=data["number"], cmap="viridis", norm=norm, s=22, zorder=2)
            chosen = data[data[marked].astype(bool)] if marked in data.columns else data.iloc[:0]
            if len(chosen):
                cx = chosen[param] if pd.api.types.is_numeric_dtype(chosen[param]) else chosen[param].astype(str)
                ax.scatter(
                    cx,
                    chosen[f"value.{name}"],
                    s=110,
                    facecolors="none",
                    edgecolors="red",
                    linewidths=1.5,
                    zorder=3,
                    label="best trial" if marked == "best" else "Pareto trials",
                )
            if param in log_params:
                ax.set_xscale("log")
            ax.set_xlabel(f"{param}" + ("  (log-uniform)" if param in log_params else ""))
            ax.set_ylabel(_label(name, mode))
            if row == 0 and col == 0 and len(chosen):
                ax.legend(fontsize=8, frameon=False)
    if scatter is not None:
        fig.colorbar(scatter, ax=axes, label="trial number", shrink=0.8)
    failed = int((trials["state"] != "COMPLETE").sum()) if len(trials) else 0
    heading = title or "Optuna search history"
    fig.suptitle(f"{heading}: {len(done)} complete trials, {failed} not complete (not drawn)")
    return fig


def draw_optuna_importances(importances: pd.DataFrame, title: str | None = None) -> Any:
    """Horizontal bars: each param's importance, one colour per objective. Returns the Figure."""
    import seaborn as sns

    plt = pyplot()
    params = importances["param"].nunique() if len(importances) else 1
    fig, ax = plt.subplots(figsize=(6.5, max(2.4, 1.2 + 0.6 * params * max(1, importances["objective"].nunique()))))
    if len(importances):
        data = importances.assign(
            objective=[_label(o, m) for o, m in zip(importances["objective"], importances["mode"])]
        )
        sns.barplot(data=data, x="importance", y="param", hue="objective", orient="h", ax=ax)
        ax.set_xlim(0, 1)
        ax.legend(title=None, fontsize=8, frameon=False, loc="best")
    else:
        ax.text(0.5, 0.5, "no importances\n(fewer than 2 complete trials, or no variation)", ha="center", va="center")
        ax.set_yticks([])
    ax.set_xlabel("fANOVA importance (normalised)")
    ax.set_ylabel("parameter")
    ax.set_title(title or "Optuna parameter importances")
    fig.tight_layout()
    return fig


def draw_optuna_pareto(
    trials: pd.DataFrame,
    objectives: Sequence[tuple[str, str]],
    grid: pd.DataFrame | None = None,
    title: str | None = None,
) -> Any:
    """The first two objectives against each other: every complete Optuna trial faint, the Pareto
    trials joined as a step line; with ``grid`` (from :func:`grid_tradeoff`) its points per method
    and its non-dominated subset as a dashed line, to see whether Optuna's front reaches the grid's
    curve. Returns the Figure."""
    import seaborn as sns

    plt = pyplot()
    (xname, xmode), (yname, ymode) = objectives[0], objectives[1]
    x, y = f"value.{xname}", f"value.{yname}"
    fig, ax = plt.subplots(figsize=(7.5, 5.2), constrained_layout=True)
    where = "post" if xmode == "min" else "pre"  # the boundary of the region the front dominates
    if grid is not None and len(grid):
        sns.scatterplot(data=grid, x=x, y=y, hue="method", style="method", s=40, alpha=0.8, ax=ax)
        front = grid[grid["nondominated"].astype(bool)].sort_values([x, y])
        ax.step(front[x], front[y], where=where, ls="--", color="black", lw=1.2, label="grid: non-dominated")
    done = trials.dropna(subset=[x, y])
    ax.scatter(done[x], done[y], s=16, color="tab:gray", alpha=0.35, label="Optuna trials", zorder=2)
    pareto = done[done["pareto"].astype(bool)].sort_values([x, y]) if "pareto" in done.columns else done.iloc[:0]
    ax.step(pareto[x], pareto[y], where=where, color="crimson", lw=2, zorder=3)
    ax.scatter(pareto[x], pareto[y], s=40, color="crimson", zorder=4, label="Optuna Pareto front")
    ax.set_xlabel(_label(xname, xmode))
    ax.set_ylabel(_label(yname, ymode))
    extra = f" (first 2 of {len(objectives)} objectives)" if len(objectives) > 2 else ""
    ax.set_title((title or "Optuna Pareto front") + f": {xname} ({xmode}) vs {yname} ({ymode}){extra}")
    ax.legend(fontsize=8, frameon=False)
    return fig


# --- the files analyze() writes -------------------------------------------------------------------


def optuna_report(study_dir: str | Path, out: str | Path, spec: Mapping[str, Any] | None = None) -> list[Path]:
    """For a ``search: optuna`` study: optuna_trials.csv, optuna_importances.csv, optuna_history and
    optuna_importances (PNG, PDF), and for several objectives optuna_pareto (PNG, PDF). Writes
    nothing (and returns []) for other studies or when the Optuna storage or study is missing."""
    study_dir, out = Path(study_dir), Path(out)
    spec = study_spec(study_dir) if spec is None else spec
    if spec.get("search") != "optuna":
        return []
    try:
        study = load_optuna_study(study_dir, spec)
    except (FileNotFoundError, KeyError):
        return []
    out.mkdir(parents=True, exist_ok=True)
    objectives = optuna_objectives(spec, study)
    trials = _trials_frame(study, objectives)
    importances = optuna_importances(study, objectives)
    name = str(spec.get("name") or study_dir.name)
    written = []
    for stem, table in (("optuna_trials", trials), ("optuna_importances", importances)):
        written.append(write_csv(table, out / f"{stem}.csv"))
    written += save_figure(
        draw_optuna_history(trials, objectives, optuna_log_params(study), title=f"Optuna search {name!r}"),
        out,
        "optuna_history",
    )
    written += save_figure(
        draw_optuna_importances(importances, title=f"Optuna parameter importances {name!r}"), out, "optuna_importances"
    )
    if len(objectives) >= 2:
        grid = grid_tradeoff(optuna_grid_rows(study_dir, spec, [m for m, _ in objectives[:2]]), objectives[:2])
        written += save_figure(
            draw_optuna_pareto(trials, objectives, grid, title=f"Optuna Pareto front {name!r}"), out, "optuna_pareto"
        )
    return written
