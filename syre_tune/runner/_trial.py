"""The worker side of a trial: a benchmark's ``run(cfg, report, resume)`` adapted to a Tune
function trainable.

A trial builds its typed config from its Tune config, writes its rows in chunks
(``part-<trial>-<chunk>.parquet``, :func:`syre_tune.layout.part_file`) and checkpoints right after
each chunk it writes. The checkpoint format, one folder per checkpoint:

    state.pt         the benchmark's state as tensors (loaded with ``weights_only=True``)
    progress.json    {"chunk": the next chunk number, "reports": reports so far, "iteration": the last}
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from syre_tune import benchmarks, layout, results
from syre_tune.benchmarks import METHOD_KNOBS, unused_knobs
from syre_tune.benchmarks._common import config_fields
from syre_tune.results import Location
from syre_tune.study import Study

STATE_FILE = "state.pt"
PROGRESS_FILE = "progress.json"
SETTINGS = "_settings"
"""The key, inside a Tune config's ``point``, of the trial's settings label (for the progress
table only: not a config value; no benchmark config field starts with ``_``)."""


@dataclass(frozen=True)
class TrialPlan:
    """What every trial needs besides its own config; shipped once through Ray's object store."""

    study: str
    benchmark: str
    fixed: dict[str, Any]
    sampled_keys: tuple[str, ...]
    seed_blocks: tuple[tuple[int, ...], ...]
    results: Location
    schema: pa.Schema
    loss: str
    checkpoint_every: int
    threads: int
    """torch threads of a trial: its CPUs (trials on one node would otherwise fight over the cores)."""
    flush_every_report: bool
    """Write the rows before every report (a scheduler may stop the trial at any report)."""
    metrics: tuple[str, ...] = ()
    """What a trial reports to Tune besides its step: the study's objectives (every metric is in
    the rows; Tune keeps running statistics of each key it gets, per trial, until the run ends)."""

    def seeds_of(self, trial: Any) -> int:
        """The number of seeds a Tune trial runs (one row per seed and report)."""
        return len(self.seed_blocks[trial.config.get("seed_block", 0)])


def plan_for(study: Study, study_dir: Location) -> TrialPlan:
    bench = benchmarks.get(study.benchmark)
    return TrialPlan(
        study=study.name,
        benchmark=study.benchmark,
        fixed=dict(study.fixed),
        sampled_keys=tuple(axis.key for axis in study.sampled),
        seed_blocks=tuple(study.seed_blocks),
        results=study_dir / layout.RESULTS_DIR,
        schema=results.schema_for(config_fields(bench.config_cls), bench.metrics),
        loss=bench.loss,
        checkpoint_every=study.checkpoint_every,
        threads=max(1, int(study.resources.cpu)),
        flush_every_report=study.scheduler is not None,
        metrics=tuple(study.metrics),
    )


class _Diverged(Exception):
    """Raised through the benchmark when a seed's loss turned NaN/inf: the trial stops there."""


def _identity(plan: TrialPlan, trial_id: str, cfg: Any) -> dict[str, Any]:
    used = METHOD_KNOBS.get(cfg.method, ())
    identity = {"study": plan.study, "trial_id": trial_id, "benchmark": plan.benchmark, "method": cfg.method}
    for knob in results.KNOBS:
        identity[knob] = getattr(cfg, knob) if knob in used else None
    return identity


def row_buffer(plan: TrialPlan, trial_id: str, config: dict[str, Any], device: str) -> tuple[Any, Any, Any]:
    """The benchmark, its typed config and an empty row buffer for one trial's Tune config."""
    # neither the settings label nor a None (earlier versions padded the points with them: such
    # an experiment may still be resumed)
    point = {key: value for key, value in config["point"].items() if key != SETTINGS and value is not None}
    values = {**plan.fixed, **point, **{k: config[k] for k in plan.sampled_keys}}
    bench = benchmarks.get(plan.benchmark)
    seeds = plan.seed_blocks[config["seed_block"]]
    cfg = bench.make_config({**values, "seeds": seeds, "device": device})
    unused = unused_knobs(cfg.method)  # null, as the README says: not a setting it used
    cfg_values = {name: None if name in unused else getattr(cfg, name) for name in cfg.__dataclass_fields__}
    rows = results.RowBuffer(plan.schema, _identity(plan, trial_id, cfg), cfg_values, loss=plan.loss)
    return bench, cfg, rows


def part(plan: TrialPlan, trial_id: str, chunk: int | str) -> Location:
    """Where a trial's chunk (a number) or its ``error`` / ``stopped`` marker rows go."""
    return plan.results / layout.part_file(trial_id, chunk)


def _device() -> str:
    """cuda when Ray gave this trial a GPU (it sets CUDA_VISIBLE_DEVICES), else cpu."""
    import ray
    import torch

    if ray.get_gpu_ids():
        if torch.cuda.is_available():
            return "cuda"
        print("[syre-tune] Ray assigned a GPU but torch sees no CUDA device: running on cpu", file=sys.stderr)
    return "cpu"


def trainable(config: dict[str, Any], plan: TrialPlan) -> None:
    """Tune function trainable: build the typed config, run (or resume) the benchmark, write rows."""
    import torch
    from ray import tune

    logging.getLogger("ray.train").setLevel(logging.WARNING)  # not a line per checkpoint
    trial_id = tune.get_context().get_trial_id() or "local"
    torch.set_num_threads(plan.threads)
    device = _device()
    bench, cfg, rows = row_buffer(plan, trial_id, config, device)
    resume, chunk, reports = None, 0, 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            progress = json.loads((Path(folder) / PROGRESS_FILE).read_text())
            chunk, reports = progress["chunk"], progress["reports"]
            resume = torch.load(Path(folder) / STATE_FILE, map_location=device, weights_only=True)
    start = time.perf_counter()

    def flush() -> None:
        nonlocal chunk
        if len(rows):
            results.write_table_atomic(rows.take(), part(plan, trial_id, chunk))
            chunk += 1

    def report(iteration: int, metrics: dict[str, Any], state: Any = None) -> None:
        nonlocal reports
        means = rows.add(iteration, time.perf_counter() - start, cfg.seeds, metrics)
        reports += 1
        save = state is not None and (rows.diverged or reports % plan.checkpoint_every == 0)
        if save or rows.diverged or plan.flush_every_report:
            flush()  # the rows first: a checkpoint never claims rows that are not written
        payload = {"step": iteration, **{name: means[name] for name in plan.metrics}}
        if save:
            with tempfile.TemporaryDirectory() as folder:
                torch.save(state() if callable(state) else state, Path(folder) / STATE_FILE)
                progress = {"chunk": chunk, "reports": reports, "iteration": iteration}
                (Path(folder) / PROGRESS_FILE).write_text(json.dumps(progress))
                tune.report(payload, checkpoint=tune.Checkpoint.from_directory(folder))
        else:
            tune.report(payload)
        if rows.diverged:
            raise _Diverged

    try:
        bench.run(cfg, report, resume=resume)
    except _Diverged:
        return  # a finished trial, not a failure: Ray does not retry it
    flush()
