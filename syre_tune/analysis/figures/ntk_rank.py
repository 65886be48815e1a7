"""The figures of the ``ntk_rank`` benchmark: paper Fig. 14 (Appendix C), the ranks of the
empirical NTK and of the gradient second moment against the number n of neurons in the symmetric
state, with the bound 1280 − 20n of Propositions 2-3; left at the start of training, right at its end.

Data step (pure pandas/numpy, tested for exact values): :func:`ntk_rank_info`, per (method, n) the
bound and the means over seeds of the four ranks, with the number of seeds and whether every seed's
ranks are within the bound. Draw step: :func:`draw_ntk_rank`. Files (:func:`write`):
ntk_rank.csv, ntk_rank.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis import pyplot, save_figure, write_csv

__all__ = ["COLUMNS", "draw_ntk_rank", "ntk_rank_info", "summary", "write"]

RANKS = ("ntk_rank_start", "grad_rank_start", "ntk_rank_end", "grad_rank_end")
COLUMNS = (
    "trial_id",
    "method",
    "seed",
    "iteration",
    "metric.collapsed",
    "metric.bound",
    *(f"metric.{r}" for r in RANKS),
)


def ntk_rank_info(df: pd.DataFrame) -> pd.DataFrame:
    """Columns method, collapsed (int), bound, the four ranks (means over seeds), seeds and
    within_bound (every seed's four ranks ≤ the bound); sorted by method, collapsed."""
    missing = set(COLUMNS[1:]) - set(df.columns)
    if missing:
        raise ValueError(f"ntk_rank_info: the results lack columns {sorted(missing)}")
    data = pd.DataFrame(
        {
            "method": df["method"].astype(object),
            "collapsed": df["metric.collapsed"].astype(np.int64),
            "bound": df["metric.bound"].astype(np.float64),
            **{r: df[f"metric.{r}"].astype(np.float64) for r in RANKS},
        }
    )
    data["within"] = (data[list(RANKS)].max(axis=1) <= data["bound"]).to_numpy()
    table = data.groupby(["method", "collapsed"], as_index=False).agg(
        bound=("bound", "first"),
        **{r: (r, "mean") for r in RANKS},
        seeds=("bound", "size"),
        within_bound=("within", "all"),
    )
    return table.sort_values(["method", "collapsed"], ignore_index=True)


def draw_ntk_rank(info: pd.DataFrame) -> Any:
    """Two panels (start, end of training): NTK rank (solid) and gradient second-moment rank
    (dashed) against n, a colour per method, the bound 1280 − 20n in black."""
    import seaborn as sns

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, squeeze=False, constrained_layout=True)
    methods = sorted(info["method"].unique(), key=lambda m: (m != "vanilla", m))
    colors = dict(zip(methods, sns.color_palette("deep", max(1, len(methods)))))
    bound = info.drop_duplicates("collapsed").sort_values("collapsed")
    for ax, when in zip(axes[0], ("start", "end")):
        ax.plot(bound["collapsed"], bound["bound"], color="black", lw=1.5, label="bound 1280 − 20n")
        for method, curve in info.groupby("method"):
            color = colors[method]
            ax.plot(curve["collapsed"], curve[f"ntk_rank_{when}"], "-o", color=color, ms=4, label=f"{method} NTK")
            ax.plot(
                curve["collapsed"], curve[f"grad_rank_{when}"], "--s", color=color, ms=4, mfc="none",
                label=f"{method} gradient 2nd moment",
            )  # fmt: skip
        ax.set_xlabel("neurons in the symmetric state n")
        ax.set_title(f"{when} of training", fontsize=10)
    axes[0, 0].set_ylabel("rank")
    axes[0, 0].legend(fontsize=7, frameon=False)
    return fig


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """ntk_rank.csv and ntk_rank.png/.pdf."""
    info = ntk_rank_info(df)
    return [write_csv(info, out / "ntk_rank.csv"), *save_figure(draw_ntk_rank(info), out, "ntk_rank")]


def _headline(info: pd.DataFrame) -> list[str]:
    """At the largest n, the NTK rank at the end and at the start of training against the bound,
    and whether each method stays within the bound 1280 − 20n at every n (Propositions 2-3:
    vanilla must, syre need not)."""
    methods = sorted(info["method"].unique(), key=lambda m: (m != "vanilla", m))
    largest = int(info["collapsed"].max())
    at_largest = info[info["collapsed"] == largest].set_index("method")
    bound = at_largest["bound"].iloc[0]

    def ranks(column: str) -> str:
        return ", ".join(f"{m} {at_largest.loc[m, column]:.6g}" for m in methods if m in at_largest.index)

    within = ", ".join(f"{m} {'yes' if info.loc[info['method'] == m, 'within_bound'].all() else 'no'}" for m in methods)
    seeds = f"{info['seeds'].min()} seeds" + ("" if info["seeds"].nunique() == 1 else f" to {info['seeds'].max()}")
    return [
        f"NTK rank at the end of training, n = {largest} neurons symmetric (bound {bound:g}): {ranks('ntk_rank_end')}",
        f"NTK rank at the start of training, n = {largest}: {ranks('ntk_rank_start')} ({seeds})",
        f"NTK and gradient ranks within the bound 1280 − 20n at every n (Prop. 2-3): {within}",
    ]


def summary(df: pd.DataFrame) -> list[str]:
    """A headline (the NTK rank at the largest n, whether each method keeps within the bound, the
    rank from the smallest to the largest n), then per method whether every rank is within the
    bound, and the ranks at the smallest and largest n."""
    info = ntk_rank_info(df)
    if info.empty:
        return ["no measurements"]
    lines = _headline(info)
    for method, group in info.groupby("method"):
        first, last = group.iloc[0], group.iloc[-1]
        within = "yes" if group["within_bound"].all() else "no"
        lines.append(
            f"{method}: ranks within the bound 1280 − 20n at every n: {within}; "
            f"NTK rank at the end {first['ntk_rank_end']:.6g} (n={first['collapsed']}) → "
            f"{last['ntk_rank_end']:.6g} (n={last['collapsed']})"
        )
    return lines
