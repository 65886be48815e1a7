"""The benchmark registry: name → module with ``NAME``, ``METRICS``, ``Config`` and ``run``.

Modules are imported on first use, so listing benchmarks costs nothing. A benchmark is a plain
function ``run(cfg, report)``: a typed config in, one value per seed and metric out through
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

    def run(self, cfg: Common, report: Report) -> None:
        self.module.run(cfg, report)


def available() -> tuple[str, ...]:
    """Names of the registered benchmarks."""
    return tuple(sorted(_MODULES))


def get(name: str) -> Benchmark:
    """The benchmark called ``name``; ValueError listing the known ones otherwise."""
    if name not in _MODULES:
        raise ConfigError("benchmark", name, f"one of {list(available())}")
    return Benchmark(name, importlib.import_module(_MODULES[name]))
