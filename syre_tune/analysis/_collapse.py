"""The headline both collapse sweeps share (fcn_collapse's Fig. 5, vit_cifar's Fig. 12): syre against
a reference method where the figure collapses, the largest γ and the smallest input scale α, and at
how many shared (γ, α) points syre keeps the higher rank. A data step (pure pandas) on the tidy
tables of those figure modules: one row per (sweep, x, γ, input_scale, method) with ``rank``,
``test_accuracy`` and ``seeds``."""

from __future__ import annotations

import pandas as pd

__all__ = ["collapse_headline", "seeds_text"]


def seeds_text(counts: pd.Series) -> str:
    """``3 seeds each``, or ``2 to 3 seeds`` where the points differ."""
    low, high = int(counts.min()), int(counts.max())
    return f"{low} seeds each" if low == high else f"{low} to {high} seeds"


def collapse_headline(info: pd.DataFrame, reference: str, layer: str) -> list[str]:
    """Syre against ``reference`` at the largest γ of the γ sweep and the smallest α of the α sweep
    (those both ran), and at how many of their shared (γ, α) points syre's ``layer`` rank
    ("first-layer", "last-layer") is the higher; empty when they share no point."""
    syre, other = info[info["method"] == "syre"], info[info["method"] == reference]
    shared = syre.merge(other, on=["sweep", "x", "gamma", "input_scale"], suffixes=("_syre", "_other"))
    if shared.empty:
        return []
    lines = []
    for sweep, pick in (("gamma", "idxmax"), ("input_scale", "idxmin")):
        part = shared[shared["sweep"] == sweep]
        if part.empty:
            continue
        r = part.loc[getattr(part["x"], pick)()]
        where = (
            f"the largest γ = {r.gamma:g} (α = {r.input_scale:g})"
            if sweep == "gamma"
            else f"the smallest α = {r.input_scale:g} (γ = {r.gamma:g})"
        )
        lines.append(
            f"at {where}: {layer} rank syre {r.rank_syre:.4g} vs {reference} {r.rank_other:.4g}, "
            f"test accuracy {r.test_accuracy_syre:.3g} vs {r.test_accuracy_other:.3g}"
        )
    points = shared.drop_duplicates(["gamma", "input_scale"])
    higher = int((points["rank_syre"] > points["rank_other"]).sum())
    seeds = seeds_text(pd.concat([points["seeds_syre"], points["seeds_other"]]))
    lines.append(
        f"syre keeps a higher {layer} rank than {reference} at {higher} of {len(points)} (γ, α) points "
        f"both ran ({seeds})"
    )
    return lines
