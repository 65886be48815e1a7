"""The figures of the ``slippery_ant`` benchmark: continual RL on Ant whose floor friction changes
every ``change_every_steps`` environment steps (Dohare et al.'s Slippery Ant; issue 8 §6).

Data steps (pure pandas/numpy, tested for exact values):

- :func:`ant_info`: the reports as a tidy table, one row per (method, label, trial_id, seed,
  iteration, metric) with its value (the shared :func:`~syre_tune.analysis.curves_info`; ``label``
  says the settings that vary within that method, e.g. ``sigma0=1`` or ``shrink=0.999``);
- :func:`friction_changes`: per run (trial_id, seed), the reports at which the friction in force
  differs from the run's previous report (``metric.friction_period``, else ``metric.friction``):
  read from the data, not assumed from multiples of ``config.change_every_steps``, since the
  environment switches at the first episode end after each multiple (so each run switches at its
  own step) and runs may have other schedules. The iteration marked is the first report with the
  new friction: the switch happened after the previous report and at or before this one;
- :func:`last_period`: per method and label, the mean over runs (seeds) of each run's mean return
  and mean effective rank over its last friction period (its reports from its last change on; the
  whole run if the friction never changed), with the standard error over runs;
- :func:`curves_binned`: the tidy table with each run's reports averaged in equal bins of
  iterations (at most ``points`` per line), what the figure draws: 20M steps reported every 10k
  are 2,000 noisy points a run, too many to read and to bootstrap.

Draw step :func:`draw_slippery_ant`: the shared :func:`~syre_tune.analysis.draw_curves` (a line per
method and label, bootstrap 95 % band over seeds) of episodic return, effective rank, approximate
rank, dormant fraction, dead units and weight magnitude against environment steps, with a dashed
vertical line at every iteration where some run's friction changed.

Files (:func:`write`): slippery_ant.csv (the binned curves drawn), friction_changes.csv,
last_period.csv, last_period.md, slippery_ant.png/.pdf.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis import curves_info, draw_curves, save_figure, write_csv

__all__ = [
    "COLUMNS",
    "LAST_PERIOD_METRICS",
    "PANELS",
    "POINTS",
    "ant_info",
    "curves_binned",
    "draw_slippery_ant",
    "friction_changes",
    "last_period",
    "last_period_markdown",
    "summary",
    "write",
]

# Every column: the labels need whichever settings a study sweeps within a method (sigma0 for
# syre, gamma for l2_init, config.shrink / config.perturb for shrink_perturb, config.redo_tau /
# config.redo_every for redo), and a listed column an older dataset lacks would stop `analyze`.
COLUMNS = None

PANELS = ("episodic_return", "effective_rank", "approximate_rank", "dormant", "dead_units", "weight_magnitude")
"""The metrics drawn, one panel each, in this order (those the results lack are left out)."""
LAST_PERIOD_METRICS = ("episodic_return", "effective_rank")
"""The metrics :func:`last_period` averages over the last friction period."""
POINTS = 100
"""At most this many points per line in the figure (:func:`curves_binned`)."""

_RUN = ["trial_id", "seed"]


def ant_info(df: pd.DataFrame) -> pd.DataFrame:
    """The reports as a tidy table: columns method, label, trial_id, seed, iteration, metric
    (without ``metric.``), value; measurement rows with finite values only (an
    ``episodic_return`` that is NaN because no episode ended since the last report is left out)."""
    return curves_info(df, keep=["trial_id"], by_method=True)


def friction_changes(info: pd.DataFrame) -> pd.DataFrame:
    """Per run, the reports at which the friction in force differs from the run's previous report:
    the ``friction_period`` index where the results have it (a new period is a change even if its
    friction happened to equal the last), else the ``friction`` value. Columns method, label,
    trial_id, seed, iteration (the first report with the new friction), friction_before, friction
    (NaN without a ``friction`` metric); sorted by trial_id, seed, iteration. Empty when nothing
    changed (or the results have neither metric)."""
    columns = ["method", "label", *_RUN, "iteration", "friction_before", "friction"]
    marker = "friction_period" if (info["metric"] == "friction_period").any() else "friction"
    rows = info[info["metric"].isin([marker, "friction"])]
    if rows.empty:
        return pd.DataFrame({c: info[c].iloc[:0] if c in info else pd.Series(dtype=np.float64) for c in columns})
    keys = ["method", "label", *_RUN, "iteration"]
    values = list(dict.fromkeys([marker, "friction"]))
    wide = rows.pivot_table(index=keys, columns="metric", values="value", sort=False).reset_index()
    wide = wide.reindex(columns=[*keys, *values]).sort_values([*_RUN, "iteration"], kind="stable")
    previous = wide.groupby(_RUN, sort=False)[values].shift()
    changed = previous[marker].notna() & wide[marker].notna() & (wide[marker] != previous[marker])
    table = wide[changed].assign(friction_before=previous.loc[changed, "friction"])
    return table[columns].reset_index(drop=True).astype({"friction_before": np.float64, "friction": np.float64})


def last_period(info: pd.DataFrame, metrics: Sequence[str] = LAST_PERIOD_METRICS) -> pd.DataFrame:
    """Per (method, label): columns method, label, seeds (runs: (trial_id, seed) pairs), start and
    end (the earliest first and the latest last report of the runs' last periods), then per metric
    ``<metric>`` (the mean over runs of each run's mean over its last period) and ``<metric>_sem``
    (the standard error of that mean over runs; NaN with one run). A run's last period is its
    reports from its last friction change on (:func:`friction_changes`), the whole run if the
    friction never changed. Sorted by the first metric, highest first, then method and label."""
    columns = ["method", "label", "seeds", "start", "end"]
    columns += [name for metric in metrics for name in (metric, f"{metric}_sem")]
    if info.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("method", "label") else np.float64) for c in columns})
    runs = info.groupby(["method", "label", *_RUN], sort=False, as_index=False)["iteration"].min()
    starts = friction_changes(info).groupby(_RUN, as_index=False)["iteration"].max()
    runs = runs.merge(starts, on=_RUN, how="left", suffixes=("_first", "_change"))
    runs["start"] = runs["iteration_change"].fillna(runs["iteration_first"]).astype(np.int64)
    period = info.merge(runs[[*_RUN, "start"]], on=_RUN)
    period = period[period["iteration"] >= period["start"]]
    keys = ["method", "label", *_RUN]
    per_run = period.groupby(keys, sort=False).agg(start=("start", "first"), end=("iteration", "max"))
    means = period[period["metric"].isin(metrics)].pivot_table(index=keys, columns="metric", values="value")
    per_run = per_run.join(means.reindex(columns=list(metrics))).reset_index()
    group = per_run.groupby(["method", "label"], sort=False)
    table = group.agg(seeds=("seed", "size"), start=("start", "min"), end=("end", "max"))
    for metric in metrics:
        table[metric] = group[metric].mean()
        table[f"{metric}_sem"] = group[metric].sem()
    table = table.reset_index().sort_values(["method", "label"], kind="stable")
    if metrics:
        table = table.sort_values(metrics[0], ascending=False, kind="stable", na_position="last")
    return table.reset_index(drop=True)[columns]


def curves_binned(info: pd.DataFrame, points: int = POINTS) -> pd.DataFrame:
    """``info`` with each run's values of a metric averaged over the reports in (x − width, x],
    x = width, 2·width, ...: width = k × the spacing of the reports (the smallest gap between two
    iterations), k the least that leaves at most ``points`` bins up to the last iteration (k = 1:
    nothing is averaged). Same columns as ``info``; ``iteration`` is the bin's right end."""
    if points < 1:
        raise ValueError(f"curves_binned: points must be >= 1, got {points=}")
    if info.empty:
        return info.copy()
    iterations = np.unique(info["iteration"].to_numpy())
    gaps = np.diff(iterations)
    spacing = int(gaps.min()) if len(gaps) else max(int(iterations[-1]), 1)
    reports = math.ceil(int(iterations[-1]) / spacing)
    width = spacing * max(1, math.ceil(reports / points))
    binned = info.assign(iteration=-(-info["iteration"] // width) * width)
    keys = ["method", "label", *_RUN, "metric", "iteration"]
    table = binned.groupby(keys, sort=False, as_index=False)["value"].mean()
    return table[list(info.columns)].astype(info.dtypes.to_dict())


def _steps(x: float, _position: Any = None) -> str:
    """Environment steps as a tick label: 0, 500k, 2M, 2.5M."""
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    return f"{x / 1e3:g}k" if abs(x) >= 1e3 else f"{x:g}"


def draw_slippery_ant(
    curves: pd.DataFrame,
    changes: Sequence[float] = (),
    metrics: Sequence[str] = PANELS,
    *,
    n_boot: int | None = None,
) -> Any:
    """A panel per metric of ``metrics`` that ``curves`` has (e.g. :func:`curves_binned`): value
    against environment steps, a line per method (style: label) with the bootstrap 95 % band over
    seeds, and a dashed vertical line at each of ``changes`` (friction change iterations)."""
    from matplotlib.ticker import FuncFormatter

    present = [m for m in metrics if m in set(curves["metric"])]
    title = "Slippery Ant: mean over seeds, bootstrap 95 % band"
    if len(changes):
        title += "; dashed: friction changes"
    fig = draw_curves(curves, metrics=present, n_boot=n_boot, title=title, legend_outside=True)
    for ax in fig.axes:
        for x in changes:
            ax.axvline(x, color="0.45", ls="--", lw=0.7, alpha=0.7, zorder=0)
        ax.set_xlabel("environment steps")
        ax.xaxis.set_major_formatter(FuncFormatter(_steps))
    return fig


def _number(x: float, digits: int) -> str:
    """``x`` to ``digits`` significant digits; from 10**digits on a whole number (12,345, not 1.234e+04)."""
    if pd.isna(x):
        return "–"
    return f"{x:,.0f}" if abs(x) >= 10**digits else f"{x:.{digits}g}"


def last_period_markdown(table: pd.DataFrame, metrics: Sequence[str] = LAST_PERIOD_METRICS) -> str:
    """:func:`last_period`'s table as a Markdown page: a row per method and label, "mean ± standard
    error" per metric (the mean alone where one run has a value), the steps the periods span."""
    lines = [
        "# Slippery Ant: the last friction period",
        "",
        "Each run's reports from its last friction change to its end; per run the mean over those",
        "reports, here the mean over runs (seeds) ± its standard error.",
        "",
        "| method | setting | seeds | steps | " + " | ".join(m.replace("_", " ") for m in metrics) + " |",
        "|:--|:--|--:|--:|" + "--:|" * len(metrics),
    ]
    for row in table.to_dict("records"):
        values = [
            _number(row[m], 4) + ("" if pd.isna(row[f"{m}_sem"]) else f" ± {_number(row[f'{m}_sem'], 2)}")
            for m in metrics
        ]
        steps = f"{int(row['start']):,} – {int(row['end']):,}"
        cells = [row["method"], row["label"] or "–", str(row["seeds"]), steps, *values]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """slippery_ant.csv (the binned curves drawn), friction_changes.csv, last_period.csv,
    last_period.md and slippery_ant.png/.pdf."""
    from syre_tune.results import write_text_atomic

    info = ant_info(df)
    changes = friction_changes(info)
    table = last_period(info)
    curves = curves_binned(info)
    fig = draw_slippery_ant(curves, sorted(changes["iteration"].unique()))
    markdown = out / "last_period.md"
    write_text_atomic(last_period_markdown(table), markdown)
    return [
        write_csv(curves, out / "slippery_ant.csv"),
        write_csv(changes, out / "friction_changes.csv"),
        write_csv(table, out / "last_period.csv"),
        markdown,
        *save_figure(fig, out, "slippery_ant"),
    ]


def _named(method: str, label: str) -> str:
    return f"{method} ({label})" if label else method


def _best(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per method, its row (label) with the highest ``metric``."""
    ranked = table.dropna(subset=[metric]).sort_values(metric, ascending=False, kind="stable")
    return ranked.drop_duplicates("method").set_index("method")


def _headline(table: pd.DataFrame, runs: int) -> list[str]:
    """Per metric of the last friction period (effective rank first: the plasticity claim), syre,
    vanilla and the best other method, each at its best label; then whether syre's are higher."""
    lines, verdicts = [], {}
    for metric in reversed(LAST_PERIOD_METRICS):
        best = _best(table, metric)
        if best.empty:
            continue
        shown = [m for m in ("syre", "vanilla") if m in best.index]
        others = best.drop(index=shown)
        if len(others):
            shown.append(others[metric].idxmax())
        name = metric.replace("_", " ")
        values = ", ".join(
            f"{'best other ' if m not in ('syre', 'vanilla') else ''}{_named(m, best.loc[m, 'label'])} "
            f"{_number(best.loc[m, metric], 4)}"
            for m in shown
        )
        lines.append(f"last friction period, mean {name}: {values}" + (f" ({runs} runs)" if not lines else ""))
        if "syre" in best.index and len(best) > 1:
            rivals = best.drop(index="syre")[metric]
            against = "vanilla" if "vanilla" in rivals.index else "the best other method"
            rival = rivals["vanilla"] if "vanilla" in rivals.index else rivals.max()
            verdicts.setdefault(against, []).append(f"{name} {'yes' if best.loc['syre', metric] > rival else 'no'}")
    lines += [f"syre higher than {against} in the last period: {', '.join(v)}" for against, v in verdicts.items()]
    return lines


def summary(df: pd.DataFrame) -> list[str]:
    """A headline (the last friction period's effective rank and return of syre, vanilla and the
    best other method, and whether syre's are higher), then the friction changes seen, the last
    period's mean return and effective rank per method and label, and whether syre keeps a higher
    effective rank (and return) there than vanilla and than every other method (each method at its
    best label)."""
    info = ant_info(df)
    if info.empty:
        return ["no measurements"]
    changes = friction_changes(info)
    runs = info.groupby(_RUN).ngroups
    per_run = changes.groupby(_RUN).size()
    table = last_period(info)
    lines = _headline(table, runs) + [
        f"friction changes: {per_run.sum()} in {runs} runs ({len(per_run)} with a change), "
        f"at {changes['iteration'].nunique()} distinct report iterations"
    ]
    for metric in LAST_PERIOD_METRICS:
        parts = [
            f"{_named(r['method'], r['label'])} {_number(r[metric], 4)} "
            + (f"± {_number(r[f'{metric}_sem'], 2)}" if not pd.isna(r[f"{metric}_sem"]) else "(1 run)")
            for r in table.sort_values(metric, ascending=False, na_position="last").to_dict("records")
            if not pd.isna(r[metric])
        ]
        lines.append(f"last friction period, mean {metric.replace('_', ' ')} ± s.e. over seeds: " + ", ".join(parts))
    for metric in reversed(LAST_PERIOD_METRICS):  # effective rank first: the plasticity claim
        best = _best(table, metric)
        if "syre" not in best.index or len(best) < 2:
            continue
        name = metric.replace("_", " ")
        syre = best.loc["syre", metric]
        ours = f"{_named('syre', best.loc['syre', 'label'])} {syre:.4g}"
        if "vanilla" in best.index:
            vanilla = best.loc["vanilla", metric]
            verdict = "yes" if syre > vanilla else "no"
            lines.append(
                f"syre keeps a higher {name} than vanilla in the last period: {verdict}: "
                f"{ours} vs vanilla {vanilla:.4g}"
            )
        others = best.drop(index="syre")[metric]
        if len(others) > 1 or "vanilla" not in best.index:
            top = others.idxmax()
            verdict = "yes" if syre > others[top] else "no"
            lines.append(
                f"syre has a higher {name} than every other method in the last period: {verdict}: {ours} vs "
                f"{_named(top, best.loc[top, 'label'])} {others[top]:.4g}"
            )
    return lines
