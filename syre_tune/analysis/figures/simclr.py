"""The table of the ``simclr`` benchmark: paper Table 1 (SimCLR on CIFAR-100, ResNet18 CIFAR variant).

Data steps (pure, tested for exact values): :func:`simclr_info` (each seed's last report, with the
row of Table 1 it belongs to: vanilla, or syre at a σ0 on the projection head or on all layers) and
:func:`simclr_table` (mean and std over seeds per row, in the paper's row order). :func:`table_markdown`
prints it in the paper's layout (Method, Hyperparameter, Low-rankness, Penult. Layer Acc., Last Layer
Acc.) with the penultimate layer's low-rankness added beside the last layer's (the paper's column).
Files (:func:`write`): simclr_table.csv, simclr_table.md, simclr.png/.pdf (the same numbers as bars).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis import pyplot, save_figure, write_csv

__all__ = ["COLUMNS", "VALUES", "draw_simclr", "simclr_info", "simclr_table", "summary", "table_markdown", "write"]

VALUES = (
    "low_rankness_last",
    "low_rankness_penultimate",
    "probe_accuracy_penultimate",
    "probe_accuracy_last",
)
COLUMNS = (
    "trial_id", "method", "seed", "iteration", "sigma0", "config.params", "config.dataset",
    *(f"metric.{v}" for v in VALUES),
)  # fmt: skip
HEAD = "head"
ALL = "all layers"
MODEL = "ResNet18 (CIFAR variant: 3×3 stem, no max-pool)"


def _scope(params: Any) -> str:
    """Where syre acted, from ``config.params`` (JSON text of the patterns, or null = every parameter)."""
    if params is None or (isinstance(params, float) and np.isnan(params)):
        return ALL
    patterns = json.loads(params) if isinstance(params, str) else list(params)
    return HEAD if patterns == ["head.*"] else ", ".join(patterns)


def simclr_info(df: pd.DataFrame) -> pd.DataFrame:
    """Each (trial, seed)'s last report: method, scope ("" for vanilla, "head", "all layers" or the
    patterns), sigma0 (NaN for vanilla), seed, and the four VALUES."""
    missing = {"trial_id", "method", "seed", "iteration", "sigma0", *(f"metric.{v}" for v in VALUES)} - set(df.columns)
    if missing:
        raise ValueError(f"simclr_info: the results lack columns {sorted(missing)}")
    last = df[df["iteration"] == df.groupby(["trial_id", "seed"])["iteration"].transform("max")].copy()
    params = last["config.params"] if "config.params" in last else pd.Series([None] * len(last), index=last.index)
    syre = last["method"] == "syre"
    last["scope"] = np.where(syre, params.map(_scope), "")
    last["sigma0"] = last["sigma0"].where(syre).astype(np.float64)
    info = last[["method", "scope", "sigma0", "seed"]].copy()
    for value in VALUES:
        info[value] = last[f"metric.{value}"].astype(np.float64)
    return info.sort_values(["method", "scope", "sigma0", "seed"], ignore_index=True)


def _hyperparameter(method: str, scope: str, sigma0: float) -> str:
    if method != "syre":
        return "-"
    text = f"σ0 = {sigma0:g}"
    return text if scope == HEAD else f"{text}, {scope}"


def simclr_table(info: pd.DataFrame) -> pd.DataFrame:
    """One row per Table 1 row: method, hyperparameter (e.g. "σ0 = 0.1, all layers"), scope, sigma0,
    seeds, and ``<value>_mean`` / ``<value>_std`` (std over seeds, ddof 1; NaN for one seed) per
    VALUE. Rows in the paper's order: vanilla, syre on the head by decreasing σ0, syre on all
    layers by decreasing σ0 (other methods and scopes after)."""
    keys = ["method", "scope", "sigma0"]
    grouped = info.groupby(keys, dropna=False)
    table = grouped.agg(seeds=("seed", "nunique")).reset_index()
    for value in VALUES:
        stats = grouped[value].agg(["mean", "std"]).reset_index()
        table[f"{value}_mean"], table[f"{value}_std"] = stats["mean"].to_numpy(), stats["std"].to_numpy()
    rank = {("vanilla", ""): 0, ("syre", HEAD): 1, ("syre", ALL): 2}
    table["order"] = [rank.get((m, s), 3) for m, s in zip(table["method"], table["scope"])]
    table = table.sort_values(["order", "method", "scope", "sigma0"], ascending=[True, True, True, False])
    table.insert(1, "hyperparameter", [_hyperparameter(*row) for row in table[keys].itertuples(index=False)])
    return table.drop(columns="order").reset_index(drop=True)


def _percent(mean: float, std: float) -> str:
    if np.isnan(mean):
        return "n/a"
    return f"{100 * mean:.1f}%" if np.isnan(std) else f"{100 * mean:.1f} ± {100 * std:.1f}%"


def table_markdown(table: pd.DataFrame, *, dataset: str = "CIFAR-100") -> str:
    """Table 1 in the paper's layout as a markdown table (percentages, mean ± std over seeds)."""
    lines = [
        f"Linear evaluation of SimCLR on {dataset}, {MODEL}. Low-rankness: share of covariance eigenvalues "
        "below 1e-5. Mean ± std over seeds.",
        "",
        "| Method | Hyperparameter | Low-rankness (last) | Low-rankness (penult.) | Penult. Layer Acc. "
        "| Last Layer Acc. | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    previous = None
    for row in table.itertuples(index=False):
        method = row.method if row.method != previous else ""
        previous = row.method
        cells = [_percent(getattr(row, f"{v}_mean"), getattr(row, f"{v}_std")) for v in VALUES]
        lines.append(f"| {method} | {row.hyperparameter} | {' | '.join(cells)} | {row.seeds} |")
    return "\n".join(lines) + "\n"


def draw_simclr(table: pd.DataFrame, *, dataset: str = "CIFAR-100") -> Any:
    """Two panels of bars per Table 1 row: low-rankness and linear-probe accuracy of the penultimate
    and the last layer, with the std over seeds as error bars."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    labels = [
        m if h == "-" else f"{m}\n{h.replace(', ', chr(10))}" for m, h in zip(table["method"], table["hyperparameter"])
    ]
    x = np.arange(len(table))
    panels = (
        ("low_rankness", "low-rankness (share of eigenvalues < 1e-5)"),
        ("probe_accuracy", "linear-probe test accuracy"),
    )
    for ax, (metric, title) in zip(axes, panels):
        for i, (layer, colour) in enumerate((("penultimate", "tab:blue"), ("last", "tab:orange"))):
            value = f"{metric}_{layer}"
            ax.bar(
                x + (i - 0.5) * 0.4, table[f"{value}_mean"], 0.4, yerr=table[f"{value}_std"].fillna(0),
                color=colour, label=layer,
            )  # fmt: skip
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.legend(title="layer")
    fig.suptitle(f"SimCLR (Table 1) on {dataset}, {MODEL}", fontsize=10)
    return fig


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """simclr_table.csv, simclr_table.md and simclr.png/.pdf."""
    table = simclr_table(simclr_info(df))
    dataset = _dataset(df)
    markdown = out / "simclr_table.md"
    markdown.write_text(table_markdown(table, dataset=dataset))
    figure = draw_simclr(table, dataset=dataset)
    return [write_csv(table, out / "simclr_table.csv"), markdown, *save_figure(figure, out, "simclr")]


def _dataset(df: pd.DataFrame) -> str:
    """The data set the rows name (``config.dataset``: a stand-in says so), CIFAR-100 if none."""
    names = sorted(df["config.dataset"].dropna().unique()) if "config.dataset" in df else []
    names = [f"{n} (generated stand-in)" if str(n).startswith("synthetic_") else str(n) for n in names]
    return ", ".join(names) if names else "CIFAR-100"


def _row_line(name: str, row: Any) -> str:
    seeds = f"{row.seeds} seed" + ("s" if row.seeds != 1 else "")
    return (
        f"{name}: last-layer low-rankness {row.low_rankness_last_mean:.3g}; probe accuracy last "
        f"{row.probe_accuracy_last_mean:.3g} / penultimate {row.probe_accuracy_penultimate_mean:.3g} ({seeds})"
    )


def summary(df: pd.DataFrame) -> list[str]:
    """The paper's claims (Table 1): vanilla's last layer, syre's row with the best last-layer probe
    accuracy, and at how many syre rows the last layer's low-rankness is lower and its probe
    accuracy higher than vanilla's; then the other syre rows."""
    table = simclr_table(simclr_info(df))
    vanilla, syre = table[table["method"] == "vanilla"], table[table["method"] == "syre"]
    if vanilla.empty and syre.empty:
        return ["no measurements of vanilla or syre"]
    lines = [_row_line("vanilla", row) for row in vanilla.head(1).itertuples(index=False)]
    ranked = syre.sort_values("probe_accuracy_last_mean", ascending=False, kind="stable")
    rows = [_row_line(f"syre {row.hyperparameter}", row) for row in ranked.itertuples(index=False)]
    lines += rows[:1]
    if len(vanilla) and len(syre):
        base = vanilla.iloc[0]
        lower = int((syre["low_rankness_last_mean"] < base["low_rankness_last_mean"]).sum())
        higher = int((syre["probe_accuracy_last_mean"] > base["probe_accuracy_last_mean"]).sum())
        lines.append(
            f"syre rows below vanilla's last-layer low-rankness: {lower} of {len(syre)}; "
            f"above its last-layer probe accuracy: {higher} of {len(syre)}"
        )
    return lines + rows[1:]
