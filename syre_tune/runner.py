"""The one module that knows Ray Tune's API (it changes between Ray releases).

It adapts a benchmark's ``run(cfg, report)`` into a Tune function trainable, submits a study's
trials through ``ray.tune.Tuner``, and has every trial write its rows to the study's Parquet
dataset (through :mod:`syre_tune.results`) while it reports per-iteration means to Tune for the
progress display, the search and schedulers.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from syre_tune import __version__, benchmarks, results
from syre_tune.benchmarks import METHOD_KNOBS
from syre_tune.benchmarks._common import config_fields
from syre_tune.study import Study

__all__ = ["RunError", "RunSummary", "run_study", "shutdown"]


class RunError(RuntimeError):
    """Ray could not be started or reached: a user-facing, one-line message."""


@dataclass(frozen=True)
class TrialPlan:
    """What every trial needs besides its own config; shipped once through Ray's object store."""

    study: str
    benchmark: str
    fixed: dict[str, Any]
    sampled_keys: tuple[str, ...]
    seed_blocks: tuple[tuple[int, ...], ...]
    results_path: str
    schema: pa.Schema
    want_gpu: bool


@dataclass(frozen=True)
class RunSummary:
    study: str
    study_dir: Path
    trials: int
    errored: tuple[str, ...]
    rows: int
    wall_s: float
    best: dict[str, Any] | None


def _identity(plan: TrialPlan, trial_id: str, cfg: Any) -> dict[str, Any]:
    used = METHOD_KNOBS.get(cfg.method, ())
    identity = {"study": plan.study, "trial_id": trial_id, "benchmark": plan.benchmark, "method": cfg.method}
    for knob in results.KNOBS:
        identity[knob] = getattr(cfg, knob) if knob in used else None
    return identity


def _trainable(config: dict[str, Any], plan: TrialPlan) -> None:
    """Tune function trainable: build the typed config, run the benchmark, write the rows."""
    import torch
    from ray import tune

    trial_id = tune.get_context().get_trial_id() or "local"
    device = "cuda" if plan.want_gpu and torch.cuda.is_available() else "cpu"
    point = {key: value for key, value in config["point"].items() if value is not None}
    values = {**plan.fixed, **point, **{k: config[k] for k in plan.sampled_keys}}
    bench = benchmarks.get(plan.benchmark)
    seeds = plan.seed_blocks[config["seed_block"]]
    cfg = bench.make_config({**values, "seeds": seeds, "device": device})
    cfg_values = {name: getattr(cfg, name) for name in cfg.__dataclass_fields__}
    rows = results.RowBuffer(plan.schema, _identity(plan, trial_id, cfg), cfg_values)
    start = time.perf_counter()

    def report(iteration: int, metrics: dict[str, Any]) -> None:
        means = rows.add(iteration, time.perf_counter() - start, cfg.seeds, metrics)
        tune.report({"step": iteration, **means})

    bench.run(cfg, report)
    results.write_table_atomic(rows.to_table(), Path(plan.results_path) / f"part-{trial_id}.parquet")


def _ensure_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic table honours our columns
    kwargs: dict[str, Any] = {
        "include_dashboard": False,  # nothing listens beyond what Ray itself needs
        "logging_level": logging.WARNING,
        "log_to_driver": True,
        "configure_logging": True,
    }
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise RunError(f"cannot start or reach {where}: {first}") from None


def shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _point_keys(study: Study) -> list[str]:
    return sorted({key for point in study.points for key in point})


def _search_space(study: Study) -> dict[str, Any]:
    from ray import tune

    space: dict[str, Any] = {
        # Variants vary different keys; pad each point to the same keys (None: not set here)
        # so that the progress table can show every column.
        "point": tune.grid_search([{key: point.get(key) for key in _point_keys(study)} for point in study.points]),
        "seed_block": tune.grid_search(list(range(len(study.seed_blocks)))),
    }
    for axis in study.sampled:
        if axis.kind == "uniform":
            space[axis.key] = tune.uniform(axis.low, axis.high)
        elif axis.kind == "loguniform":
            space[axis.key] = tune.loguniform(axis.low, axis.high)
        else:
            space[axis.key] = tune.choice(list(axis.values))
    return space


def _progress_reporter(study: Study) -> Any:
    """A trial table showing the swept values by name (not the nested config dicts)."""
    from ray.tune import CLIReporter

    swept = sorted({key for point in study.points for key in point if len({str(p.get(key)) for p in study.points}) > 1})
    columns = {f"point/{key}": key for key in swept}
    columns.update({axis.key: axis.key for axis in study.sampled})
    if len(study.seed_blocks) > 1:
        columns["seed_block"] = "seed_block"
    return CLIReporter(
        parameter_columns=columns,
        metric_columns={"step": "step", study.metric: f"mean {study.metric}"},
        max_report_frequency=15,
        sort_by_metric=False,
    )


def _provenance(study: Study, started: str) -> dict[str, Any]:
    import ray
    import torch

    return {
        "study": study.name,
        "benchmark": study.benchmark,
        "source": str(study.source),
        "syre_tune": __version__,
        "ray": ray.__version__,
        "torch": torch.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": sys.argv,
        "trials_planned": study.num_trials,
        "started": started,
    }


def run_study(study: Study, study_dir: Path, *, address: str | None = None, verbose: int = 1) -> RunSummary:
    """Run every trial of ``study`` through Ray Tune; rows land in ``study_dir/results``."""
    import yaml
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    _ensure_ray(address)
    bench = benchmarks.get(study.benchmark)
    study_dir = study_dir.resolve()
    results_path = study_dir / "results"
    results_path.mkdir(parents=True, exist_ok=True)
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    provenance = _provenance(study, started)
    results.write_text_atomic(yaml.safe_dump(study.spec, sort_keys=False), study_dir / "study.yaml")
    results.write_json_atomic(provenance, study_dir / "provenance.json")

    plan = TrialPlan(
        study=study.name,
        benchmark=study.benchmark,
        fixed=dict(study.fixed),
        sampled_keys=tuple(axis.key for axis in study.sampled),
        seed_blocks=tuple(study.seed_blocks),
        results_path=str(results_path),
        schema=results.schema_for(config_fields(bench.config_cls), bench.metrics),
        want_gpu=study.resources.gpu > 0,
    )
    trainable = tune.with_resources(
        tune.with_parameters(_trainable, plan=plan), {"cpu": study.resources.cpu, "gpu": study.resources.gpu}
    )
    tuner = tune.Tuner(
        trainable,
        param_space=_search_space(study),
        tune_config=tune.TuneConfig(
            metric=study.metric,
            mode=study.mode,
            num_samples=study.num_samples,
            # seeded, so that a random search draws the same configurations every time
            search_alg=BasicVariantGenerator(random_state=study.search_seed),
            max_concurrent_trials=study.max_concurrent or None,
            reuse_actors=True,  # one worker process runs many trials: torch is imported once
        ),
        run_config=tune.RunConfig(
            name="tune",
            storage_path=str(study_dir),
            verbose=verbose,
            progress_reporter=_progress_reporter(study),
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )
    start = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - start
    # A trial that failed before its first report has no metrics: name it by its folder instead.
    errored = tuple(sorted((r.metrics or {}).get("trial_id") or Path(r.path).name for r in grid if r.error))
    best = None
    try:
        best_result = grid.get_best_result()
        best = {"config": best_result.config, study.metric: best_result.metrics.get(study.metric)}
    except RuntimeError:
        pass
    rows = results.count_rows(study_dir)
    provenance.update(
        finished=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        wall_s=round(wall, 2),
        trials=len(grid),
        errored=list(errored),
        rows=rows,
    )
    results.write_json_atomic(provenance, study_dir / "provenance.json")
    return RunSummary(study.name, study_dir, len(grid), errored, rows, wall, best)
