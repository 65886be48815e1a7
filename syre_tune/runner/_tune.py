"""Tune's side of a study: the search space, the search algorithm (grid / random, Optuna), the
scheduler (ASHA), the progress table, and the ``Tuner`` that runs or restores the experiment."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from syre_tune import layout, results
from syre_tune.benchmarks import unused_knobs
from syre_tune.results import Location
from syre_tune.runner import _display, _waves
from syre_tune.runner._callback import INTERRUPTED, mark_interrupted, status_callback
from syre_tune.runner._cluster import RunError, check_resources, check_storage, ensure_ray
from syre_tune.runner._finish import RunSummary, finish, now, provenance
from syre_tune.runner._trial import SETTINGS, TrialPlan, plan_for, trainable
from syre_tune.runner._waves import Wave
from syre_tune.study import Study


def _shown(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def settings(points: Sequence[Mapping[str, Any]], fixed: Mapping[str, Any] | None = None) -> list[str]:
    """One label per grid point for the progress table: the point's own settings among those that
    vary between points, ``key=value`` in the point's order (``method=syre gamma=0.1 sigma0=2``).
    A key the point leaves unset (or None) is not shown, nor a knob its method does not read."""
    fixed = fixed or {}
    keys = {key for point in points for key in point}  # linear in the points: a study may have 100,000
    varying = {key for key in keys if len({str(point.get(key)) for point in points}) > 1}
    labels = []
    for point in points:
        method = point.get("method", fixed.get("method"))
        unused = unused_knobs(method)
        shown = [(k, v) for k, v in point.items() if k in varying and v is not None and k not in unused]
        labels.append(" ".join(f"{key}={_shown(value)}" for key, value in shown))
    return labels


def _search_space(study: Study, wave: Wave, labels: Sequence[str]) -> dict[str, Any]:
    from ray import tune

    # Each grid point carries its settings label beside its values (the trial leaves it out).
    points = [{**study.points[i], SETTINGS: labels[i]} for i in wave.points]
    if study.search == "optuna":  # one point and one seed block; Optuna samples the rest
        space: dict[str, Any] = {"point": points[0], "seed_block": 0}
    else:
        space = {"point": tune.grid_search(points), "seed_block": tune.grid_search(list(wave.blocks))}
    for axis in study.sampled:
        if axis.kind == "uniform":
            space[axis.key] = tune.uniform(axis.low, axis.high)
        elif axis.kind == "loguniform":
            space[axis.key] = tune.loguniform(axis.low, axis.high)  # Optuna: FloatDistribution(log=True)
        else:
            space[axis.key] = tune.choice(list(axis.values))
    return space


def _progress_reporter(study: Study, labels: Sequence[str]) -> Any:
    """A trial table of each trial's own settings (one ``settings`` column, not a column per key
    padded with None where a point does not set it; ``labels``: :func:`settings`), the sampled
    axes and the seed block."""
    from ray.tune import CLIReporter

    columns = {f"point/{SETTINGS}": "settings"} if any(labels) else {}
    columns.update({axis.key: axis.key for axis in study.sampled})
    if len(study.seed_blocks) > 1 and study.search != "optuna":
        columns["seed_block"] = "seed_block"
    return CLIReporter(
        parameter_columns=columns,
        metric_columns={"step": "step", **{m: f"mean {m}" for m in study.metrics}},
        # Tune cuts a longer string to this many characters (and appends part of its address)
        max_column_length=max([20, *map(len, labels)]),
        max_report_frequency=15,
        sort_by_metric=False,
    )


def _optuna_storage(study: Study, study_dir: Location) -> Any:
    try:
        return layout.optuna_storage(study_dir, study.optuna_storage, create=True)
    except layout.OptunaStorageError as error:
        raise RunError(str(error)) from None


def sampler(name: str, seed: int) -> Any:
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
        sampler=sampler(study.sampler, study.search_seed),
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


def _trainable_for(study: Study, plan: TrialPlan) -> Any:
    from ray import tune

    return tune.with_resources(
        tune.with_parameters(trainable, plan=plan), {"cpu": study.resources.cpu, "gpu": study.resources.gpu}
    )


def _storage_kwargs(where: Location) -> dict[str, Any]:
    if where.local is not None:
        return {"storage_path": str(where.local)}
    return {"storage_path": where.path, "storage_filesystem": where.fs}


def run_study(study: Study, study_dir: Location, *, address: str | None = None, verbose: bool = False) -> RunSummary:
    """Run every trial of ``study`` through Ray Tune (a large grid in waves: :mod:`._waves`);
    rows land in ``study_dir/results``. Progress: one line (:mod:`._display`), or with ``verbose``
    Ray's trial table and logs."""
    import yaml

    ensure_ray(address, verbose=verbose)
    check_resources(study)
    check_storage(study_dir, address)
    search_alg = _search_alg(study, study_dir)  # may refuse the storage: before anything is written
    record = provenance(study, now())
    results.write_text_atomic(yaml.safe_dump(study.spec, sort_keys=False), study_dir / layout.STUDY_FILE)
    results.write_json_atomic(record, study_dir / layout.PROVENANCE_FILE)
    study_dir.fs.create_dir((study_dir / layout.RESULTS_DIR).path, recursive=True)
    return _run_waves(study, study_dir, record, {}, restore=False, verbose=verbose, search_alg=search_alg)


def _new_tuner(
    study: Study,
    study_dir: Location,
    plan: TrialPlan,
    wave: Wave,
    experiment: tuple[Location, str],
    labels: Sequence[str],
    callback: Any,
    reporter: Any,
    search_alg: Any,
) -> Any:
    """A fresh Tune experiment for ``wave``, named ``experiment`` (:func:`._waves.experiment`),
    shown by ``reporter`` (Ray's trial table, or the study's line of :mod:`._display`)."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    objectives = len(study.metrics) > 1
    where, name = experiment
    return tune.Tuner(
        _trainable_for(study, plan),
        param_space=_search_space(study, wave, labels),
        tune_config=tune.TuneConfig(
            metric=None if objectives else study.metric,
            mode=None if objectives else study.mode,
            num_samples=study.num_samples,
            search_alg=search_alg if search_alg is not None else _search_alg(study, study_dir),
            scheduler=_scheduler(study),
            max_concurrent_trials=(study.max_concurrent or None) if study.search != "optuna" else None,
            reuse_actors=True,  # one worker process runs many trials: torch is imported once
        ),
        run_config=tune.RunConfig(
            name=name,
            verbose=1,  # Tune asks the progress reporter only from 1 up
            progress_reporter=reporter,
            failure_config=tune.FailureConfig(max_failures=study.max_failures),
            # Every checkpoint is kept while the wave runs (:func:`._waves.drop_checkpoints` removes
            # those of its finished trials when it ends). With num_to_keep=K, Ray deletes the
            # checkpoint its last saved experiment snapshot names when a trial registers its K-th
            # checkpoint after that snapshot, and only then forces a new snapshot, written by a
            # background thread: a driver killed in between left a snapshot no resume can restore
            # ("Could not recover from checkpoint as it does not exist on storage anymore").
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
            callbacks=[callback, JsonLoggerCallback()],
            **_storage_kwargs(where),
        ),
    )


def _restored_tuner(study: Study, plan: TrialPlan, folder: Location, reporter: Any) -> Any:
    """The experiment saved in ``folder``, shown by ``reporter`` (this run's choice, not the one
    it was saved with)."""
    from ray import tune

    tuner = tune.Tuner.restore(
        str(folder.local) if folder.local is not None else folder.path,
        _trainable_for(study, plan),
        resume_unfinished=True,
        resume_errored=True,
        storage_filesystem=None if folder.local is not None else folder.fs,
    )
    # Tuner.restore takes no RunConfig; where this Ray keeps it as before (TunerInternal._run_config,
    # read when fit() starts), the reporter is swapped, else the saved one stays.
    run_config = getattr(getattr(tuner, "_local_tuner", None), "_run_config", None)
    if run_config is not None and hasattr(run_config, "progress_reporter"):
        run_config.progress_reporter = reporter
    return tuner


def _run_waves(
    study: Study,
    study_dir: Location,
    record: dict[str, Any],
    progress: dict[str, Any],
    *,
    restore: bool,
    verbose: bool,
    search_alg: Any = None,
) -> RunSummary:
    """Run the study's waves from the first unfinished one (restoring its experiment when
    ``restore`` and it has one); ``progress`` is :func:`._waves.progress`."""
    with _study_line(study, study_dir, progress if restore else None, verbose) as display:
        plan = plan_for(study, study_dir)
        planned = _waves.waves(study)
        several = len(planned) > 1
        labels = settings(study.points, study.fixed)  # once: a grid may have 100,000 points
        start = time.perf_counter()
        best, trials = progress.get("best"), len(progress.get("trial_ids", ()))
        reporter = _progress_reporter(study, labels) if display is None else _display.reporter(plan.seeds_of)
        for wave in planned[progress.get("done", 0) :]:
            where, name = experiment = _waves.experiment(study_dir, wave, several)
            if restore and (where / name / "tuner.pkl").exists():
                tuner = _restored_tuner(study, plan, where / name, reporter)
            else:
                last = wave.index == len(planned) - 1
                callback = status_callback(plan, study_dir, study.num_trials, _max_t(study), several, last)
                tuner = _new_tuner(study, study_dir, plan, wave, experiment, labels, callback, reporter, search_alg)
            restore, search_alg = False, None
            grid = _fit(study_dir, tuner)
            trials += len(grid)
            if display is not None:
                display.end_wave()
            if INTERRUPTED.is_set():  # Tune ended the run on Ctrl+C after a last snapshot, as if it were done
                failed = progress.get("trials_failed", 0) + sum(1 for result in grid if result.error is not None)
                done = progress.get("trials_done", 0) + sum(
                    1 for result in grid if result.error is None and result.metrics.get("done")
                )
                mark_interrupted(study_dir, done, failed)
                wall = time.perf_counter() - start
                return finish(study, study_dir, record, trials=trials, wall=wall, best=None, interrupted=done + failed)
            best = _better(study, best, _best(study, grid))
            _waves.drop_checkpoints(grid)
            if several:
                progress = _waves.finished(study_dir, progress, best)
            del tuner, grid
            _waves.release_memory()
        return finish(study, study_dir, record, trials=trials, wall=time.perf_counter() - start, best=best)


@contextmanager
def _study_line(
    study: Study, study_dir: Location, resumed: dict[str, Any] | None, verbose: bool
) -> Iterator[_display.Display | None]:
    """The study's line while its waves run (None with ``verbose``: Ray's table), closed with how
    the run ended: finished, interrupted (Ctrl+C) or stopped by an error. ``resumed``: a resume's
    :func:`._waves.progress`."""
    if verbose:
        yield None
        return
    display = _new_display(study, study_dir, resumed)
    ended = "stopped after"
    try:
        yield display
        ended = "finished in"
    finally:
        _display.ACTIVE.remove(display)
        display.close("interrupted after" if INTERRUPTED.is_set() else ended)


def _new_display(study: Study, study_dir: Location, resumed: dict[str, Any] | None) -> _display.Display:
    """The study's line, made active; a resume (``resumed``: its :func:`._waves.progress`) counts
    what is already there."""
    from syre_tune import sizing

    before = None
    if resumed is not None:  # the finished waves' trials (the restored wave's come back with it), the rows on storage
        earlier = _waves.counts(resumed)
        rows = results.count_rows(study_dir) if (study_dir / layout.RESULTS_DIR).exists() else 0
        before = _display.Counts(study.num_trials, done=earlier["done"], failed=earlier["failed"], rows=rows)
    try:  # rows are a fair measure of progress when every trial runs to its end
        rows = None if study.scheduler else sizing.planned_rows(study)
    except Exception:  # a benchmark's own count failing must not stop the study: go by trials
        rows = None
    resume = resumed is not None
    display = _display.Display(study.name, study.num_trials, planned_rows=rows, before=before, resumed=resume)
    _display.ACTIVE.append(display)
    return display


def _fit(study_dir: Location, tuner: Any) -> Any:
    INTERRUPTED.clear()
    try:
        return tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl+C: Tune skipped its last snapshot
        mark_interrupted(study_dir)
        raise


def _best(study: Study, grid: Any) -> dict[str, Any] | None:
    if len(study.metrics) > 1:
        return None
    try:
        result = grid.get_best_result(metric=study.metric, mode=study.mode, filter_nan_and_inf=True)
    except (RuntimeError, ValueError):
        return None
    return {"config": result.config, study.metric: result.metrics.get(study.metric)}


def _better(study: Study, one: dict[str, Any] | None, other: dict[str, Any] | None) -> dict[str, Any] | None:
    if one is None or other is None:
        return one or other
    pick = max if study.mode == "max" else min
    return pick(one, other, key=lambda best: best[study.metric])


def can_resume(study_dir: Location) -> bool:
    """Whether ``study_dir`` holds a Tune experiment that ``resume_study`` can continue."""
    return (study_dir / layout.STUDY_FILE).exists() and (
        (study_dir / layout.TUNE_DIR / "tuner.pkl").exists()
        or (study_dir / layout.TUNE_DIR / layout.WAVES_FILE).exists()
        or (study_dir / layout.TUNE_DIR / layout.wave_dir(0) / "tuner.pkl").exists()
    )


def resume_study(study: Study, study_dir: Location, *, address: str | None = None, verbose: bool = False) -> RunSummary:
    """Finish an interrupted study (``Tuner.restore``): unfinished trials continue from their last
    checkpoint, failed ones are retried, an Optuna search continues from its storage; a study
    run in waves then runs the waves that had not started."""
    ensure_ray(address, verbose=verbose)
    check_resources(study)
    check_storage(study_dir, address)
    record = json.loads((study_dir / layout.PROVENANCE_FILE).read_text())
    record.setdefault("resumed", []).append(now())
    return _run_waves(study, study_dir, record, _waves.progress(study_dir), restore=True, verbose=verbose)
