"""Study files: load, validate and expand a YAML study into the trials the runner submits.

A study names a benchmark, fixed config, sweep axes, seeds, the metric and mode, the search,
resources per trial, and a ``smoke:`` block that overrides it into a few-minute CPU version::

    benchmark: theorem4
    config: {epsilon: 0.01, gamma: 0.1}
    sweep:
      n_symmetries: {grid: [1, 4, 16]}
      sigma0: {logspace: [1.0e-3, 10.0, 9]}      # 9 log-spaced grid values
    variants:                                      # optional: a union of sub-sweeps
      - {config: {method: syre}, sweep: {gamma: {grid: [0.1, 1.0]}}}
    seeds: 200                                     # 0..199, or a list
    seeds_per_trial: 100                           # vectorised inside one trial
    metric: min_abs_delta
    mode: max
    search: grid                                   # or random (with uniform / loguniform / choice axes)
    num_samples: 1
    resources: {cpu: 1, gpu: 0}
    smoke: {seeds: 50}

A file may instead hold ``studies: [ {name: ..., ...}, ... ]``. Every error names the file, the
key, the value and what was expected, and is raised before anything is written.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from syre_tune import _secrets, benchmarks
from syre_tune.benchmarks import ConfigError

__all__ = ["Axis", "Resources", "Study", "StudyError", "load", "load_text"]

STUDY_KEYS = {
    "name": "the study's name (default: the file's stem)",
    "description": "free text",
    "benchmark": "a registered benchmark",
    "config": "fixed config values",
    "sweep": "axes: {key: {grid|choice: [...]} | {uniform|loguniform: [low, high]} | {logspace: [low, high, n]}}",
    "variants": "a list of {config:, sweep:} crossed with the study's sweep",
    "seeds": "a count n (seeds 0..n-1) or a list of seeds",
    "seeds_per_trial": "how many seeds one trial runs, vectorised",
    "metric": "the metric Tune optimises and reports (optuna: a list of metrics for several objectives)",
    "mode": "min or max (or a list, one per metric)",
    "search": "grid, random or optuna",
    "search_seed": "seed of the random search's / Optuna sampler's draws (default 0)",
    "num_samples": "samples of the random axes per grid point (optuna: trials in all)",
    "max_concurrent": "at most this many trials at once (0: as many as resources allow; optuna: 4)",
    "optuna": "{sampler: tpe|gp|cmaes|random, storage: RDB URL (default: a journal file in the study folder)}",
    "scheduler": "{asha: {grace_period: 1, reduction_factor: 2, max_t: 100}}: stop poor trials early",
    "max_failures": "retries of a trial that crashed, from its last checkpoint (default 2)",
    "checkpoint_every": "checkpoint every this many reports (default 1)",
    "wave_size": "a grid of more trials runs as successive Tune experiments of this many (default 250)",
    "resources": "{cpu: n, gpu: fraction} per trial",
    "smoke": "overrides applied with --smoke",
}
AXIS_KINDS = ("grid", "choice", "uniform", "loguniform", "logspace")
SEARCHES = ("grid", "random", "optuna")
SAMPLERS = ("tpe", "gp", "cmaes", "random")
SCHEDULERS = {"asha": {"grace_period": 1, "reduction_factor": 2, "max_t": 100}}
MAX_SEEDS = 1_000_000
"""Seeds a study may list (so that a typo such as 10**8 fails at once instead of being listed)."""
RESERVED = benchmarks.RESERVED_KEYS  # set by the study's `seeds` and by the runner


def did_you_mean(word: object, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options`` to ``word``, or '' if none is close."""
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class StudyError(ValueError):
    """A study file is wrong: one line naming the file, the key, the value and what was expected."""

    def __init__(self, source: str | Path, key: str | None, message: str) -> None:
        self.source, self.key, self.message = str(source), key, message
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")

    def __reduce__(self) -> tuple:
        return (type(self), (self.source, self.key, self.message))


@dataclass(frozen=True)
class Axis:
    """A sampled (non-grid) axis: drawn by the search, not enumerated."""

    key: str
    kind: str  # choice | uniform | loguniform
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0
    gpu: float = 0.0


@dataclass(frozen=True)
class Study:
    """A validated study, ready to run."""

    name: str
    source: Path
    benchmark: str
    fixed: dict[str, Any]
    points: tuple[dict[str, Any], ...]
    """Grid points: the config values that vary between trials (variants × grid axes)."""
    sampled: tuple[Axis, ...]
    seeds: tuple[int, ...]
    seeds_per_trial: int
    metric: str
    mode: str
    search: str
    search_seed: int
    num_samples: int
    max_concurrent: int
    resources: Resources
    spec: dict[str, Any] = field(repr=False)
    """The study mapping as run (smoke overrides applied), saved beside the results."""
    metrics: tuple[str, ...] = ()
    """Every objective (several only for a multi-objective Optuna search); ``metric`` is the first."""
    modes: tuple[str, ...] = ()
    sampler: str = "tpe"
    optuna_storage: str | None = None
    scheduler: dict[str, Any] | None = None
    """{"asha": {grace_period, reduction_factor, max_t}} or None."""
    max_failures: int = 2
    checkpoint_every: int = 1
    wave_size: int = 250
    """A grid search of more trials runs as successive waves (Tune experiments) of at most this many."""

    @property
    def seed_blocks(self) -> list[tuple[int, ...]]:
        """The seeds split into the blocks that single trials run."""
        step = self.seeds_per_trial
        return [self.seeds[i : i + step] for i in range(0, len(self.seeds), step)]

    @property
    def num_trials(self) -> int:
        if self.search == "optuna":
            return self.num_samples
        return len(self.points) * len(self.seed_blocks) * self.num_samples


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise StudyError(path, None, "no such study file")
    if not path.is_file():
        raise StudyError(path, None, "not a file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise StudyError(path, None, f"not valid YAML{line}: {getattr(error, 'problem', error)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StudyError(path, None, f"cannot be read: {error}") from None


def load(path: str | Path, *, smoke: bool = False, name: str | None = None, download: bool = False) -> list[Study]:
    """The studies in a YAML file, validated; ``smoke`` applies each study's ``smoke:`` block;
    ``download`` sets ``data_download: true`` for benchmarks that load a data set."""
    path = Path(path)
    return _load_document(path, _read_yaml(path), smoke, name, download)


def load_text(text: str, *, source: str) -> list[Study]:
    """The studies in YAML ``text`` (a study as saved beside its results); ``source`` names it."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise StudyError(source, None, f"not valid YAML: {getattr(error, 'problem', error)}") from None
    return _load_document(Path(source), document, False, None)


def _load_document(path: Path, document: Any, smoke: bool, name: str | None, download: bool = False) -> list[Study]:
    if not isinstance(document, Mapping):
        raise StudyError(path, None, f"expected a mapping of study keys, got {type(document).__name__}")
    if "studies" in document:
        extra = sorted(set(document) - {"studies", "description"})
        if extra:
            raise StudyError(path, extra[0], "a file with `studies:` holds only `studies` and `description`")
        entries = document["studies"]
        if not isinstance(entries, list) or not entries:
            raise StudyError(path, "studies", f"expected a non-empty list of studies, got {entries!r}")
        studies = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or "name" not in entry:
                raise StudyError(path, f"studies[{index}]", "expected a mapping with a `name`")
            studies.append(_parse(path, f"studies[{index}].", entry, smoke, entry["name"], download))
        names = [s.name for s in studies]
        if len(set(names)) != len(names):
            raise StudyError(path, "studies", f"names must be unique, got {names}")
        return studies
    return [_parse(path, "", document, smoke, name or document.get("name") or path.stem, download)]


def _parse(path: Path, prefix: str, raw: Mapping[str, Any], smoke: bool, name: Any, download: bool = False) -> Study:
    def fail(key: str, message: str) -> StudyError:
        return StudyError(path, prefix + key, message)

    unknown = sorted(set(raw) - set(STUDY_KEYS))
    if unknown:
        hint = did_you_mean(unknown[0], STUDY_KEYS)
        raise fail(unknown[0], f"unknown key{hint}; expected one of {sorted(STUDY_KEYS)}")
    if not smoke and isinstance(raw.get("smoke"), Mapping):  # a typo in smoke: fails every load, not only --smoke
        study = _parse(path, prefix, {k: v for k, v in raw.items() if k != "smoke"}, False, name, download)
        try:
            _parse(path, prefix, raw, True, name, download)
        except StudyError as error:
            key = error.key or ""
            key = prefix + "smoke." + (key[len(prefix) :] if key.startswith(prefix) else key)
            raise StudyError(path, key, f"{error.message} (in the study with its smoke: block applied)") from None
        return study
    spec = dict(raw)
    if smoke:
        overrides = spec.pop("smoke", None)
        if overrides is None:
            raise fail("smoke", "--smoke was given but the study has no smoke: block")
        if not isinstance(overrides, Mapping):
            raise fail("smoke", f"expected a mapping of overrides, got {overrides!r}")
        bad = sorted(set(overrides) - set(STUDY_KEYS) - {"smoke"})
        if bad:
            hint = did_you_mean(bad[0], STUDY_KEYS)
            raise fail(f"smoke.{bad[0]}", f"unknown key{hint}; expected one of {sorted(STUDY_KEYS)}")
        spec = _deep_merge(spec, overrides)
    else:
        spec.pop("smoke", None)
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise fail("name", f"expected a plain folder name, got {name!r}")

    if "benchmark" not in spec:
        raise fail("benchmark", f"missing; expected one of {list(benchmarks.available())}")
    try:
        bench = benchmarks.get(spec["benchmark"])
    except ConfigError as error:
        hint = did_you_mean(spec["benchmark"], benchmarks.available())
        raise fail("benchmark", f"unknown benchmark {spec['benchmark']!r}{hint}; expected {error.expected}") from None
    fields = set(bench.config_cls.__dataclass_fields__)
    if download and "data_download" in fields:  # --download: the command line asks for the data set
        config = spec.get("config")
        spec["config"] = {**(config if isinstance(config, Mapping) else {}), "data_download": True}

    def check_keys(where: str, mapping: Any) -> dict[str, Any]:
        if mapping is None:
            return {}
        if not isinstance(mapping, Mapping):
            raise fail(where, f"expected a mapping, got {mapping!r}")
        for key in mapping:
            if key in RESERVED:
                raise fail(f"{where}.{key}", "is set by the study's `seeds` / the runner, not in config")
            if key not in fields:
                known = sorted(fields - set(RESERVED))
                hint = did_you_mean(key, known)
                raise fail(f"{where}.{key}", f"unknown key for benchmark {bench.name}{hint}; expected one of {known}")
        return dict(mapping)

    fixed = check_keys("config", spec.get("config"))
    search = spec.get("search", "grid")
    if search not in SEARCHES:
        raise fail("search", f"expected one of {list(SEARCHES)}, got {search!r}")
    grid_axes, sampled = _parse_sweep(fail, "sweep", check_keys("sweep", spec.get("sweep")), search)

    variants = spec.get("variants") or [{}]
    if not isinstance(variants, list):
        raise fail("variants", f"expected a list of {{config:, sweep:}} mappings, got {variants!r}")
    points: list[dict[str, Any]] = []
    for index, variant in enumerate(variants):
        where = f"variants[{index}]"
        if not isinstance(variant, Mapping) or set(variant) - {"config", "sweep"}:
            raise fail(where, f"expected a mapping with `config` and/or `sweep`, got {variant!r}")
        v_fixed = check_keys(f"{where}.config", variant.get("config"))
        v_grid, v_sampled = _parse_sweep(
            fail, f"{where}.sweep", check_keys(f"{where}.sweep", variant.get("sweep")), search
        )
        if v_sampled:
            raise fail(f"{where}.sweep", "variants take grid axes only")
        axes = {**grid_axes, **v_grid}
        for combo in itertools.product(*axes.values()):
            points.append({**v_fixed, **dict(zip(axes, combo))})

    seeds = _parse_seeds(fail, spec.get("seeds", 1))
    per_trial = spec.get("seeds_per_trial", len(seeds))
    if isinstance(per_trial, bool) or not isinstance(per_trial, int) or per_trial < 1:
        raise fail("seeds_per_trial", f"expected an integer >= 1, got {per_trial!r}")

    # Validate every trial's config now, so a bad value fails before anything runs or is written.
    probe_seeds = tuple(seeds[:per_trial])
    for point in points:
        _probe(fail, bench, {**fixed, **point}, probe_seeds, point)
        for axis in sampled.values():
            for value in axis.values or (axis.low, axis.high):
                _probe(fail, bench, {**fixed, **point, axis.key: value}, probe_seeds, {axis.key: value})

    metrics, modes = _parse_objectives(fail, spec, bench, search)
    num_samples = spec.get("num_samples", 1)
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise fail("num_samples", f"expected an integer >= 1, got {num_samples!r}")
    if search == "grid" and num_samples != 1:
        raise fail("num_samples", "is for search: random or optuna; a grid runs each point once")
    search_seed = spec.get("search_seed", 0)
    if isinstance(search_seed, bool) or not isinstance(search_seed, int) or search_seed < 0:
        raise fail("search_seed", f"expected an integer >= 0, got {search_seed!r}")
    max_concurrent = spec.get("max_concurrent", 0)
    if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 0:
        raise fail("max_concurrent", f"expected an integer >= 0, got {max_concurrent!r}")
    resources = _parse_resources(fail, spec.get("resources") or {})
    sampler, optuna_storage = _parse_optuna(fail, spec, search, len(metrics))
    if search == "optuna":
        if len(points) > 1:
            raise fail("sweep", "Optuna samples its axes: use uniform, loguniform or choice axes, no grids or variants")
        if not sampled:
            raise fail("sweep", "search: optuna needs at least one uniform / loguniform / choice axis to search")
        if len(seeds) != per_trial:
            raise fail("seeds_per_trial", "search: optuna runs every seed in each trial (its value is their mean)")
        max_concurrent = max_concurrent or 4
    scheduler = _parse_scheduler(fail, spec.get("scheduler"), len(metrics))
    max_failures = _count(fail, "max_failures", spec.get("max_failures", 2), minimum=0)
    checkpoint_every = _count(fail, "checkpoint_every", spec.get("checkpoint_every", 1), minimum=1)
    wave_size = _count(fail, "wave_size", spec.get("wave_size", 250), minimum=1)
    return Study(
        name=name,
        source=path,
        benchmark=bench.name,
        fixed=fixed,
        points=tuple(points),
        sampled=tuple(sampled.values()),
        seeds=seeds,
        seeds_per_trial=per_trial,
        metric=metrics[0],
        mode=modes[0],
        metrics=metrics,
        modes=modes,
        sampler=sampler,
        optuna_storage=optuna_storage,
        scheduler=scheduler,
        max_failures=max_failures,
        checkpoint_every=checkpoint_every,
        wave_size=wave_size,
        search=search,
        search_seed=search_seed,
        num_samples=num_samples,
        max_concurrent=max_concurrent,
        resources=resources,
        spec={"name": name, **spec},
    )


def _probe(fail, bench, values: dict[str, Any], seeds: tuple[int, ...], shown: dict[str, Any]) -> None:
    try:
        cfg = bench.make_config({**values, "seeds": seeds})
    except ConfigError as error:
        key = error.key if error.key != "config" else next(iter(shown), "config")
        where = "sweep" if key in shown else "config"
        raise fail(f"{where}.{key}", f"expected {error.expected}, got {error.value!r}") from None
    try:
        bench.check(cfg)  # what the trial needs (a data set, an environment): before anything is written
    except ConfigError as error:
        where = "sweep" if error.key in shown else "config"
        raise fail(f"{where}.{error.key}", f"expected {error.expected}, got {error.value!r}") from None
    except ValueError as error:
        key = "dataset" if hasattr(cfg, "dataset") else "config"
        raise fail(f"{'sweep' if key in shown else 'config'}.{key}", str(error)) from None


def _number(fail, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(where, f"expected a finite number, got {value!r}")
    return float(value)


def _parse_sweep(fail, where: str, sweep: dict[str, Any], search: str) -> tuple[dict[str, list], dict[str, Axis]]:
    """Grid axes → {key: values}; sampled axes → {key: Axis}."""
    grid: dict[str, list] = {}
    sampled: dict[str, Axis] = {}
    for key, axis in sweep.items():
        here = f"{where}.{key}"
        if not isinstance(axis, Mapping) or len(axis) != 1 or next(iter(axis)) not in AXIS_KINDS:
            raise fail(here, f"expected one of {{{' | '.join(AXIS_KINDS)}: ...}}, got {axis!r}")
        kind, value = next(iter(axis.items()))
        if kind in ("grid", "choice"):
            if not isinstance(value, list) or not value:
                raise fail(f"{here}.{kind}", f"expected a non-empty list, got {value!r}")
            if kind == "grid" and search == "optuna":
                raise fail(here, "Optuna cannot sample a grid axis: use {choice: [...]} or {loguniform: [low, high]}")
            if kind == "grid" or search == "grid":
                grid[key] = list(value)  # under a grid search a choice is enumerated too
            else:
                sampled[key] = Axis(key, "choice", values=tuple(value))
        elif kind == "logspace":
            if search == "optuna":
                raise fail(here, "Optuna cannot sample a logspace grid: use {loguniform: [low, high]}")
            if not isinstance(value, list) or len(value) != 3:
                raise fail(f"{here}.logspace", f"expected [low, high, count], got {value!r}")
            low, high = (_number(fail, f"{here}.logspace", v) for v in value[:2])
            count = value[2]
            if low <= 0 or high <= low or isinstance(count, bool) or not isinstance(count, int) or count < 2:
                raise fail(f"{here}.logspace", f"expected 0 < low < high and an integer count >= 2, got {value!r}")
            ratio = (high / low) ** (1.0 / (count - 1))
            grid[key] = [float(f"{low * ratio**i:.6g}") for i in range(count)]
        else:
            if search == "grid":
                raise fail(here, f"{kind} axes are sampled: use search: random or optuna (or a grid / logspace axis)")
            if not isinstance(value, list) or len(value) != 2:
                raise fail(f"{here}.{kind}", f"expected [low, high], got {value!r}")
            low, high = (_number(fail, f"{here}.{kind}", v) for v in value)
            if high <= low or (kind == "loguniform" and low <= 0):
                raise fail(
                    f"{here}.{kind}", f"expected {'0 < ' if kind == 'loguniform' else ''}low < high, got {value!r}"
                )
            sampled[key] = Axis(key, kind, low=low, high=high)
    return grid, sampled


def _parse_seeds(fail, value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise fail("seeds", f"expected a count >= 1 or a list of seeds, got {value!r}")
        if value > MAX_SEEDS:
            raise fail("seeds", f"at most {MAX_SEEDS} seeds per study (each is a row per report), got {value}")
        return tuple(range(value))
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) > MAX_SEEDS:
        raise fail("seeds", f"at most {MAX_SEEDS} seeds per study (each is a row per report), got {len(value)}")
    if isinstance(value, Sequence) and not isinstance(value, str) and value:
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
            raise fail("seeds", f"expected non-negative integers, got {value!r}")
        if len(set(value)) != len(value):
            raise fail("seeds", f"expected distinct seeds, got {value!r}")
        return tuple(value)
    raise fail("seeds", f"expected a count >= 1 or a list of seeds, got {value!r}")


def _parse_resources(fail, value: Any) -> Resources:
    if not isinstance(value, Mapping) or set(value) - {"cpu", "gpu"}:
        raise fail("resources", f"expected {{cpu: n, gpu: fraction}}, got {value!r}")
    cpu = _number(fail, "resources.cpu", value.get("cpu", 1))
    gpu = _number(fail, "resources.gpu", value.get("gpu", 0))
    if cpu <= 0:
        raise fail("resources.cpu", f"expected a number > 0, got {cpu!r}")
    if gpu < 0:
        raise fail("resources.gpu", f"expected a number >= 0, got {gpu!r}")
    return Resources(cpu=cpu, gpu=gpu)


def _count(fail, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail(key, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _parse_objectives(fail, spec: Mapping[str, Any], bench, search: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    metric = spec.get("metric", bench.metrics[0])
    metrics = list(metric) if isinstance(metric, list) else [metric]
    mode = spec.get("mode", "min")
    modes = list(mode) if isinstance(mode, list) else [mode] * len(metrics)
    if not metrics or len(set(map(str, metrics))) != len(metrics):
        raise fail("metric", f"expected a metric or a list of distinct metrics, got {metric!r}")
    for name in metrics:
        if name not in bench.metrics:
            raise fail("metric", f"expected one of {list(bench.metrics)}, got {name!r}")
    if len(modes) != len(metrics) or any(m not in ("min", "max") for m in modes):
        raise fail("mode", f"expected min or max (one per metric), got {mode!r}")
    if len(metrics) > 1 and search != "optuna":
        raise fail("metric", "several objectives need search: optuna")
    return tuple(metrics), tuple(modes)


def _parse_optuna(fail, spec: Mapping[str, Any], search: str, objectives: int) -> tuple[str, str | None]:
    options = spec.get("optuna")
    if options is None:
        return "tpe", None
    if search != "optuna":
        raise fail("optuna", "is for search: optuna")
    if not isinstance(options, Mapping) or set(options) - {"sampler", "storage"}:
        raise fail("optuna", f"expected {{sampler: {'|'.join(SAMPLERS)}, storage: URL}}, got {options!r}")
    sampler = options.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise fail("optuna.sampler", f"expected one of {list(SAMPLERS)}, got {sampler!r}")
    if sampler == "cmaes" and objectives > 1:
        raise fail("optuna.sampler", "cmaes searches one objective: use tpe, gp or random for several")
    storage = options.get("storage")
    if storage is not None and (not isinstance(storage, str) or "://" not in storage):
        raise fail("optuna.storage", f"expected an RDB URL such as postgresql://host/db, got {storage!r}")
    if storage is not None and _secrets.literal_password(storage):
        # a copy of the study is saved beside its results, and Tune pickles the storage: neither may keep it
        raise fail(
            "optuna.storage",
            f"holds a password ({_secrets.redact(storage)}): name an environment variable instead, "
            "postgresql://user:${PGPASSWORD}@host/db, so that no copy of the study keeps it",
        )
    return sampler, storage


def _parse_scheduler(fail, value: Any, objectives: int) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {value: {}}
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in SCHEDULERS:
        raise fail("scheduler", f"expected {{asha: {{grace_period, reduction_factor, max_t}}}}, got {value!r}")
    if objectives > 1:
        raise fail("scheduler", "early stopping needs one objective; a multi-objective search runs every trial")
    name, options = next(iter(value.items()))
    defaults = SCHEDULERS[name]
    if not isinstance(options, Mapping) or set(options) - set(defaults):
        raise fail(f"scheduler.{name}", f"expected keys among {sorted(defaults)}, got {options!r}")
    merged = {**defaults, **options}
    for key in ("grace_period", "max_t"):
        _count(fail, f"scheduler.{name}.{key}", merged[key], minimum=1)
    if merged["max_t"] < merged["grace_period"]:
        raise fail(
            f"scheduler.{name}.max_t", f"expected >= grace_period ({merged['grace_period']}), got {merged['max_t']}"
        )
    rf = merged["reduction_factor"]
    if isinstance(rf, bool) or not isinstance(rf, (int, float)) or rf <= 1:
        raise fail(f"scheduler.{name}.reduction_factor", f"expected a number > 1, got {rf!r}")
    return {name: merged}
