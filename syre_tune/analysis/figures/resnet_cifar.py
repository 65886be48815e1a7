"""The figure of the ``resnet_cifar`` benchmark: paper Fig. 3 middle (ResNet18, CIFAR variant, test
accuracy against syre's σ0, with the reference's mean ± std as a band).

Data steps (pure pandas/numpy, tested for exact values):

- :func:`final_rows`: each run's (trial, seed) last report: method, σ0 (syre only), seed, the metrics;
- :func:`sigma0_table`: per (method, σ0) the mean, the standard deviation (ddof = 1) and the seeds;
- :func:`claim_table`: per reference method (weight_decay, vanilla) and syre σ0, Welch's t-test of
  syre's final test accuracies against the reference's, and whether syre's mean lies in the band.

Draw step :func:`draw_resnet_cifar`: test accuracy (and test loss) against σ0 on a log axis, syre's
mean ± std with each seed as a dot, each reference as a horizontal band (mean ± std) across the
axis, a dotted line at the paper's σ0 = 0.2. Files (:func:`write`): resnet_cifar.csv (per-seed final
rows), resnet_cifar_table.csv, resnet_cifar_claim.csv, resnet_cifar.png/.pdf.

Which reference is the paper's "vanilla ResNet": the paper says syre at σ0 = 0 *is* the vanilla
model, so its vanilla has the recipe's weight decay, our ``weight_decay`` (2γ = 5e-4); ``vanilla``
here trains with no decay at all. The summary tests against both, and gives the verdict against
weight_decay when it ran.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis import pyplot, save_figure, write_csv

__all__ = ["COLUMNS", "claim_table", "draw_resnet_cifar", "final_rows", "sigma0_table", "summary", "welch", "write"]

COLUMNS = (
    "trial_id",
    "method",
    "seed",
    "iteration",
    "sigma0",
    "config.width",
    "config.dataset",
    "metric.test_accuracy",
    "metric.test_loss",
    "metric.train_loss",
)
_METRICS = ("test_accuracy", "test_loss", "train_loss")
REFERENCES = ("weight_decay", "vanilla")
"""The methods drawn as bands and tested against, the paper's reference first (see the module doc)."""
CLAIM_BELOW = 0.2
"""The paper: no significant difference for σ0 < 0.2."""
ALPHA = 0.05
"""Significance level of the Welch t-test."""
VARIANT = "ResNet18, CIFAR variant (3×3 stride-1 stem, no max-pool)"


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Columns method, sigma0 (NaN for the references), seed, iteration, width, dataset and the
    metrics, at each (trial_id, seed)'s last iteration; sorted by method, sigma0, seed."""
    missing = set(COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"resnet_cifar: the results lack columns {sorted(missing)}")
    data = df[df["iteration"].notna()]
    data = data.loc[data.groupby(["trial_id", "seed"], sort=False)["iteration"].idxmax()]
    table = pd.DataFrame(
        {
            "method": data["method"].astype(object),
            "sigma0": np.where(data["method"] == "syre", data["sigma0"].astype(np.float64), np.nan),
            "seed": data["seed"].astype(np.int64),
            "iteration": data["iteration"].astype(np.int64),
            "width": data["config.width"].astype(np.int64),
            "dataset": data["config.dataset"].astype(object),
            **{name: data[f"metric.{name}"].astype(np.float64) for name in _METRICS},
        }
    )
    return table.sort_values(["method", "sigma0", "seed"], ignore_index=True)


def sigma0_table(final: pd.DataFrame) -> pd.DataFrame:
    """Per (method, sigma0): ``<metric>_mean``, ``<metric>_std`` (ddof = 1; NaN for one seed) and
    ``seeds``; NaN values are left out of each statistic."""
    grouped = final.groupby(["method", "sigma0"], dropna=False, sort=True)
    stats = {}
    for name in _METRICS:
        stats[f"{name}_mean"] = (name, "mean")
        stats[f"{name}_std"] = (name, "std")
    return grouped.agg(**stats, seeds=("seed", "size")).reset_index()


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Welch's unequal-variance t statistic of mean(a) − mean(b) and its two-sided p-value
    (Welch–Satterthwaite degrees of freedom). NaN with fewer than 2 values on a side; with no
    spread on either side, t = 0, p = 1 for equal means and t = ±inf, p = 0 otherwise."""
    from scipy import stats

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    difference = a.mean() - b.mean()
    if va + vb == 0:
        return (0.0, 1.0) if difference == 0 else (math.copysign(math.inf, difference), 0.0)
    t = difference / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(t), float(2 * stats.t.sf(abs(t), dof))


def claim_table(final: pd.DataFrame, metric: str = "test_accuracy", alpha: float = ALPHA) -> pd.DataFrame:
    """Per reference method that ran and syre σ0: reference_mean, reference_std, syre_mean,
    syre_std, difference (syre − reference), t, p_value (Welch), significant (p < alpha), in_band
    (|difference| ≤ reference_std), seeds (syre's) and below_claim (σ0 < 0.2)."""
    syre = final[final["method"] == "syre"]
    rows = []
    for reference in REFERENCES:
        ref = final.loc[final["method"] == reference, metric].to_numpy(np.float64)
        if len(ref) == 0:
            continue
        ref_mean, ref_std = np.nanmean(ref), (np.nanstd(ref, ddof=1) if len(ref) > 1 else math.nan)
        for sigma0, group in syre.groupby("sigma0", sort=True):
            values = group[metric].to_numpy(np.float64)
            t, p = welch(values, ref)
            difference = float(np.nanmean(values) - ref_mean)
            rows.append(
                {
                    "reference": reference,
                    "sigma0": float(sigma0),
                    "reference_mean": float(ref_mean),
                    "reference_std": float(ref_std),
                    "syre_mean": float(np.nanmean(values)),
                    "syre_std": float(np.nanstd(values, ddof=1)) if len(values) > 1 else math.nan,
                    "difference": difference,
                    "t": t,
                    "p_value": p,
                    "significant": bool(p < alpha),
                    "in_band": bool(abs(difference) <= ref_std),
                    "seeds": len(values),
                    "below_claim": bool(sigma0 < CLAIM_BELOW),
                }
            )
    return pd.DataFrame(rows, columns=_CLAIM_COLUMNS)


_CLAIM_COLUMNS = [
    "reference",
    "sigma0",
    "reference_mean",
    "reference_std",
    "syre_mean",
    "syre_std",
    "difference",
    "t",
    "p_value",
    "significant",
    "in_band",
    "seeds",
    "below_claim",
]


# --- draw step ---


def draw_resnet_cifar(final: pd.DataFrame, metrics: tuple[str, ...] = ("test_accuracy", "test_loss")) -> Any:
    """A panel per metric against σ0 (log axis): syre's mean ± std (seeds as dots), each reference's
    mean ± std as a horizontal band, the paper's σ0 = 0.2 dotted. Returns the Figure."""
    import seaborn as sns

    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.9), squeeze=False, constrained_layout=True)
    table = sigma0_table(final)
    syre = table[table["method"] == "syre"]
    colours = dict(zip(("syre", *REFERENCES), sns.color_palette("deep", 3)))
    sigmas = syre["sigma0"].to_numpy(np.float64)
    span = (sigmas.min() / 1.5, sigmas.max() * 1.5) if len(sigmas) else (1e-2, 1.0)
    for ax, metric in zip(axes[0], metrics):
        for reference in REFERENCES:
            row = table[table["method"] == reference]
            if row.empty:
                continue
            mean, std = float(row[f"{metric}_mean"].iloc[0]), float(row[f"{metric}_std"].iloc[0])
            std = 0.0 if math.isnan(std) else std
            ax.axhspan(mean - std, mean + std, color=colours[reference], alpha=0.18, lw=0)
            label = f"{reference} mean ± std ({int(row['seeds'].iloc[0])} seeds)"
            ax.axhline(mean, color=colours[reference], lw=1.2, label=label)
        if len(syre):
            points = final[final["method"] == "syre"]
            ax.scatter(points["sigma0"], points[metric], s=10, color=colours["syre"], alpha=0.45, lw=0)
            ax.errorbar(
                syre["sigma0"],
                syre[f"{metric}_mean"],
                yerr=syre[f"{metric}_std"].fillna(0.0),
                color=colours["syre"],
                marker="o",
                capsize=3,
                label="syre mean ± std",
            )
        ax.axvline(CLAIM_BELOW, color="0.4", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlim(*span)
        ax.set_xlabel("σ0 (relative: std σ0/√fan_in)")
        ax.set_ylabel(metric.replace("_", " "))
    axes[0, 0].legend(fontsize=7, frameon=False)
    widths = sorted(final["width"].unique())
    datasets = sorted(final["dataset"].unique())
    width = ", ".join(str(w) for w in widths) or "-"
    fig.suptitle(f"{VARIANT}, width {width}, on {', '.join(datasets) or '-'}", fontsize=10)
    return fig


# --- the files analyze() writes ---


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """resnet_cifar.csv, resnet_cifar_table.csv, resnet_cifar_claim.csv and resnet_cifar.png/.pdf."""
    final = final_rows(df)
    written = [
        write_csv(final, out / "resnet_cifar.csv"),
        write_csv(sigma0_table(final), out / "resnet_cifar_table.csv"),
        write_csv(claim_table(final), out / "resnet_cifar_claim.csv"),
    ]
    return written + save_figure(draw_resnet_cifar(final), out, "resnet_cifar")


def _verdict(rows: pd.DataFrame) -> tuple[str, pd.DataFrame, list[str]]:
    """Of one reference's :func:`claim_table` rows: the paper's claim (no significant difference for
    σ0 < 0.2) as yes / no / untested, the rows tested and the σ0 where syre differs."""
    below = rows[rows["below_claim"]]
    tested = below[below["p_value"].notna()]
    differs = [f"{s:g}" for s in tested.loc[tested["significant"], "sigma0"]]
    verdict = "untested (needs ≥ 2 seeds per side and a σ0 < 0.2)" if tested.empty else ("no" if differs else "yes")
    return verdict, tested, differs


def _headline(final: pd.DataFrame, claims: pd.DataFrame) -> list[str]:
    """The references' final test accuracy, syre's at its smallest and largest σ0, and the paper's
    claim against the paper's reference (weight_decay if it ran, else vanilla)."""
    table = sigma0_table(final)
    lines = []
    references = []
    for reference in REFERENCES:  # the paper's first
        for r in table[table["method"] == reference].itertuples():
            spread = "" if math.isnan(r.test_accuracy_std) else f" ± {r.test_accuracy_std:.4f}"
            references.append(f"{reference} {r.test_accuracy_mean:.4f}{spread} ({r.seeds} seeds)")
    if references:
        lines.append("final test accuracy, mean ± std: " + ", ".join(references))
    syre = table[table["method"] == "syre"].sort_values("sigma0")
    if len(syre):
        ends = [syre.iloc[0]] if len(syre) == 1 else [syre.iloc[0], syre.iloc[-1]]
        values = " to ".join(f"{r['test_accuracy_mean']:.4f} at σ0 = {r['sigma0']:g}" for r in ends)
        seeds = f"{syre['seeds'].min()}" + ("" if syre["seeds"].nunique() == 1 else f" to {syre['seeds'].max()}")
        lines.append(f"syre final test accuracy: {values} ({len(syre)} values of σ0, {seeds} seeds each)")
    if len(claims):
        reference = claims["reference"].iloc[0]  # REFERENCES order: the paper's first
        verdict, _, differs = _verdict(claims[claims["reference"] == reference])
        lines.append(
            f"syre not significantly different from {reference} at every σ0 < {CLAIM_BELOW:g} "
            f"(Welch, p ≥ {ALPHA:g}): {verdict}" + (f" (differs at σ0 = {', '.join(differs)})" if differs else "")
        )
    return lines


def summary(df: pd.DataFrame) -> list[str]:
    """A headline (the references' and syre's final test accuracy, the paper's claim against its
    reference), then per method and σ0 the final test accuracy, and the paper's claim against each
    reference."""
    final = final_rows(df)
    claims = claim_table(final)
    lines = _headline(final, claims) + [f"{VARIANT}; final test accuracy, mean ± std over seeds:"]
    for r in sigma0_table(final).itertuples():
        where = f", σ0 = {r.sigma0:g}" if r.method == "syre" else ""
        lines.append(f"  {r.method}{where}: {r.test_accuracy_mean:.4f} ± {r.test_accuracy_std:.4f} ({r.seeds} seeds)")
    for reference, rows in claims.groupby("reference", sort=False):
        verdict, tested, differs = _verdict(rows)
        lines.append(
            f"no significant difference from {reference} for σ0 < {CLAIM_BELOW:g} (Welch t-test, p ≥ {ALPHA:g} at "
            f"every σ0 {', '.join(f'{s:g}' for s in tested['sigma0'])}): {verdict}"
            + (f" (differs at σ0 = {', '.join(differs)})" if differs else "")
        )
        at_or_above = rows[~rows["below_claim"] & rows["significant"]]
        if len(at_or_above):
            shown = ", ".join(f"{r.sigma0:g} ({r.difference:+.4f})" for r in at_or_above.itertuples())
            lines.append(f"  significant against {reference} at σ0 ≥ {CLAIM_BELOW:g}: {shown}")
    return lines
