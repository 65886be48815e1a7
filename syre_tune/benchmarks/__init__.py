"""The benchmark registry: name → module with ``NAME``, ``METRICS``, ``Config`` and ``run``.

Modules are imported on first use, so listing benchmarks costs nothing. A benchmark is a plain
function ``run(cfg, report, resume=None)``: a typed config in, one value per seed and metric out through
``report``. It never imports Ray.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from syre_tune.benchmarks._common import METHOD_KNOBS, METHODS, Common, ConfigError, Report, build_config

__all__ = ["Benchmark", "ConfigError", "METHODS", "METHOD_KNOBS", "Report", "available", "get", "Common"]

_MODULES = {
    "symmetry_objective": "syre_tune.benchmarks.symmetry_objective",
    "theorem4": "syre_tune.benchmarks.theorem4",
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

    def make_config(self, values: dict[str, Any]) -> Common:
        """Typed config from a flat mapping; raises ConfigError naming the key."""
        return build_config(self.config_cls, values)

    @property
    def loss(self) -> str:
        """The metric whose NaN/inf marks a diverged run."""
        return getattr(self.module, "LOSS", self.metrics[0])

    def run(self, cfg: Common, report: Report, resume: dict[str, Any] | None = None) -> None:
        """Run ``cfg``; with ``resume`` (a state passed to ``report``) continue after that point."""
        self.module.run(cfg, report, resume=resume)


def available() -> tuple[str, ...]:
    """Names of the registered benchmarks."""
    return tuple(sorted(_MODULES))


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
