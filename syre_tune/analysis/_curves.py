"""Metric curves by method, with bootstrap bands over seeds: the figure every benchmark gets.

- :func:`curves_info` (data step, pure): the results as a tidy table, one row per
  (method, setting, seed, iteration, metric) with its value;
- :func:`draw_curves` (draw step): one panel per metric, a line per method (and per setting),
  seaborn's bootstrap 95 % confidence band over the rows at each x (the seeds);
- :func:`write_curves`: both, as ``curves.csv`` and ``curves.png`` / ``curves.pdf``.

A benchmark without a figure module of its own is analysed with :func:`write_curves`; a figure
module that plots a metric against a swept value uses the same two steps::

    info = curves_info(df, keep=["sigma0"], last=True)   # each run's last iteration, sigma0 kept
    fig = draw_curves(info, x="sigma0", metrics=["test_accuracy"], log_x=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis._files import pyplot, save_figure, write_csv
from syre_tune.results import KNOBS, MEASURED

__all__ = ["BOOTSTRAP_BUDGET", "CURVES_COLUMNS", "curves_info", "draw_curves", "varying_settings", "write_curves"]

CURVES_COLUMNS = ("method", "label", "seed", "iteration", "metric", "value")
"""The columns of :func:`curves_info` (its ``keep`` columns go after ``label``)."""

# seaborn resamples in a Python loop (~30 µs a resample on a laptop core): n_boot=None spends about
# this many resamples on the whole figure, 1000 per point at most, 100 at least.
BOOTSTRAP_BUDGET = 100_000

# Config columns that say where a trial ran, not what it ran: never a setting to tell runs apart.
_NOT_SETTINGS = ("config.device",)


def varying_settings(df: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """The knobs (sigma0, sigma_d, gamma) and ``config.*`` columns that take more than one value
    (nulls aside) within some method, in the order of ``df``'s columns; ``exclude`` left out.

    Within a method, so that a knob a method leaves null (weight decay's sigma0) does not count."""
    candidates = [c for c in df.columns if (c in KNOBS or c.startswith("config.")) and c not in exclude]
    candidates = [c for c in candidates if c not in _NOT_SETTINGS]
    if not candidates or df.empty:
        return []
    groups = df.groupby("method", dropna=False, sort=False) if "method" in df.columns else [(None, df)]
    varying = set()
    for _, group in groups:
        counts = group[candidates].nunique(dropna=True)
        varying.update(counts.index[counts > 1])
    return [c for c in candidates if c in varying]


def _format(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:g}"
    return str(value)


def _labels(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Per row, "name=value, ..." over ``columns`` (``config.`` dropped from names, nulls left
    out); formatted once per distinct combination."""
    if not columns:
        return np.full(len(df), "", dtype=object)
    frame = df[columns]
    combos = frame.drop_duplicates().reset_index(drop=True)
    # Each row's combination by a left merge (row order kept; null keys match null keys).
    codes = frame.merge(combos.assign(_code=np.arange(len(combos))), on=columns, how="left")["_code"].to_numpy()
    names = [c.removeprefix("config.") for c in columns]
    labels = [
        ", ".join(f"{name}={_format(value)}" for name, value in zip(names, row) if not pd.isna(value))
        for row in combos.itertuples(index=False, name=None)
    ]
    return np.asarray(labels, dtype=object)[codes]


def curves_info(
    df: pd.DataFrame, keep: Sequence[str] = (), *, last: bool = False, by_method: bool = False
) -> pd.DataFrame:
    """The results as a tidy table: columns method, label, the ``keep`` columns, seed, iteration,
    metric (without ``metric.``), value.

    ``label`` tells apart the runs of one method: the settings of :func:`varying_settings` (less
    ``keep``) as ``"sigma0=0.1, width=64"``, ``""`` when nothing varies. With ``by_method``, each
    method's label names only the settings that vary within that method (a ``config.shrink`` that
    shrink_perturb sweeps is not in syre's label, where it is a constant syre never reads).
    Measurement rows only
    (status ok or diverged: no error or stopped markers), and no NaN or ±inf values. With ``last``,
    only each run's (trial_id, seed) last iteration. Rows are in metric order (as the columns),
    then by method, label, the ``keep`` columns, seed, iteration."""
    needed = {"method", "seed", "iteration", *keep}
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"curves_info: the results lack columns {sorted(missing)}")
    keep = list(keep)
    data = df
    if "status" in data.columns:
        data = data[data["status"].isin(MEASURED) | data["status"].isna()]
    data = data[data["iteration"].notna()].reset_index(drop=True)
    if last and len(data):
        run = ["trial_id", "seed"] if "trial_id" in data.columns else ["method", *keep, "seed"]
        data = data.loc[data.groupby(run, sort=False, dropna=False)["iteration"].idxmax()].reset_index(drop=True)
    base = pd.DataFrame({"method": data["method"].astype(object)})
    if by_method:
        base["label"] = np.full(len(data), "", dtype=object)
        for _, rows in data.groupby("method", sort=False, dropna=False):
            base.loc[rows.index, "label"] = _labels(rows, varying_settings(rows, exclude=keep))
    else:
        base["label"] = _labels(data, varying_settings(data, exclude=keep))
    for column in keep:
        base[column] = data[column]
    base["seed"] = data["seed"].astype(np.int64)
    base["iteration"] = data["iteration"].astype(np.int64)
    order = ["method", "label", *keep, "seed", "iteration"]
    frames = []
    for column in (c for c in data.columns if c.startswith("metric.")):
        values = data[column].astype(np.float64)
        table = base[np.isfinite(values.to_numpy())].assign(metric=column.removeprefix("metric."))
        table["value"] = values[table.index]
        frames.append(table.sort_values(order, kind="stable"))
    columns = ["method", "label", *keep, "seed", "iteration", "metric", "value"]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=base[c].dtype if c in base else object) for c in columns})
    return pd.concat(frames, ignore_index=True)[columns]


def draw_curves(
    info: pd.DataFrame,
    x: str = "iteration",
    metrics: Sequence[str] | None = None,
    *,
    hue: str = "method",
    style: str | None = "label",
    log_x: bool = False,
    n_boot: int | None = None,
    max_styles: int = 6,
    title: str | None = None,
    legend_outside: bool = False,
) -> Any:
    """One panel per metric (``metrics``, default all in ``info``'s order): ``value`` against
    ``x``, a line per ``hue`` (and per ``style`` when that column has 2 to ``max_styles`` values;
    more are pooled into one line per ``hue``, said in the panel title), each the mean over the rows
    at that x with seaborn's bootstrap 95 % band (``n_boot`` resamples, seeded 0; None: 1000,
    fewer, down to 100, when there are so many points that the figure would take more than a few
    seconds, see ``BOOTSTRAP_BUDGET``).

    ``info`` is a tidy table with columns ``x``, metric, value, ``hue`` (and ``style``), e.g. from
    :func:`curves_info`. The legend is in the first panel, or with ``legend_outside`` beside the
    panels (a figure legend, ``fig.legends[0]``), where it hides no line. Returns the Figure."""
    import seaborn as sns

    plt = pyplot()
    metrics = list(dict.fromkeys(info["metric"])) if metrics is None else list(metrics)
    panels = max(1, len(metrics))
    ncols = min(3, panels)
    nrows = -(-panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.9 * nrows), constrained_layout=True, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[panels:]:
        fig.delaxes(ax)
    if title:
        fig.suptitle(title)
    if not metrics:
        ax = flat[0]
        ax.text(0.5, 0.5, "no measurements to draw", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(x)
        ax.set_ylabel("value")
        return fig
    hue_order = sorted(info[hue].dropna().unique(), key=str)
    styles = sorted(info[style].dropna().unique(), key=str) if style and style in info.columns else []
    use_style = 1 < len(styles) <= max_styles
    if n_boot is None:
        drawn = info[info["metric"].isin(metrics)]
        points = len(drawn.groupby(["metric", hue, *([style] if use_style else []), x], dropna=False).size())
        n_boot = int(np.clip(BOOTSTRAP_BUDGET // max(points, 1), 100, 1000))
    for index, (ax, metric) in enumerate(zip(flat, metrics)):
        data = info[info["metric"] == metric]
        sns.lineplot(
            data=data,
            x=x,
            y="value",
            hue=hue,
            hue_order=hue_order,
            style=style if use_style else None,
            style_order=styles if use_style else None,
            errorbar=("ci", 95),
            n_boot=n_boot,
            seed=0,
            ax=ax,
            legend="auto" if index == 0 else False,
        )
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(x.removeprefix("config."))
        ax.set_ylabel(metric)
        pooled = f" (pooled over {len(styles)} settings)" if len(styles) > max_styles else ""
        ax.set_title(f"{metric}{pooled}", fontsize=10)
        if index == 0 and ax.get_legend() is not None:
            if legend_outside:
                handles, labels = ax.get_legend_handles_labels()
                ax.get_legend().remove()
                fig.legend(handles, labels, loc="outside right upper", fontsize=8, frameon=False)
            else:
                ax.legend(fontsize=7, frameon=False)
    return fig


def write_curves(df: pd.DataFrame, out: Path) -> list[Path]:
    """``curves.csv`` (:func:`curves_info`) and ``curves.png`` / ``curves.pdf`` (:func:`draw_curves`:
    every metric against iteration) in ``out``; returns the paths."""
    info = curves_info(df)
    return [write_csv(info, out / "curves.csv"), *save_figure(draw_curves(info), out, "curves")]
