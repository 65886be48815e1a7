"""The one module that knows Ray Tune's API (it changes between Ray releases).

It adapts a benchmark's ``run(cfg, report, resume)`` into a Tune function trainable, submits a
study's trials through ``ray.tune.Tuner`` (grid / random search, Optuna through ``OptunaSearch``,
ASHA early stopping), and has every trial write its rows to the study's Parquet dataset (through
:mod:`syre_tune.results`) while it reports per-iteration means to Tune.

Exactly once, whatever crashes: a trial writes its rows in chunks, ``part-<trial>-<chunk>.parquet``,
each just before the checkpoint (``tune.Checkpoint``: the benchmark's state as tensors, loaded with
``weights_only=True``) that records it. A retried or resumed trial continues from its last
checkpoint and rewrites any later chunk under the same name with the same rows, so the dataset
never has a gap or a duplicate. Retries come from Ray (``FailureConfig``), resumption from
``Tuner.restore``; a Tune callback records failed trials as ``error`` rows and keeps
``status.json`` (what ``syre-tune status`` shows) current.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from syre_tune import __version__, benchmarks, results
from syre_tune.benchmarks import METHOD_KNOBS
from syre_tune.benchmarks._common import config_fields
from syre_tune.results import Location
from syre_tune.study import Study

__all__ = ["RunError", "RunSummary", "can_resume", "resume_study", "run_study", "shutdown"]

TUNE_DIR = "tune"  # Tune's experiment folder inside a study folder


class RunError(RuntimeError):
    """Ray could not be started or reached, or cannot run the study: a user-facing, one-line message."""


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
    flush_every_report: bool
    """Write the rows before every report (a scheduler may stop the trial at any report)."""


@dataclass(frozen=True)
class RunSummary:
    study: str
    study_dir: Location
    trials: int
    errored: tuple[str, ...]
    diverged: tuple[str, ...]
    stopped: tuple[str, ...]
    rows: int
    wall_s: float
    best: dict[str, Any] | None


class _Diverged(Exception):
    """Raised through the benchmark when a seed's loss turned NaN/inf: the trial stops there."""


def _identity(plan: TrialPlan, trial_id: str, cfg: Any) -> dict[str, Any]:
    used = METHOD_KNOBS.get(cfg.method, ())
    identity = {"study": plan.study, "trial_id": trial_id, "benchmark": plan.benchmark, "method": cfg.method}
    for knob in results.KNOBS:
        identity[knob] = getattr(cfg, knob) if knob in used else None
    return identity


def _row_buffer(plan: TrialPlan, trial_id: str, config: dict[str, Any], device: str) -> tuple[Any, Any, Any]:
    """The benchmark, its typed config and an empty row buffer for one trial's Tune config."""
    point = {key: value for key, value in config["point"].items() if value is not None}
    values = {**plan.fixed, **point, **{k: config[k] for k in plan.sampled_keys}}
    bench = benchmarks.get(plan.benchmark)
    seeds = plan.seed_blocks[config["seed_block"]]
    cfg = bench.make_config({**values, "seeds": seeds, "device": device})
    cfg_values = {name: getattr(cfg, name) for name in cfg.__dataclass_fields__}
    rows = results.RowBuffer(plan.schema, _identity(plan, trial_id, cfg), cfg_values, loss=plan.loss)
    return bench, cfg, rows


def _part(plan: TrialPlan, trial_id: str, chunk: int | str) -> Location:
    """``part-<trial>-<chunk>.parquet``: a chunk number, or ``error`` / ``stopped`` for markers."""
    name = f"{chunk:05d}" if isinstance(chunk, int) else chunk
    return plan.results / f"part-{trial_id}-{name}.parquet"


def _trial_of(part_name: str) -> str:
    """The trial id in a :func:`_part` file name."""
    return part_name[len("part-") :].rsplit("-", 1)[0]


def _device() -> str:
    """cuda when Ray gave this trial a GPU (it sets CUDA_VISIBLE_DEVICES), else cpu."""
    import ray
    import torch

    if ray.get_gpu_ids():
        if torch.cuda.is_available():
            return "cuda"
        print("[syre-tune] Ray assigned a GPU but torch sees no CUDA device: running on cpu", file=sys.stderr)
    return "cpu"


def _trainable(config: dict[str, Any], plan: TrialPlan) -> None:
    """Tune function trainable: build the typed config, run (or resume) the benchmark, write rows."""
    import torch
    from ray import tune

    logging.getLogger("ray.train").setLevel(logging.WARNING)  # not a line per checkpoint
    trial_id = tune.get_context().get_trial_id() or "local"
    device = _device()
    bench, cfg, rows = _row_buffer(plan, trial_id, config, device)
    resume, chunk, reports = None, 0, 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            progress = json.loads((Path(folder) / "progress.json").read_text())
            chunk, reports = progress["chunk"], progress["reports"]
            resume = torch.load(Path(folder) / "state.pt", map_location=device, weights_only=True)
    start = time.perf_counter()

    def flush() -> None:
        nonlocal chunk
        if len(rows):
            results.write_table_atomic(rows.take(), _part(plan, trial_id, chunk))
            chunk += 1

    def report(iteration: int, metrics: dict[str, Any], state: Any = None) -> None:
        nonlocal reports
        means = rows.add(iteration, time.perf_counter() - start, cfg.seeds, metrics)
        reports += 1
        save = state is not None and (rows.diverged or reports % plan.checkpoint_every == 0)
        if save or rows.diverged or plan.flush_every_report:
            flush()  # the rows first: a checkpoint never claims rows that are not written
        payload = {"step": iteration, **means, "diverged": rows.diverged}
        if save:
            with tempfile.TemporaryDirectory() as folder:
                torch.save(state() if callable(state) else state, Path(folder) / "state.pt")
                progress = {"chunk": chunk, "reports": reports, "iteration": iteration}
                (Path(folder) / "progress.json").write_text(json.dumps(progress))
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


def _reachable(address: str) -> None:
    """Fail fast (Ray itself retries an unreachable head for minutes)."""
    if address == "auto" or address.startswith("local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise RunError(f"--address {address}: expected host:port, ray://host:port or auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise RunError(f"cannot reach the Ray cluster at {address}: {error.strerror or error}") from None


def _ensure_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic table honours our columns
    # Bounding checkpoints per trial forces an experiment snapshot now and then; that is intended.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's CSV and TensorBoard logs of every result: the rows are in Parquet already, and without
    # them a trial costs the driver half the time and half the memory (its JSON log is kept: Tune
    # reads it back for the ResultGrid and on restore).
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True, "configure_logging": True}
    if address:
        _reachable(address)
        kwargs["address"] = address
    else:
        kwargs["include_dashboard"] = False  # a local run listens on nothing beyond what Ray needs
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
        text = str(error).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        hint = ""
        if address and os.environ.get("RAY_AUTH_MODE") != "token":
            # Ray >= 2.59 heads may require a token; the client often only says it cannot connect
            hint = " (if it uses token authentication, run with RAY_AUTH_MODE=token and its token in ~/.ray/auth_token)"
        raise RunError(f"cannot start or reach {where}: {first}{hint}") from None


AUTOSCALER_CONFIG = "~/ray_bootstrap_config.yaml"  # where `ray up` leaves the cluster file on the head


def _node_types() -> list[dict[str, float]]:
    """Resources of the node types an autoscaler may still start (read on the head of a cluster
    launched with `ray up`): a GPU study must not be refused while GPU workers are at zero."""
    import yaml

    path = Path(os.environ.get("SYRE_TUNE_AUTOSCALER_CONFIG", AUTOSCALER_CONFIG)).expanduser()
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    types = config.get("available_node_types") or {}
    return [dict(t.get("resources") or {}) for t in types.values() if isinstance(t, dict)]


def _check_resources(study: Study) -> None:
    """Fail at submission when no node, present or that the autoscaler can start, can ever hold
    one trial (Tune would wait forever)."""
    import ray

    need = {"CPU": study.resources.cpu, "GPU": study.resources.gpu}
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")] + _node_types()
    if any(all(node.get(key, 0.0) >= amount for key, amount in need.items()) for node in nodes):
        return
    largest = max(nodes, key=lambda node: (node.get("GPU", 0.0), node.get("CPU", 0.0)), default={})
    raise RunError(
        f"no node can run one trial of {study.name}: it asks resources: {{cpu: {study.resources.cpu:g}, "
        f"gpu: {study.resources.gpu:g}}} per trial, and the largest node has {largest.get('CPU', 0):g} CPUs and "
        f"{largest.get('GPU', 0):g} GPUs (set the study's resources, or add such nodes to the cluster; "
        f"nodes an autoscaler will start: docs/cluster.md)"
    )


def shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _point_keys(study: Study) -> list[str]:
    return sorted({key for point in study.points for key in point})


def _search_space(study: Study) -> dict[str, Any]:
    from ray import tune

    # Variants vary different keys; pad each point to the same keys (None: not set here)
    # so that the progress table can show every column.
    points = [{key: point.get(key) for key in _point_keys(study)} for point in study.points]
    if study.search == "optuna":  # one point and one seed block; Optuna samples the rest
        space: dict[str, Any] = {"point": points[0], "seed_block": 0}
    else:
        space = {
            "point": tune.grid_search(points),
            "seed_block": tune.grid_search(list(range(len(study.seed_blocks)))),
        }
    for axis in study.sampled:
        if axis.kind == "uniform":
            space[axis.key] = tune.uniform(axis.low, axis.high)
        elif axis.kind == "loguniform":
            space[axis.key] = tune.loguniform(axis.low, axis.high)  # Optuna: FloatDistribution(log=True)
        else:
            space[axis.key] = tune.choice(list(axis.values))
    return space


def _optuna_storage(study: Study, study_dir: Location) -> Any:
    """The study's RDB URL, or a journal file in the study folder (safe for parallel writers)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if study.optuna_storage:
        return optuna.storages.RDBStorage(study.optuna_storage)
    if study_dir.local is None:
        raise RunError(
            f"--storage {study_dir.parent}: an Optuna journal file needs a local or NFS folder; on object "
            "storage give the study `optuna: {storage: <RDB URL>}`"
        )
    study_dir.local.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(study_dir.local / results.OPTUNA_JOURNAL)))


def _sampler(name: str, seed: int) -> Any:
    """The Optuna sampler a study names (tpe | gp | cmaes | random), seeded."""
    import optuna

    samplers = {
        "tpe": optuna.samplers.TPESampler,
        "gp": optuna.samplers.GPSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "random": optuna.samplers.RandomSampler,
    }
    return samplers[name](seed=seed)


def _search_alg(study: Study, study_dir: Location) -> Any:
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    if study.search != "optuna":
        # seeded, so that a random search draws the same configurations every time
        return BasicVariantGenerator(random_state=study.search_seed)
    from ray.tune.search.optuna import OptunaSearch

    several = len(study.metrics) > 1
    searcher = OptunaSearch(
        metric=list(study.metrics) if several else None,
        mode=list(study.modes) if several else None,
        sampler=_sampler(study.sampler, study.search_seed),
        study_name=study.name,
        storage=_optuna_storage(study, study_dir),
    )
    return ConcurrencyLimiter(searcher, max_concurrent=study.max_concurrent)


def _scheduler(study: Study) -> Any:
    if not study.scheduler:
        return None
    from ray.tune.schedulers import ASHAScheduler

    options = study.scheduler["asha"]
    return ASHAScheduler(
        time_attr="training_iteration",
        grace_period=options["grace_period"],
        reduction_factor=options["reduction_factor"],
        max_t=options["max_t"],
    )


def _max_t(study: Study) -> int | None:
    return study.scheduler["asha"]["max_t"] if study.scheduler else None


def _progress_reporter(study: Study) -> Any:
    """A trial table showing the swept values by name (not the nested config dicts)."""
    from ray.tune import CLIReporter

    swept = sorted({key for point in study.points for key in point if len({str(p.get(key)) for p in study.points}) > 1})
    columns = {f"point/{key}": key for key in swept}
    columns.update({axis.key: axis.key for axis in study.sampled})
    if len(study.seed_blocks) > 1 and study.search != "optuna":
        columns["seed_block"] = "seed_block"
    return CLIReporter(
        parameter_columns=columns,
        metric_columns={"step": "step", **{m: f"mean {m}" for m in study.metrics}},
        max_report_frequency=15,
        sort_by_metric=False,
    )


def _error_text(trial: Any) -> str:
    """The last line of the trial's error (``ValueError: ...``), or Ray's own description."""
    error = None
    try:  # the driver's own copy first: the one in storage may not be synced yet
        local = trial.error_file
        error = Path(local).read_text() if local and Path(local).exists() else trial.get_error()
    except Exception:  # the error file may be gone; keep the study going
        pass
    lines = [line.strip() for line in str(error or "unknown error").splitlines() if line.strip()]
    errors = [line for line in lines if line.split(":", 1)[0].endswith(("Error", "Exception", "Interrupt"))]
    return (errors[-1] if errors else lines[-1])[:2000]


def _status_callback(plan: TrialPlan, study_dir: Location, planned: int, max_t: int | None) -> Any:
    """``max_t``: the scheduler's budget in reports (a trial it stops there is not stopped early)."""
    from ray import tune

    class StatusCallback(tune.Callback):
        """Writes ``status.json`` (counts of trials by state) and the marker rows of trials that
        failed (``error``) or that the scheduler stopped early (``stopped``)."""

        def __init__(self) -> None:
            self.written = 0.0
            self.stopped: set[str] = set()

        def _write(self, trials: list[Any], finished: bool = False, force: bool = False) -> None:
            if not force and time.monotonic() - self.written < 2.0:
                return
            self.written = time.monotonic()
            counts = {"done": 0, "running": 0, "failed": 0, "pending": 0}
            for trial in trials:
                state = {"TERMINATED": "done", "RUNNING": "running", "ERROR": "failed"}.get(trial.status, "pending")
                counts[state] += 1
            counts["pending"] += max(0, planned - len(trials))
            status = {
                "study": plan.study,
                "planned": planned,
                **counts,
                "finished": finished,
                "trial_ids": sorted(trial.trial_id for trial in trials),
                "driver": {"host": socket.gethostname(), "pid": os.getpid()},
                "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
            results.write_json_atomic(status, study_dir / results.STATUS_FILE)

        def _marker(self, trial: Any, status: str, error: str | None = None) -> None:
            _, _, rows = _row_buffer(plan, trial.trial_id, trial.config, "cpu")
            table = rows.marker_table(plan.seed_blocks[trial.config["seed_block"]], status, error)
            where = table.schema.get_field_index("config.device")  # the driver cannot tell: null
            if where >= 0:
                table = table.set_column(where, "config.device", pa.nulls(table.num_rows, pa.string()))
            results.write_table_atomic(table, _part(plan, trial.trial_id, status))

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            self._write(trials)

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any) -> None:
            # Tune marks a result `done` here only when the scheduler decided to stop the trial (a
            # trial that returns ends without a further result); at max_t it used its whole budget
            if result.get("done") and max_t is not None and result.get("training_iteration", max_t) < max_t:
                self.stopped.add(trial.trial_id)

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            try:
                if trial.num_failures:  # it failed before (error rows may be there), and finished now
                    _part(plan, trial.trial_id, "error").remove()
                if trial.trial_id in self.stopped:
                    self._marker(trial, "stopped")
                    self.stopped.discard(trial.trial_id)
            finally:
                self._write(trials, force=True)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            try:
                self._marker(trial, "error", _error_text(trial))
            finally:
                self._write(trials, force=True)

        def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
            self._write(trials, finished=True, force=True)

    return StatusCallback()


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


def _plan(study: Study, study_dir: Location) -> TrialPlan:
    bench = benchmarks.get(study.benchmark)
    return TrialPlan(
        study=study.name,
        benchmark=study.benchmark,
        fixed=dict(study.fixed),
        sampled_keys=tuple(axis.key for axis in study.sampled),
        seed_blocks=tuple(study.seed_blocks),
        results=study_dir / "results",
        schema=results.schema_for(config_fields(bench.config_cls), bench.metrics),
        loss=bench.loss,
        checkpoint_every=study.checkpoint_every,
        flush_every_report=study.scheduler is not None,
    )


def _trainable_for(study: Study, plan: TrialPlan) -> Any:
    from ray import tune

    return tune.with_resources(
        tune.with_parameters(_trainable, plan=plan), {"cpu": study.resources.cpu, "gpu": study.resources.gpu}
    )


def _storage_kwargs(study_dir: Location) -> dict[str, Any]:
    if study_dir.local is not None:
        return {"storage_path": str(study_dir.local)}
    return {"storage_path": study_dir.path, "storage_filesystem": study_dir.fs}


def run_study(study: Study, study_dir: Location, *, address: str | None = None, verbose: int = 1) -> RunSummary:
    """Run every trial of ``study`` through Ray Tune; rows land in ``study_dir/results``."""
    import yaml
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    _ensure_ray(address)
    _check_resources(study)
    search_alg = _search_alg(study, study_dir)  # may refuse the storage: before anything is written
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    provenance = _provenance(study, started)
    results.write_text_atomic(yaml.safe_dump(study.spec, sort_keys=False), study_dir / "study.yaml")
    results.write_json_atomic(provenance, study_dir / "provenance.json")
    study_dir.fs.create_dir((study_dir / "results").path, recursive=True)
    plan = _plan(study, study_dir)
    several = len(study.metrics) > 1
    tuner = tune.Tuner(
        _trainable_for(study, plan),
        param_space=_search_space(study),
        tune_config=tune.TuneConfig(
            metric=None if several else study.metric,
            mode=None if several else study.mode,
            num_samples=study.num_samples,
            search_alg=search_alg,
            scheduler=_scheduler(study),
            max_concurrent_trials=(study.max_concurrent or None) if study.search != "optuna" else None,
            reuse_actors=True,  # one worker process runs many trials: torch is imported once
        ),
        run_config=tune.RunConfig(
            name=TUNE_DIR,
            verbose=verbose,
            progress_reporter=_progress_reporter(study),
            failure_config=tune.FailureConfig(max_failures=study.max_failures),
            # the last two checkpoints of each trial (with one, every checkpoint would force a
            # snapshot of the whole experiment's state: quadratic in the number of trials)
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            callbacks=[_status_callback(plan, study_dir, study.num_trials, _max_t(study)), JsonLoggerCallback()],
            **_storage_kwargs(study_dir),
        ),
    )
    return _fit(study, study_dir, tuner, provenance)


def _fit(study: Study, study_dir: Location, tuner: Any, provenance: dict[str, Any]) -> RunSummary:
    start = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - start
    best = None
    if len(study.metrics) == 1:
        try:
            best_result = grid.get_best_result(metric=study.metric, mode=study.mode, filter_nan_and_inf=True)
            best = {"config": best_result.config, study.metric: best_result.metrics.get(study.metric)}
        except (RuntimeError, ValueError):
            pass
    _remove_forgotten(study_dir)
    rows = results.count_rows(study_dir)
    trials = results.trials(study_dir) if rows else None
    errored, diverged, stopped = (
        tuple(trials.trial_id[trials.status == status]) if trials is not None else ()
        for status in ("error", "diverged", "stopped")
    )
    _close_orphans(study, study_dir)
    provenance.update(
        finished=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        wall_s=round(wall + provenance.get("wall_s", 0.0), 2),
        trials=len(grid),
        errored=list(errored),
        diverged=list(diverged),
        stopped=list(stopped),
        rows=rows,
    )
    results.write_json_atomic(provenance, study_dir / "provenance.json")
    return RunSummary(study.name, study_dir, len(grid), errored, diverged, stopped, rows, wall, best)


def _remove_forgotten(study_dir: Location) -> None:
    """Remove the rows of trials the experiment does not know: a driver killed between two
    snapshots of Tune's state had started them, and the resumed search ran their work again as
    new trials. What is left has exactly one row per (trial, seed, iteration) of its trials."""
    status = study_dir / results.STATUS_FILE
    if not status.exists():
        return
    known = set(json.loads(status.read_text()).get("trial_ids", []))
    folder = study_dir / "results"
    for name in sorted(entry.base_name for entry in folder.entries() if entry.base_name.startswith("part-")):
        if _trial_of(name) not in known:
            (folder / name).remove()


def _close_orphans(study: Study, study_dir: Location) -> None:
    """Optuna trials still RUNNING once Tune is done were asked for by a driver that was killed
    before it saved them; Tune re-asks for those configurations, so close these as failed."""
    if study.search != "optuna":
        return
    import optuna

    loaded = optuna.load_study(study_name=study.name, storage=_optuna_storage(study, study_dir))
    for trial in loaded.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        loaded.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def can_resume(study_dir: Location) -> bool:
    """Whether ``study_dir`` holds a Tune experiment that ``resume_study`` can continue."""
    return (study_dir / TUNE_DIR / "tuner.pkl").exists() and (study_dir / "study.yaml").exists()


def resume_study(study: Study, study_dir: Location, *, address: str | None = None, verbose: int = 1) -> RunSummary:
    """Finish an interrupted study (``Tuner.restore``): unfinished trials continue from their last
    checkpoint, failed ones are retried, an Optuna search continues from its storage."""
    from ray import tune

    _ensure_ray(address)
    _check_resources(study)
    provenance = json.loads((study_dir / "provenance.json").read_text())
    provenance.setdefault("resumed", []).append(_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    plan = _plan(study, study_dir)
    tune_dir = study_dir / TUNE_DIR
    tuner = tune.Tuner.restore(
        str(tune_dir.local) if tune_dir.local is not None else tune_dir.path,
        _trainable_for(study, plan),
        resume_unfinished=True,
        resume_errored=True,
        storage_filesystem=None if tune_dir.local is not None else tune_dir.fs,
    )
    return _fit(study, study_dir, tuner, provenance)
