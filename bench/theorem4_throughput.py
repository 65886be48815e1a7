"""Throughput of the Theorem 4 smoke study through ``syre-tune run``, in optimisations per minute,
against one Ray trial per optimisation, measured in the same run.

    python bench/theorem4_throughput.py [--baseline-seeds 16]

Both arms go through the real command line on an embedded local Ray:

- batched: ``studies/theorem4.yaml --smoke`` as shipped (all seeds of a point in one vectorised
  trial);
- one trial per optimisation: the same study with ``seeds_per_trial: 1`` and fewer seeds (every
  trial then costs Ray's per-trial overhead for a single optimisation).

An optimisation is one (configuration, seed) trained to its minimum. Two rates are printed: over
the whole command (Ray start-up included) and over ``Tuner.fit`` alone (``wall_s`` in
provenance.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.dataset as pads
import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_study(study: Path, storage: Path, name: str) -> dict[str, float]:
    command = [sys.executable, "-m", "syre_tune.cli", "run", str(study), "--storage", str(storage), "--name", name]
    command += ["--no-analyze"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    total = time.perf_counter() - start
    folder = storage / name
    rows = pads.dataset(folder / "results").to_table(columns=["trial_id", "seed"]).to_pandas()
    optimisations = len(rows.drop_duplicates())
    fit = json.loads((folder / "provenance.json").read_text())["wall_s"]
    return {
        "optimisations": optimisations,
        "trials": rows["trial_id"].nunique(),
        "command_s": total,
        "fit_s": fit,
        "per_min_command": optimisations / total * 60,
        "per_min_fit": optimisations / fit * 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-seeds", type=int, default=16, help="seeds per point in the one-per-trial arm")
    args = parser.parse_args()
    shipped = yaml.safe_load((ROOT / "studies/theorem4.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        smoke = {**shipped, **shipped["smoke"]}
        smoke.pop("smoke")
        batched_file = tmp / "batched.yaml"
        batched_file.write_text(yaml.safe_dump(smoke))
        single = {**smoke, "seeds": args.baseline_seeds, "seeds_per_trial": 1}
        single_file = tmp / "single.yaml"
        single_file.write_text(yaml.safe_dump(single))
        batched = run_study(batched_file, tmp / "storage", "batched")
        one = run_study(single_file, tmp / "storage", "single")
    print("| arm | trials | optimisations | command s | fit s | optim/min (command) | optim/min (fit) |")
    print("|---|---|---|---|---|---|---|")
    for label, r in (("batched (shipped smoke)", batched), ("one trial per optimisation", one)):
        print(
            f"| {label} | {r['trials']} | {r['optimisations']} | {r['command_s']:.1f} | {r['fit_s']:.1f} | "
            f"{r['per_min_command']:.0f} | {r['per_min_fit']:.0f} |"
        )
    print(f"speed-up (command): {batched['per_min_command'] / one['per_min_command']:.0f}x")
    print(f"speed-up (fit):     {batched['per_min_fit'] / one['per_min_fit']:.0f}x   (target: >= 100x)")


if __name__ == "__main__":
    main()
