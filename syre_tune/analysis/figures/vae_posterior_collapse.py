"""The figures of the ``vae_posterior_collapse`` benchmark: paper Fig. 9 (the encoder output's rank and
the reconstruction loss of a β-VAE against β) and Fig. 10 (test images and their reconstructions).

Data steps (pure pandas/numpy, tested for exact values):

- :func:`vae_collapse_info`: each run's final training values (the rows without ``recon_pixel``,
  last iteration per (trial, seed)), per (method, γ, β): mean and std over seeds of rank,
  recon_loss, test_recon_loss and kl, with the number of seeds;
- :func:`reconstructions_info`: the reconstruction rows at the largest β (or a given one), of each
  (method, γ)'s lowest seed: method, gamma, beta, seed, image, pixel, input, output;
- :func:`reconstruction_grid`: those rows as images, (1 + panels, images, side, side): row 0 the test
  images, then one row per (method, γ), with the panel labels.

Draw steps: :func:`draw_vae_collapse` (Fig. 9: left the rank against β, right the reconstruction
loss, solid train and dashed test; a line per method and γ, a ±1 std band over seeds; log β) and
:func:`draw_reconstructions` (Fig. 10: the grid, pixel values clipped to [0, 1], grey). Files
(:func:`write`): vae_posterior_collapse.csv, vae_posterior_collapse_reconstructions.csv,
vae_posterior_collapse.png/.pdf, vae_posterior_collapse_reconstructions.png/.pdf.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_tune.analysis import pyplot, save_figure, write_csv

__all__ = [
    "COLUMNS",
    "draw_reconstructions",
    "draw_vae_collapse",
    "reconstruction_grid",
    "reconstructions_info",
    "summary",
    "vae_collapse_info",
    "write",
]

COLUMNS = (
    "trial_id",
    "method",
    "seed",
    "iteration",
    "gamma",
    "config.beta",
    "metric.recon_loss",
    "metric.test_recon_loss",
    "metric.kl",
    "metric.rank",
    "metric.recon_image",
    "metric.recon_pixel",
    "metric.recon_input",
    "metric.recon_output",
)
RANK_THRESHOLD = 1e-6
_MEASURES = ("rank", "recon_loss", "test_recon_loss", "kl")


def _check(df: pd.DataFrame, where: str) -> None:
    missing = set(COLUMNS[1:]) - set(df.columns)
    if missing:
        raise ValueError(f"{where}: the results lack columns {sorted(missing)}")


def _gamma(column: pd.Series) -> pd.Series:
    """γ as float, NaN where the method does not read it (vanilla)."""
    return pd.to_numeric(column, errors="coerce").astype(np.float64)


def vae_collapse_info(df: pd.DataFrame) -> pd.DataFrame:
    """Columns method, gamma (NaN for vanilla), beta, mean and std over seeds of rank, recon_loss,
    test_recon_loss, kl (``<m>`` and ``<m>_std``, std with ddof 1: NaN for one seed), seeds;
    sorted by method, gamma, beta."""
    _check(df, "vae_collapse_info")
    training = df[df["metric.recon_pixel"].isna()]
    last = training.loc[training.groupby(["trial_id", "seed"], sort=False)["iteration"].idxmax()]
    data = pd.DataFrame(
        {
            "method": last["method"].astype(object),
            "gamma": _gamma(last["gamma"]),
            "beta": last["config.beta"].astype(np.float64),
            **{m: last[f"metric.{m}"].astype(np.float64) for m in _MEASURES},
        }
    )
    keys = ["method", "gamma", "beta"]
    stats = {}
    for m in _MEASURES:
        stats[m] = (m, "mean")
        stats[f"{m}_std"] = (m, "std")
    table = data.groupby(keys, as_index=False, dropna=False).agg(**stats, seeds=("rank", "size"))
    return table.sort_values(keys, ignore_index=True)


def reconstructions_info(df: pd.DataFrame, beta: float | None = None) -> pd.DataFrame:
    """The reconstruction rows at ``beta`` (default: the largest β that has any), of each (method,
    γ)'s lowest seed (its first trial if several): columns method, gamma, beta, seed, image, pixel
    (int), input, output; sorted by method, gamma, image, pixel."""
    _check(df, "reconstructions_info")
    rows = df[df["metric.recon_pixel"].notna()]
    columns = ["method", "gamma", "beta", "seed", "image", "pixel", "input", "output"]
    if not len(rows):
        return pd.DataFrame({c: [] for c in columns})
    betas = rows["config.beta"].astype(np.float64)
    chosen_beta = float(betas.max()) if beta is None else float(beta)
    rows = rows[np.isclose(betas, chosen_beta, rtol=1e-12, atol=0.0)]
    data = pd.DataFrame(
        {
            "method": rows["method"].astype(object),
            "gamma": _gamma(rows["gamma"]),
            "beta": rows["config.beta"].astype(np.float64),
            "seed": rows["seed"].astype(np.int64),
            "trial_id": rows["trial_id"].astype(object),
            "image": rows["metric.recon_image"].astype(np.int64),
            "pixel": rows["metric.recon_pixel"].astype(np.int64),
            "input": rows["metric.recon_input"].astype(np.float64),
            "output": rows["metric.recon_output"].astype(np.float64),
        }
    )
    first = data.sort_values(["seed", "trial_id"]).groupby(["method", "gamma"], dropna=False).head(1)
    keep = first[["method", "gamma", "seed", "trial_id"]]
    data = data.merge(keep, on=["method", "gamma", "seed", "trial_id"])
    return data[columns].sort_values(["method", "gamma", "image", "pixel"], ignore_index=True)


def _panel(method: str, gamma: float) -> str:
    return method if math.isnan(gamma) else f"{method}, γ = {gamma:g}"


def reconstruction_grid(info: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """``info`` (:func:`reconstructions_info`) as images (1 + panels, images, side, side) with
    side = √pixels, and the row labels: "input", then one per (method, γ) in ``info``'s order. An
    image's missing pixel is NaN."""
    if not len(info):
        return np.zeros((1, 0, 0, 0)), ["input"]
    pixels = int(info["pixel"].max()) + 1
    side = math.isqrt(pixels)
    if side * side != pixels:
        raise ValueError(f"reconstruction_grid: {pixels} pixels per image is not a square image")
    images = sorted(info["image"].unique())
    column = {image: j for j, image in enumerate(images)}
    panels = list(info.groupby(["method", "gamma"], dropna=False, sort=False))
    grid = np.full((1 + len(panels), len(images), pixels), np.nan)
    for r, (_, part) in enumerate(panels, start=1):
        cols, where = part["image"].map(column).to_numpy(), part["pixel"].to_numpy()
        grid[r, cols, where] = part["output"].to_numpy()
        if r == 1:  # the inputs are the same test images in every run
            grid[0, cols, where] = part["input"].to_numpy()
    labels = ["input"] + [_panel(method, gamma) for (method, gamma), _ in panels]
    return grid.reshape(1 + len(panels), len(images), side, side), labels


# --- draw steps ---


def _palette(keys: list[Any]) -> dict[Any, Any]:
    import seaborn as sns

    return dict(zip(keys, sns.color_palette("deep", max(1, len(keys)))))


def draw_vae_collapse(info: pd.DataFrame) -> Any:
    """Fig. 9: left the encoder output's rank against β, right the reconstruction loss (solid
    train, dashed test); a line per (method, γ), a ±1 std band over seeds."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    curves = list(info.groupby(["method", "gamma"], dropna=False, sort=True))
    colors = _palette([key for key, _ in curves])
    for key, curve in curves:
        color, label = colors[key], _panel(*key)
        x = curve["beta"].to_numpy()
        for ax, measure, style, suffix in (
            (left, "rank", "-o", ""),
            (right, "recon_loss", "-o", " train"),
            (right, "test_recon_loss", "--o", " test"),
        ):
            mean, std = curve[measure].to_numpy(), curve[f"{measure}_std"].fillna(0.0).to_numpy()
            ax.plot(x, mean, style, color=color, label=label + suffix, mfc="none" if style == "--o" else None)
            ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, lw=0)
    left.set_title(f"rank of the encoder output (eigenvalues > {RANK_THRESHOLD:g})", fontsize=10)
    left.set_ylabel("rank")
    right.set_title("reconstruction loss ‖x − x̂‖² / (2 η_dec)", fontsize=10)
    right.set_ylabel("reconstruction loss")
    for ax in (left, right):
        ax.set_xlabel("β (weight of the KL term)")
        if len(info) and (info["beta"] > 0).all():
            ax.set_xscale("log")
        ax.legend(fontsize=7, frameon=False)
    return fig


def draw_reconstructions(grid: np.ndarray, labels: list[str], beta: float | None = None) -> Any:
    """Fig. 10: a row per label (the test images, then each method's reconstructions), grey, [0, 1]."""
    plt = pyplot()
    rows, images = grid.shape[0], max(1, grid.shape[1])
    label_width = 0.09 * max(len(label) for label in labels) + 0.3  # inches for the row labels
    width = 1.1 * images + label_width
    fig, axes = plt.subplots(rows, images, figsize=(width, 1.15 * rows + 0.4), squeeze=False)
    for r in range(rows):
        for j in range(images):
            ax = axes[r, j]
            if j < grid.shape[1]:
                ax.imshow(np.clip(grid[r, j], 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(labels[r], rotation=0, ha="right", va="center", fontsize=8)
    title = "test images and their reconstructions (decoder at z = μ(x))"
    fig.suptitle(title + (f", β = {beta:g}" if beta is not None else ""), fontsize=9)
    fig.subplots_adjust(left=label_width / width, right=0.98, wspace=0.05, hspace=0.08)
    return fig


# --- the files analyze() writes ---


def write(df: pd.DataFrame, out: Path) -> list[Path]:
    """vae_posterior_collapse.csv, vae_posterior_collapse_reconstructions.csv and their figures."""
    info, recon = vae_collapse_info(df), reconstructions_info(df)
    grid, labels = reconstruction_grid(recon)
    beta = float(recon["beta"].iloc[0]) if len(recon) else None
    return [
        write_csv(info, out / "vae_posterior_collapse.csv"),
        write_csv(recon, out / "vae_posterior_collapse_reconstructions.csv"),
        *save_figure(draw_vae_collapse(info), out, "vae_posterior_collapse"),
        *save_figure(draw_reconstructions(grid, labels, beta), out, "vae_posterior_collapse_reconstructions"),
    ]


def _headline(info: pd.DataFrame) -> list[str]:
    """At the largest β syre and another method both ran (the collapse grows with β): each
    method's encoder rank and test reconstruction loss (each at its γ with the highest rank), and
    whether syre keeps a higher rank than weight decay (the paper's "vanilla weight decay"; vanilla
    if weight decay did not run there)."""
    syre = info[info["method"] == "syre"]
    others = info[info["method"] != "syre"]
    common = sorted(set(syre["beta"]) & set(others["beta"]))
    beta = common[-1] if common else info["beta"].max()
    at = info[info["beta"] == beta].sort_values("rank", ascending=False, kind="stable").drop_duplicates("method")
    order = {"syre": 0, "weight_decay": 1, "vanilla": 2}
    at = at.sort_values("method", key=lambda m: m.map(order).fillna(len(order)), kind="stable").set_index("method")
    seeds = f"{at['seeds'].min()} seeds" + ("" if at["seeds"].nunique() == 1 else f" to {at['seeds'].max()}")
    names = {r.Index: r.Index if math.isnan(r.gamma) else f"{r.Index} (γ = {r.gamma:g})" for r in at.itertuples()}
    ranks = ", ".join(f"{names[r.Index]} {r.rank:.4g}" for r in at.itertuples())
    losses = ", ".join(f"{names[r.Index]} {r.test_recon_loss:.4g}" for r in at.itertuples())
    lines = [
        f"encoder rank at the largest β = {beta:g}: {ranks} ({seeds})",
        f"test reconstruction loss at β = {beta:g}: {losses}",
    ]
    reference = next((m for m in ("weight_decay", "vanilla") if m in at.index), None)
    if "syre" in at.index and reference is not None:
        higher = at.loc["syre", "rank"] > at.loc[reference, "rank"]
        lines.append(f"syre keeps a higher encoder rank than {reference} at β = {beta:g}: {'yes' if higher else 'no'}")
    return lines


def summary(df: pd.DataFrame) -> list[str]:
    """A headline (at the largest β: each method's encoder rank and test reconstruction loss, syre
    against weight decay), then per (method, γ, β) the final rank and reconstruction losses, and
    whether syre's rank is above vanilla's at the largest β both ran."""
    info = vae_collapse_info(df)
    if info.empty:
        return ["no measurements"]
    lines = _headline(info) + [
        f"{_panel(r.method, r.gamma)}, β={r.beta:g}: rank {r.rank:.4g}, recon loss {r.recon_loss:.4g} train / "
        f"{r.test_recon_loss:.4g} test, kl {r.kl:.4g} ({r.seeds} seeds)"
        for r in info.itertuples()
    ]
    syre, vanilla = info[info["method"] == "syre"], info[info["method"] == "vanilla"]
    common = sorted(set(syre["beta"]) & set(vanilla["beta"]))
    if common:
        beta = common[-1]
        best = syre.loc[syre["beta"] == beta, "rank"].max()
        base = vanilla.loc[vanilla["beta"] == beta, "rank"].max()
        verdict = "yes" if best > base else "no"
        lines.append(f"syre's encoder rank above vanilla's at β={beta:g}: {verdict} ({best:.4g} vs {base:.4g})")
    return lines
