"""A study's size before it runs: trials, seeds, rows, the Parquet it will write and the memory
one trial needs (``syre-tune run --dry-run``, and the runner's refusal of a trial no node can hold).

Rows and memory come from the benchmark where it says (its ``reports(cfg)`` and
``trial_memory(cfg)``); the Parquet size from a sample chunk of the study's own schema, with
random metric values, written in memory (random values compress less than measured ones: an
upper estimate). Nothing here starts Ray or writes a file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from syre_tune import benchmarks, results
from syre_tune.benchmarks._common import config_fields
from syre_tune.study import Study

__all__ = ["Estimate", "describe", "estimate", "machine_memory", "planned_rows", "size", "trial_memory"]


@dataclass(frozen=True)
class Estimate:
    study: str
    trials: int
    seeds: int
    seeds_per_trial: int
    rows: int | None
    """None where the benchmark does not say how often it reports."""
    parquet_bytes: int | None
    trial_memory: int | None
    """Bytes the largest trial needs (its seeds together); None where the benchmark does not estimate it."""


def _configs(study: Study) -> list[tuple[object, int]]:
    """Each grid point's typed config (with the largest seed block), and its trials."""
    bench = benchmarks.get(study.benchmark)
    block = max(study.seed_blocks, key=len)
    sampled = {axis.key: axis.values[0] if axis.values else axis.low for axis in study.sampled}
    samples = study.num_samples if study.search != "optuna" else 1
    points = study.points[:1] if study.search == "optuna" else study.points
    per_point = len(study.seed_blocks) * samples if study.search != "optuna" else study.num_samples
    return [(bench.make_config({**study.fixed, **point, **sampled, "seeds": block}), per_point) for point in points]


def _chunk_bytes(study: Study, cfg: object, reports: int) -> int:
    """Bytes of one part file: ``checkpoint_every`` reports (at most ``reports``) of one trial."""
    bench = benchmarks.get(study.benchmark)
    schema = results.schema_for(config_fields(bench.config_cls), bench.metrics)
    values = {name: getattr(cfg, name) for name in cfg.__dataclass_fields__}
    identity = {"study": study.name, "trial_id": "00000_00000", "benchmark": study.benchmark, "method": cfg.method}
    rows = results.RowBuffer(schema, identity, values)
    draw = np.random.default_rng(0)
    for report in range(max(1, min(study.checkpoint_every, reports))):
        metrics = {name: draw.standard_normal(len(cfg.seeds)) for name in bench.metrics}
        rows.add(report, float(report), cfg.seeds, metrics)
    sink = pa.BufferOutputStream()
    pq.write_table(rows.take(), sink)
    return sink.getvalue().size


def trial_memory(study: Study) -> int | None:
    """Bytes the study's largest trial needs, where its benchmark estimates it (else None)."""
    bench = benchmarks.get(study.benchmark)
    needs = [bench.trial_memory(cfg) for cfg, _ in _configs(study)]
    return None if None in needs else max(needs)


def _seed_scale(study: Study) -> float:
    """Trials of smaller seed blocks than the largest (which :func:`_configs` uses): the fraction of
    the seeds they run."""
    return len(study.seeds) / (len(study.seed_blocks) * max(map(len, study.seed_blocks)))


def _config_rows(bench: object, cfg: object, trials: int) -> int | None:
    """The rows ``trials`` trials of one grid point write; None where the benchmark does not say."""
    reports = bench.reports(cfg)
    return None if reports is None else reports * len(cfg.seeds) * trials


def planned_rows(study: Study) -> int | None:
    """The rows the whole study writes when every trial runs to its end (no early stopping); None
    where the benchmark does not say how often it reports. The live display's estimate of time left."""
    bench = benchmarks.get(study.benchmark)
    counts = [_config_rows(bench, cfg, trials) for cfg, trials in _configs(study)]
    return None if None in counts else round(sum(counts) * _seed_scale(study))


def estimate(study: Study) -> Estimate:
    bench = benchmarks.get(study.benchmark)
    rows: int | None = 0
    parquet: int | None = 0
    memory: int | None = 0
    for cfg, trials in _configs(study):  # once: a grid may have 100,000 points
        reports = bench.reports(cfg)
        count = _config_rows(bench, cfg, trials)
        if count is None or rows is None:
            rows = parquet = None
        else:
            rows += count
            chunks = math.ceil(reports / study.checkpoint_every)
            parquet += chunks * trials * _chunk_bytes(study, cfg, reports)
        needed = bench.trial_memory(cfg)
        memory = None if needed is None or memory is None else max(memory, needed)
    if rows is not None:
        rows, parquet = round(rows * _seed_scale(study)), round(parquet * _seed_scale(study))
    return Estimate(study.name, study.num_trials, len(study.seeds), study.seeds_per_trial, rows, parquet, memory)


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError


def describe(found: Estimate) -> list[str]:
    """The lines ``--dry-run`` prints for one study."""
    if found.rows is None:
        rows = "rows: unknown, Parquet: unknown (the benchmark does not say how often it reports)"
    else:
        rows = f"rows: {found.rows:,}; Parquet: about {size(found.parquet_bytes)}"
    memory = "unknown (the benchmark does not estimate it)"
    if found.trial_memory is not None:
        memory = f"about {size(found.trial_memory)}"
    return [
        f"{found.study}: {found.trials:,} trials, {found.seeds:,} seeds ({found.seeds_per_trial:,} per trial)",
        f"  {rows}",
        f"  memory per trial: {memory} (this machine: {size(machine_memory())})",
    ]
