"""The benchmark registry: name → module with ``NAME``, ``METRICS``, ``Config`` and ``run``.

Modules are imported on first use, so listing benchmarks costs nothing. A benchmark is a plain
function ``run(cfg, report, resume=None)``: a typed config in, one value per seed and metric out through
``report``. It never imports Ray.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.machinery
import importlib.util
import inspect
import textwrap
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from syre_tune.benchmarks._common import (
    METHOD_KNOBS,
    METHODS,
    Common,
    ConfigError,
    Report,
    build_config,
    unused_knobs,
)

__all__ = [
    "Benchmark",
    "ConfigError",
    "Description",
    "METHODS",
    "METHOD_KNOBS",
    "RESERVED_KEYS",
    "Report",
    "Setting",
    "available",
    "describe",
    "get",
    "settings",
    "Common",
    "unused_knobs",
]

RESERVED_KEYS = ("seeds", "device")
"""Config fields a study does not set: its ``seeds`` and the runner (the trial's device)."""

_MODULES = {
    "symmetry_objective": "syre_tune.benchmarks.symmetry_objective",
    "theorem4": "syre_tune.benchmarks.theorem4",
    "low_capacity_init": "syre_tune.benchmarks.low_capacity_init",
    "fcn_collapse": "syre_tune.benchmarks.fcn_collapse",
    "ntk_rank": "syre_tune.benchmarks.ntk_rank",
    "teacher_student": "syre_tune.benchmarks.teacher_student",
    "ridge": "syre_tune.benchmarks.ridge",
    "reparam_regression": "syre_tune.benchmarks.reparam_regression",
    "continual_permuted": "syre_tune.benchmarks.continual_permuted",
    "mode_connectivity": "syre_tune.benchmarks.mode_connectivity",
    "slippery_ant": "syre_tune.benchmarks.slippery_ant",
    "resnet_cifar": "syre_tune.benchmarks.resnet_cifar",
    "vae_posterior_collapse": "syre_tune.benchmarks.vae_posterior_collapse",
    "simclr": "syre_tune.benchmarks.simclr",
    "vit_cifar": "syre_tune.benchmarks.vit_cifar",
}


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark, loaded."""

    name: str
    module: ModuleType

    @property
    def config_cls(self) -> type:
        return self.module.Config

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.module.METRICS)

    @property
    def summary(self) -> str:
        return (self.module.__doc__ or "").strip().splitlines()[0]

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods this benchmark runs (its ``METHODS``; all of them if it does not say)."""
        return tuple(getattr(self.module, "METHODS", METHODS))

    def make_config(self, values: dict[str, Any]) -> Common:
        """Typed config from a flat mapping; raises ConfigError naming the key (and a method the
        benchmark does not run)."""
        cfg = build_config(self.config_cls, values)
        if cfg.method not in self.methods:
            raise ConfigError("method", cfg.method, f"one of {list(self.methods)} (the methods {self.name} runs)")
        return cfg

    def check(self, cfg: Common) -> None:
        """What a trial needs besides its config (a data set on disk): the benchmark's ``check``,
        if it has one; raises a one-line error before anything runs or is written."""
        check = getattr(self.module, "check", None)
        if check is not None:
            check(cfg)

    def reports(self, cfg: Common) -> int | None:
        """How many times a trial of ``cfg`` reports (its rows per seed), where the benchmark
        says (its ``reports(cfg)``); None where it does not."""
        count = getattr(self.module, "reports", None)
        return None if count is None else int(count(cfg))

    def trial_memory(self, cfg: Common) -> int | None:
        """Bytes one trial of ``cfg`` (all its seeds) needs, where the benchmark estimates it (its
        ``trial_memory(cfg)``); None where it does not."""
        estimate = getattr(self.module, "trial_memory", None)
        return None if estimate is None else int(estimate(cfg))

    @property
    def loss(self) -> str:
        """The metric whose NaN/inf marks a diverged run."""
        return getattr(self.module, "LOSS", self.metrics[0])

    def run(self, cfg: Common, report: Report, resume: dict[str, Any] | None = None) -> None:
        """Run ``cfg``; with ``resume`` (a state passed to ``report``) continue after that point."""
        self.module.run(cfg, report, resume=resume)


@dataclass(frozen=True)
class Setting:
    """One key a study's ``config:`` or ``sweep:`` may set: from the benchmark's typed Config."""

    name: str
    type: str
    default: Any
    doc: str
    """The first line of the field's docstring (the string right after it in the class body)."""


def settings(bench: Benchmark) -> list[Setting]:
    """Every config key of ``bench`` a study may set, in the Config's order, with its type, default
    and the first line of its docstring, read from the source of the Config and its bases."""
    docs: dict[str, str] = {}
    for cls in reversed(bench.config_cls.__mro__):  # a subclass's docstring wins over its base's
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:]):
            text = after.value.value if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) else None
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(text, str):
                docs[node.target.id] = " ".join(text.split())
    unused = frozenset.intersection(*(unused_knobs(method) for method in bench.methods))
    used = {knob for method in bench.methods for knob in METHOD_KNOBS.get(method, ())}
    docs["method"] = f"One of {' | '.join(bench.methods)}."
    if "sigma0" in used:
        docs["sigma0"] = f"{docs.get('sigma0', '')} {sigma0_units(bench)}".strip()
    found = []
    for field in dataclasses.fields(bench.config_cls):
        if field.name in RESERVED_KEYS or field.name in unused:  # a knob none of its methods reads
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = field.default_factory()  # type: ignore[misc]
        kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
        found.append(Setting(field.name, kind, default, docs.get(field.name, "")))
    return found


def sigma0_units(bench: Benchmark) -> str:
    """What ``sigma0`` means in ``bench``: relative units (θ0's std σ0/√fan_in per tensor, the
    core's convention and every benchmark's default) or absolute, as its Config's ``relative``
    field (where it has one) says; a benchmark without that field is always relative."""
    field = next((f for f in dataclasses.fields(bench.config_cls) if f.name == "relative"), None)
    relative = "Units: relative, θ0's std is σ0/√fan_in per tensor (a bias takes its layer's fan-in)"
    if field is None:
        return f"{relative}."
    if field.default:
        return f"{relative}; relative: false makes σ0 the std itself."
    return "Units: absolute, σ0 is θ0's std (relative: true for σ0/√fan_in)."


def available() -> tuple[str, ...]:
    """Names of the registered benchmarks."""
    return tuple(sorted(_MODULES))


@dataclass(frozen=True)
class Description:
    """What ``syre-tune list`` shows of a benchmark: read from its source, without importing it."""

    name: str
    summary: str
    """The first line of the module's docstring."""
    metrics: tuple[str, ...]
    """Its ``METRICS``."""


def describe(name: str) -> Description:
    """The summary line and ``METRICS`` of benchmark ``name`` (registered, or a dotted module path),
    read from the module's source with ``ast``: neither the module nor what it imports (torch,
    torchvision) is loaded. A module whose ``METRICS`` is not a literal tuple of strings at its top
    level is imported instead. ConfigError if there is no such module."""
    module_name = _MODULES.get(name, name)
    try:
        spec = importlib.util.find_spec(module_name) if "." in module_name else None
    except (ImportError, ValueError):  # its package is missing, or is not a package
        spec = None
    if spec is None:
        expected = f"one of {list(available())} or an importable module path (package.module)"
        raise ConfigError("benchmark", name, expected)
    source = _source(spec)
    if source is not None:
        tree = ast.parse(source)
        metrics = _literal_strings(tree, "METRICS")
        if metrics is not None:
            lines = (ast.get_docstring(tree) or "").strip().splitlines()
            return Description(name, lines[0] if lines else "", metrics)
    bench = get(name)
    return Description(name, bench.summary, bench.metrics)


def _source(spec: importlib.machinery.ModuleSpec) -> str | None:
    """A module's source text, read by its loader without executing it; None if it has none."""
    get_source = getattr(spec.loader, "get_source", None)
    if get_source is None:
        return None
    try:
        return get_source(spec.name)
    except (ImportError, OSError):
        return None


def _literal_strings(tree: ast.Module, name: str) -> tuple[str, ...] | None:
    """The value of the last top-level ``name = (...)`` in ``tree`` if it is a literal tuple or list
    of strings; None otherwise."""
    found = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            found = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            found = node.value
    if found is None:
        return None
    try:
        value = ast.literal_eval(found)
    except ValueError:  # not a literal (built from other names)
        return None
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def get(name: str) -> Benchmark:
    """The benchmark called ``name``, or a module of your own named by its dotted import path
    (``mypackage.my_benchmark``, importable on every Ray node); ConfigError otherwise."""
    expected = f"one of {list(available())} or an importable module path (package.module)"
    if name in _MODULES:
        return Benchmark(name, importlib.import_module(_MODULES[name]))
    if not isinstance(name, str) or "." not in name:
        raise ConfigError("benchmark", name, expected)
    try:
        module = importlib.import_module(name)
    except ImportError:
        raise ConfigError("benchmark", name, expected) from None
    missing = [attr for attr in ("METRICS", "Config", "run") if not hasattr(module, attr)]
    if missing:
        raise ConfigError("benchmark", name, f"a module defining METRICS, Config and run (it lacks {missing})")
    return Benchmark(name, module)
