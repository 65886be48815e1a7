"""The figures of the ``low_capacity_init`` benchmark: paper Fig. 1 (training from collapsed neurons).

Data steps (pure pandas/numpy, tested for exact values):

- :func:`low_capacity_info`: per (optimizer, method, collapsed fraction, iteration) the mean over
  seeds of train_loss, distinct_neurons and rank, with the number of seeds;
- :func:`low_capacity_final`: the same at each run group's last iteration.

Draw step :func:`draw_low_capacity`: one row per optimizer; a panel per method with the training
loss against iteration, one line per collapsed fraction (darker = more capacity at the start, as
in Fig. 1), and a last panel with the distinct neurons at the end against the collapsed fraction.
Files (:func:`write`): low_capacity_init.csv, low_capacity_init_final.csv, low_capacity_init.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis import pyplot, save_figure, write_csv

__all__ = ["COLUMNS", "draw_low_capacity", "low_capacity_final", "low_capacity_info", "summary", "write"]

COLUMNS = (
    "trial_id",
    "method",
    "seed",
    "iteration",
    "config.optimizer",
    "config.collapsed_fraction",
    "metric.train_loss",
    "metric.distinct_neurons",
    "metric.rank",
)
_KEYS = ["optimizer", "method", "collapsed_fraction"]
_VALUES = {"train_loss": "metric.train_loss", "distinct_neurons": "metric.distinct_neurons", "rank": "metric.rank"}


def low_capacity_info(df: pd.DataFrame) -> pd.DataFrame:
    """Columns optimizer, method, collapsed_fraction, iteration, train_loss, distinct_neurons,
    rank (means over seeds, NaN/inf left out of each mean) and seeds (rows averaged), sorted."""
    missing = set(COLUMNS[1:]) - set(df.columns)
    if missing:
        raise ValueError(f"low_capacity_info: the results lack columns {sorted(missing)}")
    data = pd.DataFrame(
        {
            "optimizer": df["config.optimizer"].astype(object),
            "method": df["method"].astype(object),
            "collapsed_fraction": df["config.collapsed_fraction"].astype(np.float64),
            "iteration": df["iteration"].astype(np.int64),
            **{
                name: df[column].astype(np.float64).replace([np.inf, -np.inf], np.nan)
                for name, column in _VALUES.items()
            },
        }
    )
    keys = [*_KEYS, "iteration"]
    table = data.groupby(keys, as_index=False).agg(
        **{name: (name, "mean") for name in _VALUES}, seeds=("train_loss", "size")
    )
    return table.sort_values(keys, ignore_index=True)


def low_capacity_final(info: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`low_capacity_info` at each (optimizer, method, fraction)'s last iteration."""
    last = info.groupby(_KEYS)["iteration"].transform("max")
    return info[info["iteration"] == last].reset_index(drop=True)


# --- draw step ---


def draw_low_capacity(info: pd.DataFrame) -> Any:
    """Rows: optimizers. Columns: each method's training loss against iteration (a line per
    collapsed fraction, darker = fewer collapsed), then the final distinct neurons against the
    collapsed fraction, a line per method. Returns the Figure."""
    import seaborn as sns

    plt = pyplot()
    optimizers = sorted(info["optimizer"].unique()) or ["-"]
    methods = sorted(info["method"].unique(), key=lambda m: (m != "vanilla", m))
    ncols = len(methods) + 1
    fig, axes = plt.subplots(
        len(optimizers), ncols, figsize=(4.2 * ncols, 3.4 * len(optimizers)), squeeze=False, constrained_layout=True
    )
    fractions = sorted(info["collapsed_fraction"].unique())
    # Fig. 1: blacker lines = higher-capacity initialisations (fewer neurons collapsed).
    shades = dict(zip(fractions, sns.color_palette("Greys_r", len(fractions) + 2)[: len(fractions)]))
    final = low_capacity_final(info)
    for row, optimizer in enumerate(optimizers):
        for col, method in enumerate(methods):
            ax = axes[row, col]
            part = info[(info["optimizer"] == optimizer) & (info["method"] == method)]
            for fraction, curve in part.groupby("collapsed_fraction"):
                ax.plot(curve["iteration"], curve["train_loss"], color=shades[fraction], label=f"{fraction:g}")
            ax.set_yscale("log")
            ax.set_title(f"{method}, {optimizer}", fontsize=10)
            ax.set_xlabel("iteration")
            ax.set_ylabel("training loss")
            if col == 0:
                ax.legend(title="collapsed fraction", fontsize=7, title_fontsize=7, frameon=False)
        ax = axes[row, -1]
        part = final[final["optimizer"] == optimizer]
        for method, curve in part.groupby("method"):
            ax.plot(curve["collapsed_fraction"], curve["distinct_neurons"], marker="o", label=method)
        ax.set_xlabel("collapsed fraction at init")
        ax.set_ylabel("distinct neurons at the end")
        ax.set_title(f"capacity after training, {optimizer}", fontsize=10)
        ax.legend(fontsize=7, frameon=False)
    return fig


# --- the files analyze() writes ---


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """low_capacity_init.csv, low_capacity_init_final.csv and low_capacity_init.png/.pdf."""
    info = low_capacity_info(df)
    written = [
        write_csv(info, out / "low_capacity_init.csv"),
        write_csv(low_capacity_final(info), out / "low_capacity_init_final.csv"),
    ]
    return written + save_figure(draw_low_capacity(info), out, "low_capacity_init")


def _ordered(methods: pd.Series) -> list[str]:
    """vanilla first, then syre, then the others by name."""
    return sorted(set(methods), key=lambda m: (m != "vanilla", m != "syre", m))


def _headline(final: pd.DataFrame) -> list[str]:
    """Per optimizer, each method's final train loss at the fewest and the most collapsed neurons
    (Fig. 1: vanilla ends higher the more collapsed, syre does not); then the distinct neurons at
    the end at the most collapsed init."""
    lines = []
    most = final.groupby("optimizer")["collapsed_fraction"].max()
    for optimizer, part in final.groupby("optimizer"):
        low, high = part["collapsed_fraction"].min(), most[optimizer]
        values = []
        for method in _ordered(part["method"]):
            loss = part[part["method"] == method].set_index("collapsed_fraction")["train_loss"]
            ends = [f"{loss[f]:.3g}" for f in dict.fromkeys((low, high)) if f in loss.index]
            values.append(f"{method} {' → '.join(ends)}")
        fractions = f"{low:g} → {high:g}" if low != high else f"{low:g}"
        seeds = part["seeds"].min()
        seeds = f"{seeds} seeds" if part["seeds"].nunique() == 1 else f"{seeds} to {part['seeds'].max()} seeds"
        lines.append(f"final train loss ({optimizer}), collapsed fraction {fractions}: {', '.join(values)} ({seeds})")
    at_most = final[final["collapsed_fraction"] == final["optimizer"].map(most)]
    same = most.nunique() == 1  # the usual study: one fraction sweep for every optimizer
    parts = []
    for optimizer, part in at_most.groupby("optimizer"):
        named = part.set_index("method")["distinct_neurons"]
        values = ", ".join(f"{m} {named[m]:.3g}" for m in _ordered(part["method"]))
        parts.append(f"{optimizer}" + ("" if same else f" (fraction {most[optimizer]:g})") + f": {values}")
    where = f"collapsed fraction {most.iloc[0]:g}" if same else "most collapsed init"
    lines.append(f"distinct neurons at the end, {where}: {'; '.join(parts)}")
    return lines


def summary(df: pd.DataFrame) -> list[str]:
    """A headline (per optimizer the final train loss at the fewest and most collapsed neurons,
    the distinct neurons at the end), then per optimizer and collapsed fraction the final train
    loss and distinct neurons by method."""
    final = low_capacity_final(low_capacity_info(df))
    if final.empty:
        return ["no measurements"]
    return _headline(final) + [
        f"{r.optimizer}, collapsed fraction {r.collapsed_fraction:g}, {r.method}: final train loss "
        f"{r.train_loss:.4g}, distinct neurons {r.distinct_neurons:.4g}, rank {r.rank:.4g} ({r.seeds} seeds)"
        for r in final.itertuples()
    ]
