"""The figure registry (a benchmark's figure module found by name, ``register``, the generic
fallback), the generic curves' data step against exact rows, and ``syre-tune list`` reading the
benchmarks without importing them."""

from __future__ import annotations

import importlib
import io
import pkgutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from syre_tune import analysis, benchmarks, results
from syre_tune.analysis import figures

ROOT = Path(__file__).resolve().parents[1]
FIGURE_MODULES = sorted(m.name for m in pkgutil.iter_modules(figures.__path__) if not m.name.startswith("_"))


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``package({"mod.py": source, ...})`` writes an importable package under a fresh name on
    sys.path and returns that name; forgotten (and unregistered) after the test."""
    made: list[str] = []

    def make(files: dict[str, str]) -> str:
        name = f"user_pkg_{len(made)}_{tmp_path.name}".replace("-", "_")
        folder = tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        for filename, source in files.items():
            (folder / filename).write_text(textwrap.dedent(source))
        made.append(name)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for module in [m for m in sys.modules if any(m == n or m.startswith(f"{n}.") for n in made)]:
        del sys.modules[module]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made in the test are dropped after it."""
    monkeypatch.setattr(figures, "_REGISTERED", {})


# --- the registry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("benchmark", ["theorem4", "symmetry_objective"])
def test_figure_module_found_by_benchmark_name(benchmark: str) -> None:
    found = figures.figures_for(benchmark)
    module = importlib.import_module(f"syre_tune.analysis.figures.{benchmark}")
    assert found.source == module.__name__ and not found.generic
    assert found.write is module.write and found.summary is module.summary
    assert found.columns == (tuple(module.COLUMNS) if module.COLUMNS is not None else None)


@pytest.mark.parametrize("benchmark", ["no_such_benchmark", "no_such_package.bench", "_generic", "my-bench", "a..b"])
def test_unknown_benchmark_gets_the_generic_curves(benchmark: str) -> None:
    found = figures.figures_for(benchmark)
    assert found.generic and found.source == figures.GENERIC and found.columns is None


def test_user_benchmark_finds_its_sibling_figures_module(package) -> None:
    name = package(
        {
            "bench.py": "import this_module_does_not_exist  # the benchmark itself is never imported\n",
            "bench_figures.py": """
                COLUMNS = ["method", "seed", "iteration", "metric.loss"]
                def write(df, out):
                    return []
            """,
        }
    )
    found = figures.figures_for(f"{name}.bench")
    assert found.source == f"{name}.bench_figures" and found.columns == ("method", "seed", "iteration", "metric.loss")
    assert f"{name}.bench" not in sys.modules
    assert figures.figures_for(f"{name}.other").generic  # no other_figures module beside it


def test_register_a_callable_a_module_and_a_module_path(registry, package) -> None:
    def my_write(df, out):
        return []

    figures.register("theorem4", my_write)  # a registration wins over the built-in figure module
    found = figures.figures_for("theorem4")
    assert found.write is my_write and found.columns is None and found.summary is None
    assert found.source == "register(my_write)"
    figures.unregister("theorem4")
    assert figures.figures_for("theorem4").source == "syre_tune.analysis.figures.theorem4"

    module = types.ModuleType("my_figures")
    module.COLUMNS = ("seed",)
    module.write = my_write
    module.summary = lambda df: ["one line"]
    figures.register("mine", module)
    assert figures.figures_for("mine").columns == ("seed",)
    assert figures.figures_for("mine").summary(None) == ["one line"]

    name = package({"figs.py": "def write(df, out):\n    return []\n"})
    figures.register("mine", f"{name}.figs")
    assert f"{name}.figs" not in sys.modules  # imported when first needed
    assert figures.figures_for("mine").source == f"{name}.figs"


def test_register_checks_what_it_is_given(registry) -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        figures.register("", lambda df, out: [])
    with pytest.raises(TypeError, match="write\\(df, out\\) callable"):
        figures.register("mine", 42)
    with pytest.raises(ValueError, match="dotted module path"):
        figures.register("mine", "not a module path")
    with pytest.raises(ValueError, match="expected a function write"):
        figures.register("mine", types.ModuleType("no_write"))
    bad = types.ModuleType("bad_columns")
    bad.write, bad.COLUMNS = (lambda df, out: []), "metric.loss"
    with pytest.raises(ValueError, match="COLUMNS to be a sequence of column names"):
        figures.register("mine", bad)


@pytest.mark.parametrize("name", [*FIGURE_MODULES, "_generic"])
def test_figure_module_contract(name: str) -> None:
    """Every figure module in syre_tune/analysis/figures/ keeps the contract, and is named after a
    registered benchmark (a misspelt name would silently give that benchmark the generic curves)."""
    module = importlib.import_module(f"syre_tune.analysis.figures.{name}")
    figures._from_module(name, module)  # ValueError where it breaks the contract
    assert (module.__doc__ or "").strip(), "a figure module says what it draws in its docstring"
    if not name.startswith("_"):
        assert name in benchmarks.available()
        assert figures.figures_for(name).source == module.__name__


def test_figure_modules_load_lazily_and_without_torch_or_ray() -> None:
    names = [f"syre_tune.analysis.figures.{m}" for m in [*FIGURE_MODULES, "_generic"]]
    code = (
        "import sys, importlib, syre_tune.analysis\n"
        f"names = {names!r}\n"
        "assert not [n for n in names if n in sys.modules], 'imported with syre_tune.analysis'\n"
        "for n in names: importlib.import_module(n)\n"
        "print('torch' in sys.modules, 'ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_moved_names_still_import_from_analysis() -> None:
    from syre_tune.analysis import HYPERPARAMETER, draw_theorem4, theorem4_info, tradeoff_info
    from syre_tune.analysis.figures import symmetry_objective, theorem4

    assert theorem4_info is theorem4.theorem4_info and draw_theorem4 is theorem4.draw_theorem4
    assert tradeoff_info is symmetry_objective.tradeoff_info and HYPERPARAMETER["syre"] == "gamma"
    with pytest.raises(AttributeError):
        analysis.no_such_name  # noqa: B018


# --- the generic curves: data step ------------------------------------------------------------------


def curve_rows() -> pd.DataFrame:
    """2 methods × 3 seeds × 3 iterations: loss = 100·[weight decay] + 10·seed + iteration/10,
    accuracy = 0.5 + seed/10 (NaN for syre seed 1 at iteration 30), and an error marker row."""
    rows = []
    for trial, method, sigma0 in (("t0", "syre", 0.1), ("t1", "weight_decay", None)):
        for seed in range(3):
            for iteration in (10, 20, 30):
                loss = 100.0 * (method == "weight_decay") + 10.0 * seed + iteration / 10
                accuracy = np.nan if (method, seed, iteration) == ("syre", 1, 30) else 0.5 + seed / 10
                rows.append(
                    {
                        "trial_id": trial,
                        "method": method,
                        "sigma0": sigma0,
                        "gamma": 0.01,
                        "seed": seed,
                        "iteration": iteration,
                        "status": "ok",
                        "config.width": 64,
                        "metric.loss": loss,
                        "metric.accuracy": accuracy,
                    }
                )
    # The trial that raised: iteration and metrics null, and a σ0 no measurement has (it must not
    # count as a setting that varies).
    rows.append({"trial_id": "t2", "method": "syre", "sigma0": 0.5, "gamma": 0.01, "seed": 0, "status": "error"})
    return pd.DataFrame(rows)


def test_curves_info_exact() -> None:
    info = analysis.curves_info(curve_rows())
    assert list(info.columns) == ["method", "label", "seed", "iteration", "metric", "value"]
    assert info["seed"].dtype == np.int64 and info["iteration"].dtype == np.int64
    expected = [
        ("syre", "", 0, 10, "loss", 1.0),
        ("syre", "", 0, 20, "loss", 2.0),
        ("syre", "", 0, 30, "loss", 3.0),
        ("syre", "", 1, 10, "loss", 11.0),
        ("syre", "", 1, 20, "loss", 12.0),
        ("syre", "", 1, 30, "loss", 13.0),
        ("syre", "", 2, 10, "loss", 21.0),
        ("syre", "", 2, 20, "loss", 22.0),
        ("syre", "", 2, 30, "loss", 23.0),
        ("weight_decay", "", 0, 10, "loss", 101.0),
        ("weight_decay", "", 0, 20, "loss", 102.0),
        ("weight_decay", "", 0, 30, "loss", 103.0),
        ("weight_decay", "", 1, 10, "loss", 111.0),
        ("weight_decay", "", 1, 20, "loss", 112.0),
        ("weight_decay", "", 1, 30, "loss", 113.0),
        ("weight_decay", "", 2, 10, "loss", 121.0),
        ("weight_decay", "", 2, 20, "loss", 122.0),
        ("weight_decay", "", 2, 30, "loss", 123.0),
        ("syre", "", 0, 10, "accuracy", 0.5),
        ("syre", "", 0, 20, "accuracy", 0.5),
        ("syre", "", 0, 30, "accuracy", 0.5),
        ("syre", "", 1, 10, "accuracy", 0.6),
        ("syre", "", 1, 20, "accuracy", 0.6),  # (syre, 1, 30) was NaN: dropped
        ("syre", "", 2, 10, "accuracy", 0.7),
        ("syre", "", 2, 20, "accuracy", 0.7),
        ("syre", "", 2, 30, "accuracy", 0.7),
        ("weight_decay", "", 0, 10, "accuracy", 0.5),
        ("weight_decay", "", 0, 20, "accuracy", 0.5),
        ("weight_decay", "", 0, 30, "accuracy", 0.5),
        ("weight_decay", "", 1, 10, "accuracy", 0.6),
        ("weight_decay", "", 1, 20, "accuracy", 0.6),
        ("weight_decay", "", 1, 30, "accuracy", 0.6),
        ("weight_decay", "", 2, 10, "accuracy", 0.7),
        ("weight_decay", "", 2, 20, "accuracy", 0.7),
        ("weight_decay", "", 2, 30, "accuracy", 0.7),
    ]
    assert [tuple(row) for row in info.itertuples(index=False)] == expected


def sweep_rows() -> pd.DataFrame:
    """syre at σ0 ∈ {0.1, 1} (γ 0.01), weight decay at γ ∈ {0.01, 0.1}; width fixed; two devices."""
    rows = []
    runs = [("t2", "weight_decay", None, 0.01, "cpu"), ("t0", "syre", 0.1, 0.01, "cpu")]  # a null σ0 first
    runs += [("t1", "syre", 1.0, 0.01, "cuda:0"), ("t3", "weight_decay", None, 0.1, "cpu")]
    for trial, method, sigma0, gamma, device in runs:
        for seed in (0, 1):
            for iteration in (1, 2):
                row = {"trial_id": trial, "method": method, "sigma0": sigma0, "sigma_d": 0.0, "gamma": gamma}
                row.update({"seed": seed, "iteration": iteration, "config.width": 64, "config.device": device})
                rows.append({**row, "metric.loss": 1000 * (sigma0 or 0) + 100 * gamma + seed + iteration})
    return pd.DataFrame(rows)


def test_curves_info_labels_the_settings_that_vary_within_a_method() -> None:
    df = sweep_rows()
    assert analysis.varying_settings(df) == ["sigma0", "gamma"]  # not width (fixed) nor device (where)
    info = analysis.curves_info(df)
    labels = info.groupby("method", sort=True)["label"].unique().map(list).to_dict()
    assert labels == {
        "syre": ["sigma0=0.1, gamma=0.01", "sigma0=1, gamma=0.01"],
        "weight_decay": ["gamma=0.01", "gamma=0.1"],  # its null σ0 left out
    }
    kept = analysis.curves_info(df, keep=["sigma0"], last=True)
    assert list(kept.columns) == ["method", "label", "sigma0", "seed", "iteration", "metric", "value"]
    assert kept["iteration"].unique().tolist() == [2]
    syre = kept[kept["method"] == "syre"]
    assert syre[["label", "sigma0", "seed", "value"]].to_dict("records") == [
        {"label": "gamma=0.01", "sigma0": 0.1, "seed": 0, "value": 103.0},
        {"label": "gamma=0.01", "sigma0": 0.1, "seed": 1, "value": 104.0},
        {"label": "gamma=0.01", "sigma0": 1.0, "seed": 0, "value": 1003.0},
        {"label": "gamma=0.01", "sigma0": 1.0, "seed": 1, "value": 1004.0},
    ]
    with pytest.raises(ValueError, match="lack columns \\['config.nope'\\]"):
        analysis.curves_info(df, keep=["config.nope"])


def test_curves_info_of_nothing_is_empty_with_its_columns() -> None:
    info = analysis.curves_info(curve_rows().iloc[-1:])  # the error marker only
    assert info.empty and list(info.columns) == ["method", "label", "seed", "iteration", "metric", "value"]


# --- the generic curves: draw step --------------------------------------------------------------


def rendered(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_draw_curves_renders_one_panel_per_metric() -> None:
    fig = analysis.draw_curves(analysis.curves_info(curve_rows()), n_boot=50)
    assert rendered(fig)[:4] == b"\x89PNG"
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    assert all(ax.get_xlabel() == "iteration" for ax in fig.axes)
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["syre", "weight_decay"]
    # 3 seeds per point: a band (a filled polygon) per method
    assert len(fig.axes[0].collections) == 2


def test_draw_curves_styles_by_setting_and_against_a_swept_value() -> None:
    info = analysis.curves_info(sweep_rows())
    fig = analysis.draw_curves(info, n_boot=50)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "sigma0=0.1, gamma=0.01" in texts and "gamma=0.1" in texts
    assert rendered(fig)[:4] == b"\x89PNG"
    swept = analysis.draw_curves(
        analysis.curves_info(sweep_rows(), keep=["sigma0"], last=True).dropna(subset=["sigma0"]),
        x="sigma0",
        metrics=["loss"],
        log_x=True,
        max_styles=0,
        n_boot=50,
    )
    (ax,) = swept.axes
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "sigma0" and "pooled over 1 settings" in ax.get_title()
    assert rendered(swept)[:4] == b"\x89PNG"
    empty = analysis.draw_curves(analysis.curves_info(curve_rows().iloc[-1:]))
    assert rendered(empty)[:4] == b"\x89PNG"


# --- analyze() through the registry ---------------------------------------------------------------


def write_study(folder: Path, df: pd.DataFrame, benchmark: str, config: dict[str, type], metrics: tuple) -> Path:
    """A study folder as the runner writes it: one Parquet part in the results schema, provenance."""
    schema = results.schema_for(config, metrics)
    columns = {f.name: pa.array(df[f.name], f.type) if f.name in df else pa.nulls(len(df), f.type) for f in schema}
    results.write_table_atomic(pa.table(columns, schema=schema), folder / "results" / "part-t0.parquet")
    results.write_json_atomic({"benchmark": benchmark}, folder / "provenance.json")
    return folder


def test_analyze_a_benchmark_without_figure_module_writes_the_curves(tmp_path: Path) -> None:
    df = curve_rows().assign(error=lambda d: np.where(d["status"] == "error", "ValueError: boom", None))
    study = write_study(tmp_path / "study", df, "someones_pkg.own_bench", {"width": int}, ("loss", "accuracy"))
    written = analysis.analyze(study)
    out = study / "figures"
    assert sorted(p.name for p in written) == ["curves.csv", "curves.pdf", "curves.png", "summary.txt"]
    assert all(p.parent == out and p.stat().st_size > 0 for p in written)
    table = pd.read_csv(out / "curves.csv", keep_default_na=False)
    expected = analysis.curves_info(curve_rows())
    assert len(table) == 35 and table["value"].tolist() == expected["value"].tolist()
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "summary.txt").read_text().splitlines() == [
        "loss at the last iteration, mean over seeds: syre 13, weight_decay 113 (3 runs each)",  # (3 + 13 + 23) / 3
        # seed 1's last accuracy is NaN: syre has 2 runs
        "accuracy at the last iteration, mean over seeds: syre 0.6 (2 runs), weight_decay 0.6 (3 runs)",
    ]


def test_analyze_uses_a_registered_write(tmp_path: Path, registry) -> None:
    study = write_study(tmp_path / "study", curve_rows(), "my_bench", {"width": int}, ("loss", "accuracy"))
    seen = []

    def write(df, out):
        seen.append(sorted(df["status"].unique()))
        (out / "mine.txt").write_text("drawn")
        return [out / "mine.txt"]

    analysis.register("my_bench", write)
    assert analysis.analyze(study, tmp_path / "out") == [tmp_path / "out" / "mine.txt"]
    assert seen == [["ok"]]  # measurement rows only


def test_analyze_reads_only_the_columns_a_module_asks_for(tmp_path: Path, registry, monkeypatch) -> None:
    study = write_study(tmp_path / "study", curve_rows(), "my_bench", {"width": int}, ("loss", "accuracy"))
    module = types.ModuleType("my_bench_figures")
    module.COLUMNS = ["method", "seed", "iteration", "metric.loss"]
    module.write = lambda df, out: [analysis.write_csv(df, out / "seen.csv")]
    analysis.register("my_bench", module)
    analysis.analyze(study)
    assert list(pd.read_csv(study / "figures" / "seen.csv").columns) == module.COLUMNS


# --- syre-tune list -------------------------------------------------------------------------------


def test_list_imports_neither_torch_nor_torchvision() -> None:
    code = (
        "import sys; from syre_tune.cli import main; main(['list']); "
        "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in benchmarks.available():
        assert name in done.stdout


@pytest.mark.parametrize("name", benchmarks.available())
def test_describe_reads_what_importing_gives(name: str) -> None:
    bench = benchmarks.get(name)
    assert benchmarks.describe(name) == benchmarks.Description(name, bench.summary, bench.metrics)


def test_describe_imports_a_module_whose_metrics_are_not_literal(package) -> None:
    name = package(
        {
            "literal.py": '''
                """My benchmark: one line.

                More text."""
                import this_module_does_not_exist
                METRICS: tuple[str, ...] = ("loss", "accuracy")
            ''',
            "computed.py": '''
                """Computed metrics."""
                BASE = ("loss",)
                METRICS = BASE + ("accuracy",)
                Config = dict
                def run(cfg, report, resume=None):
                    pass
            ''',
        }
    )
    assert benchmarks.describe(f"{name}.literal") == benchmarks.Description(
        f"{name}.literal", "My benchmark: one line.", ("loss", "accuracy")
    )
    assert f"{name}.literal" not in sys.modules
    assert benchmarks.describe(f"{name}.computed").metrics == ("loss", "accuracy")
    assert f"{name}.computed" in sys.modules
    with pytest.raises(benchmarks.ConfigError, match="benchmark"):
        benchmarks.describe("no_such_benchmark")
    with pytest.raises(benchmarks.ConfigError, match="benchmark"):
        benchmarks.describe(f"{name}.missing")
