"""Which figures ``analyze`` draws for a benchmark: one figure module per benchmark, found by name.

Where a benchmark's figures come from (first match wins):

1. :func:`register` ``(benchmark, figures)``, for this process (a notebook, your own driver);
2. a figure module found by its name, imported only when that benchmark is analysed:
   a built-in benchmark ``NAME`` → ``syre_tune/analysis/figures/NAME.py`` (the module
   ``syre_tune.analysis.figures.NAME``); your own benchmark, named by its dotted module path
   ``mypkg.my_bench`` → the module ``mypkg.my_bench_figures`` (beside it, so that analysing never
   imports the benchmark itself, nor torch);
3. otherwise the generic curves (``_generic.py``): every metric against iteration, a line per
   method (and per varying setting), bootstrap 95 % bands over seeds → ``curves.csv``,
   ``curves.png``, ``curves.pdf``.

Nothing else needs editing to add a benchmark's figures: no list, no if/elif on names.

The figure-module contract
--------------------------
A figure module is a Python file named after the benchmark (above) that defines:

``COLUMNS: Sequence[str] | None``  (optional; default None)
    The results columns ``write`` and ``summary`` read, e.g. ``("trial_id", "seed", "iteration",
    "method", "sigma0", "config.width", "metric.test_accuracy")``; None reads them all. Listing
    them makes large studies load faster. Each must be a column of the benchmark's results schema
    (``syre_tune.results``: identity columns, ``config.<key>``, ``metric.<name>``).

``def write(df: pandas.DataFrame, out: pathlib.Path) -> list[pathlib.Path]``  (required)
    ``df``: the study's measurement rows (status ``ok`` or ``diverged``; no error or stopped
    markers), the ``COLUMNS`` only. ``out``: an existing folder. Write the figures and tables
    there and return every path written. Keep the steps apart (STYLE.md 6):

    - data steps ``<name>_info(df, ...) -> pandas.DataFrame``: pure pandas/numpy, tested for exact
      values, in this module (or a private ``syre_tune.analysis._<name>.py`` it imports);
    - draw steps ``draw_<name>(info, ...) -> matplotlib Figure``: seaborn/matplotlib that only
      render, importing seaborn inside the function and getting pyplot from
      ``syre_tune.analysis.pyplot()`` (file-only backend), smoke-tested to a buffer;
    - files through the shared helpers, ``syre_tune.analysis.write_csv(info, out / "x.csv")``
      (returns the path) and ``syre_tune.analysis.save_figure(fig, out, "x")`` (x.png + x.pdf,
      returns both paths, closes the figure). Name the files after the figure, not the study.

    For "a metric against a swept value (or iteration), a line per method, bootstrap bands over
    seeds", use the shared steps instead of writing new ones::

        info = curves_info(df, keep=["sigma0"], last=True)  # tidy: method, label, sigma0, seed, ...
        fig = draw_curves(info, x="sigma0", metrics=["test_accuracy"], log_x=True)

    and ``write_curves(df, out)`` adds the generic curves to your own figures (all three from
    ``syre_tune.analysis``; ``write_curves`` needs ``COLUMNS = None`` or the columns it plots).

``def summary(df: pandas.DataFrame) -> list[str]``  (optional)
    A few lines of findings from the same ``df`` (e.g. "syre has the lowest degree of symmetry:
    yes"); ``analyze`` writes them to ``out/summary.txt``. Compute them with the data steps.

Import only numpy, pandas and ``syre_tune.analysis`` at module level (no torch, no Ray, no
benchmark module: a laptop analyses results without them). Test the data steps for exact values
and ``write`` on a hand-made DataFrame (see tests/test_analysis_registry.py); the contract test
there checks every module in this folder, and that its name is a registered benchmark's.

Minimal example, ``syre_tune/analysis/figures/ridge.py``::

    '''The figures of the ``ridge`` benchmark: test loss against σ0.'''
    from syre_tune.analysis import curves_info, draw_curves, save_figure, write_csv

    COLUMNS = ("trial_id", "method", "seed", "iteration", "sigma0", "metric.test_loss")

    def ridge_info(df):
        return curves_info(df, keep=["sigma0"], last=True)

    def write(df, out):
        info = ridge_info(df)
        fig = draw_curves(info, x="sigma0", metrics=["test_loss"], log_x=True)
        return [write_csv(info, out / "ridge.csv"), *save_figure(fig, out, "ridge")]

:func:`register` accepts such a module, its dotted path (imported when first needed), or a bare
``write(df, out)`` callable (all columns, no summary). :func:`figures_for` says what a benchmark
gets.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["GENERIC", "Figures", "figures_for", "module_name", "register", "unregister"]

GENERIC = "syre_tune.analysis.figures._generic"
"""The figure module of a benchmark that has none of its own."""

_REGISTERED: dict[str, ModuleType | str | Callable[..., Any]] = {}


@dataclass(frozen=True)
class Figures:
    """A benchmark's figures, resolved: what ``analyze`` reads and calls."""

    benchmark: str
    source: str
    """Where they came from: a module name, or ``register(<callable name>)``."""
    write: Callable[[Any, Path], list[Path]]
    columns: tuple[str, ...] | None = None
    """The results columns to read; None for all."""
    summary: Callable[[Any], list[str]] | None = None

    @property
    def generic(self) -> bool:
        """Whether these are the generic curves (the benchmark has no figures of its own)."""
        return self.source == GENERIC


def register(benchmark: str, figures: ModuleType | str | Callable[..., Any]) -> None:
    """Use ``figures`` for ``benchmark`` in this process, before any figure module found by name:
    a figure module (see the contract above), its dotted module path (imported when first needed),
    or a callable ``write(df, out) -> list[Path]``. Registering a name again replaces it."""
    if not isinstance(benchmark, str) or not benchmark:
        raise ValueError(f"register: benchmark must be a non-empty name, got {benchmark!r}")
    if isinstance(figures, ModuleType):
        _from_module(benchmark, figures)  # check the contract now, not at analysis time
    elif isinstance(figures, str):
        if not all(part.isidentifier() for part in figures.split(".")):
            raise ValueError(f"register: expected a dotted module path such as 'mypkg.my_figures', got {figures!r}")
    elif not callable(figures):
        raise TypeError(
            f"register: expected a figure module, its dotted path or a write(df, out) callable, got {figures!r}"
        )
    _REGISTERED[benchmark] = figures


def unregister(benchmark: str) -> None:
    """Forget what :func:`register` gave ``benchmark`` (nothing happens if it gave nothing)."""
    _REGISTERED.pop(benchmark, None)


def module_name(benchmark: str) -> str | None:
    """The figure module a benchmark's name points to (whether or not it exists): built-in names
    → ``syre_tune.analysis.figures.<name>``, dotted paths → ``<path>_figures``; None for a name
    that cannot name a module."""
    parts = benchmark.split(".")
    if not all(part.isidentifier() for part in parts) or benchmark.startswith("_"):
        return None
    return f"{__name__}.{benchmark}" if len(parts) == 1 else f"{benchmark}_figures"


def _exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # its package is missing or is not a package
        return False


def figures_for(benchmark: str) -> Figures:
    """The figures of ``benchmark``: registered, else its figure module, else the generic curves."""
    registered = _REGISTERED.get(benchmark)
    if isinstance(registered, ModuleType):
        return _from_module(benchmark, registered)
    if isinstance(registered, str):
        return _from_module(benchmark, importlib.import_module(registered))
    if registered is not None:
        return Figures(benchmark, f"register({getattr(registered, '__name__', repr(registered))})", registered)
    name = module_name(benchmark)
    if name is None or not _exists(name):
        name = GENERIC
    return _from_module(benchmark, importlib.import_module(name))


def _from_module(benchmark: str, module: ModuleType) -> Figures:
    """Check ``module`` against the contract; ValueError saying what it lacks."""
    where = f"figure module {module.__name__} (for benchmark {benchmark!r})"
    write = getattr(module, "write", None)
    if not callable(write):
        raise ValueError(f"{where}: expected a function write(df, out) -> list[Path], got {write!r}")
    columns = getattr(module, "COLUMNS", None)
    if columns is not None:
        names = not isinstance(columns, str) and isinstance(columns, Sequence)
        if not names or not all(isinstance(c, str) for c in columns):
            raise ValueError(f"{where}: expected COLUMNS to be a sequence of column names or None, got {columns!r}")
        columns = tuple(columns)
    summary = getattr(module, "summary", None)
    if summary is not None and not callable(summary):
        raise ValueError(f"{where}: expected summary to be a function summary(df) -> list[str], got {summary!r}")
    return Figures(benchmark, module.__name__, write, columns, summary)
