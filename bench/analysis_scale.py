"""Load and draw the Theorem 4 figure from a one-million-row results dataset, timed.

    python bench/analysis_scale.py [--rows 1000000] [--out DIR] [--keep] [--repeat 2]

Generates (untimed) a Theorem 4 study folder in the exact schema the runner writes
(``results.schema_for(config_fields(theorem4.Config), theorem4.METRICS)``), shaped like
``studies/theorem4.yaml``: 7 values of N × 26 log-spaced σ0, method syre, γ = 0.1, ε = 0.01,
one row per (trial, seed) at the final iteration, one ``part-<trial_id>.parquet`` per trial of
``--seeds-per-trial`` seeds, as many seeds per point as it takes to reach ``--rows``, and a
``provenance.json`` beside ``results/``. ``min_abs_delta`` is min over the N symmetries of
4γ|N(0, σ0²)|, which matches the benchmark's own values (checked against ``theorem4.run``).

Then it times, in fresh processes (so Python start-up and imports count, as for a user):

- ``syre-tune analyze <study>``: the whole command, wall clock (the figure's PNG + PDF and the CSVs);
- the same ``analyze`` call in a child that times its steps: import, read, theorem4_info,
  thresholds, draw + save.

Target: under 10 s for the whole command on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 10.0
STUDY = "theorem4_scale"
N_GRID = (1, 2, 4, 8, 16, 32, 64)
SIGMA0 = (1.0e-3, 100.0, 26)  # logspace, as in studies/theorem4.yaml
GAMMA, EPSILON = 0.1, 0.01


def generate(out: Path, rows: int, seeds_per_trial: int = 1000, seed: int = 0) -> Path:
    """Write the study folder ``out/STUDY`` with exactly ``rows`` rows; return it."""
    import numpy as np
    import pyarrow as pa

    from syre_tune import results
    from syre_tune.benchmarks import theorem4
    from syre_tune.benchmarks._common import config_fields

    schema = results.schema_for(config_fields(theorem4.Config), theorem4.METRICS)
    study_dir = out / STUDY
    if study_dir.exists():
        shutil.rmtree(study_dir)
    (study_dir / "results").mkdir(parents=True)
    sigma0s = np.logspace(np.log10(SIGMA0[0]), np.log10(SIGMA0[1]), SIGMA0[2])
    points = [(n, float(s)) for n in N_GRID for s in sigma0s]
    # Seeds 0..S-1 at every point (the first rows % points get one more), cut into trials of
    # seeds_per_trial like the runner's seed_blocks.
    per_point, extra = divmod(rows, len(points))
    trials = []
    for index, (n, sigma0) in enumerate(points):
        seeds = per_point + (index < extra)
        trials += [(n, sigma0, range(s, min(s + seeds_per_trial, seeds))) for s in range(0, seeds, seeds_per_trial)]
    rng = np.random.default_rng(seed)
    defaults = theorem4.Config(method="syre", gamma=GAMMA, epsilon=EPSILON)
    for index, (n, sigma0, seeds) in enumerate(trials):
        size = len(seeds)
        trial_id = f"{seed:05x}_{index:05d}"
        delta = (4.0 * GAMMA * np.abs(rng.normal(0.0, sigma0, (size, n)))).min(axis=1)
        grad_norm = np.exp(rng.normal(np.log(2e-15), 0.5, size))
        values = {
            "study": STUDY,
            "trial_id": trial_id,
            "benchmark": theorem4.NAME,
            "method": "syre",
            "sigma0": sigma0,
            "sigma_d": 0.0,
            "gamma": GAMMA,
            "seed": np.asarray(seeds, dtype=np.int64),
            "iteration": defaults.steps,
            "time_s": float(rng.uniform(0.5, 3.0)),
            "status": "ok",  # if the schema has it (results.STATUSES); "error" stays null
            "config.n_symmetries": n,
            "metric.min_abs_delta": delta,
            "metric.grad_norm": grad_norm,
        }
        columns = []
        for field in schema:
            if field.name in values:
                value = values[field.name]
            elif field.name.startswith("config."):
                value = getattr(defaults, field.name[7:])
            else:  # a column added to the schema since this was written: null, as for an unused knob
                value = None
            if isinstance(value, np.ndarray):
                columns.append(pa.array(value, type=field.type))
            else:
                columns.append(pa.array([value] * size, type=field.type))
        table = pa.Table.from_arrays(columns, schema=schema)
        results.write_table_atomic(table, study_dir / "results" / f"part-{trial_id}.parquet")
    results.write_json_atomic(
        {"study": STUDY, "benchmark": theorem4.NAME, "generated_by": "bench/analysis_scale.py", "rows": rows},
        study_dir / "provenance.json",
    )
    return study_dir


def _command() -> list[str]:
    script = Path(sys.executable).parent / "syre-tune"
    return [str(script)] if script.exists() else [sys.executable, "-m", "syre_tune.cli"]


def time_command(study_dir: Path) -> float:
    """Wall time of ``syre-tune analyze study_dir`` in a fresh process."""
    start = time.perf_counter()
    subprocess.run([*_command(), "analyze", str(study_dir)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def breakdown(study_dir: Path) -> dict[str, float]:
    """Run ``analysis.analyze`` in this (fresh) process with its steps wrapped in timers."""
    start = time.perf_counter()
    from syre_tune import analysis, results
    from syre_tune.analysis.figures import theorem4 as figure

    times = {"import": time.perf_counter() - start}

    def timed(owner: object, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                times[label] = times.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, wrapper)

    timed(results, "read", "read")
    timed(figure, "theorem4_info", "theorem4_info")
    timed(figure, "theorem4_thresholds", "thresholds")
    timed(figure, "draw_theorem4", "draw")
    timed(figure, "save_figure", "save")
    t0 = time.perf_counter()
    analysis.analyze(study_dir)
    times["analyze"] = time.perf_counter() - t0
    times["in_process"] = time.perf_counter() - start
    return times


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the generated dataset")
    parser.add_argument("--out", type=Path, help="where the study folder goes (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated study (default: delete it)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of the command (default: 2)")
    parser.add_argument("--seeds-per-trial", type=int, default=1000, help="rows per part file (default: 1000)")
    parser.add_argument("--breakdown-of", type=Path, help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args()
    if args.breakdown_of:
        print(json.dumps(breakdown(args.breakdown_of)))
        return

    out = args.out or Path(tempfile.mkdtemp(prefix="syre_analysis_scale_"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        study_dir = generate(out, args.rows, args.seeds_per_trial)
        generate_s = time.perf_counter() - t0
        from syre_tune import results

        counted, read = results.count_rows(study_dir), len(results.read(study_dir, columns=["seed"]))
        if counted != args.rows or read != args.rows:
            raise SystemExit(f"generated {counted} rows (footers) / {read} (read), expected {args.rows}")
        parts = len(list((study_dir / "results").glob("part-*.parquet")))
        print(f"dataset: {study_dir}  {args.rows:,} rows in {parts} part files, {_size(study_dir) / 2**20:.1f} MiB")
        print(f"generated in {generate_s:.1f} s (not timed); {os.cpu_count()} CPUs\n")

        totals = [time_command(study_dir) for _ in range(args.repeat)]
        child = subprocess.run(
            [sys.executable, __file__, "--breakdown-of", str(study_dir)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        steps = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"| `{' '.join(Path(c).name for c in _command())} analyze` | seconds |")
        print("|---|---|")
        for i, total in enumerate(totals, 1):
            print(f"| total, run {i} (process start, imports, load, draw, save) | {total:.2f} |")
        print("| breakdown (one more run, in process): |  |")
        for key, label in (
            ("import", "import syre_tune.analysis"),
            ("read", "results.read"),
            ("theorem4_info", "theorem4_info"),
            ("thresholds", "theorem4_thresholds"),
            ("draw", "draw_theorem4 (imports seaborn)"),
            ("save", "save PNG + PDF"),
            ("analyze", "analyze() in all"),
        ):
            print(f"| &nbsp; {label} | {steps.get(key, float('nan')):.2f} |")
        worst = max(totals)
        verdict = "PASS" if worst < TARGET_S else "FAIL"
        print(f"\n{verdict}: worst total {worst:.2f} s vs target {TARGET_S:.0f} s ({args.rows:,} rows)")
        print(f"figure: {study_dir / 'figures' / 'theorem4.png'}" + ("" if args.keep else " (deleted: pass --keep)"))
    finally:
        if not args.keep:
            shutil.rmtree(out / STUDY, ignore_errors=True)
            if not args.out:
                shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
