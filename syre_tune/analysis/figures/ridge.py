"""The figures of the ``ridge`` benchmark: test loss against α⁻¹ = d/N (paper Fig. 3 left).

Data steps (pure, tested for exact values): :func:`ridge_info` (each run's last report, tidy, with
``alpha_inv`` = config.dim / config.train_size) and :func:`ridge_table` (mean test loss per method,
setting and d/N). The picture to expect: vanilla peaks at d/N = 1 (double descent), weight decay
and syre (small σ0) do not. Files (:func:`write`): ridge.csv, ridge_table.csv, ridge.png/.pdf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from syre_tune.analysis import curves_info, draw_curves, save_figure, write_csv

__all__ = ["COLUMNS", "draw_ridge", "ridge_info", "ridge_table", "summary", "write"]

COLUMNS = None  # every column: the runs' labels come from whichever settings vary


def ridge_info(df: pd.DataFrame) -> pd.DataFrame:
    """Each run's last report, tidy (method, label, alpha_inv, seed, iteration, metric, value)."""
    info = curves_info(df, keep=["config.dim", "config.train_size"], last=True)
    info.insert(2, "alpha_inv", info["config.dim"] / info["config.train_size"])
    return info.drop(columns=["config.dim", "config.train_size"])


def ridge_table(info: pd.DataFrame) -> pd.DataFrame:
    """Mean test loss (and seeds) per (method, label, alpha_inv)."""
    losses = info[info["metric"] == "test_loss"]
    return (
        losses.groupby(["method", "label", "alpha_inv"], as_index=False)
        .agg(test_loss=("value", "mean"), seeds=("value", "size"))
        .sort_values(["method", "label", "alpha_inv"], ignore_index=True)
    )


def draw_ridge(info: pd.DataFrame) -> Any:
    """Test and train loss against d/N (log loss axis), a line per method and setting; d/N = 1 marked."""
    fig = draw_curves(
        info, x="alpha_inv", metrics=["test_loss", "train_loss"], title="Fig. 3 left: ridge regression, N fixed"
    )
    for ax in fig.axes:
        ax.set_yscale("log")
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("α⁻¹ = d / N")
    return fig


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """ridge.csv (tidy), ridge_table.csv (means) and ridge.png/.pdf."""
    info = ridge_info(df)
    return [
        write_csv(info, out / "ridge.csv"),
        write_csv(ridge_table(info), out / "ridge_table.csv"),
        *save_figure(draw_ridge(info), out, "ridge"),
    ]


def summary(df: pd.DataFrame) -> list[str]:
    """Per method and setting: the largest mean test loss over d/N and where it is (vanilla's
    double-descent peak at d/N = 1, which weight decay and syre remove). The methods in the order
    vanilla, weight_decay, syre, others; each method's setting with the lowest peak first, the
    other settings after all methods."""
    table = ridge_table(ridge_info(df))
    peaks = table.loc[table.groupby(["method", "label"])["test_loss"].idxmax()]
    order = {"vanilla": 0, "weight_decay": 1, "syre": 2}
    peaks = peaks.assign(order=peaks["method"].map(order).fillna(len(order)))
    peaks = peaks.sort_values(["order", "method", "test_loss"], kind="stable")
    first = ~peaks["method"].duplicated()
    return [
        f"{f'{row.method} {row.label}'.strip()}: peak test loss {row.test_loss:.4g} at d/N = {row.alpha_inv:.3g}"
        for row in pd.concat([peaks[first], peaks[~first]]).itertuples()
    ]
