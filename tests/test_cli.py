"""The command line end to end: a smoke study on local Ray → Parquet → figures; bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from syre_tune import results

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "syre_tune.cli"]


def syre_tune(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage = tmp_path_factory.mktemp("storage")
    done = syre_tune("run", "studies/quickstart.yaml", "--smoke", "--storage", str(storage))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "wrote" in done.stdout
    (storage / "run.out").write_text(done.stdout + done.stderr)  # for the display's tests
    return storage / "quickstart"


def test_quickstart_writes_one_parquet_dataset_per_study(quickstart: Path) -> None:
    assert sorted(p.name for p in quickstart.iterdir()) == ["theorem4", "tradeoff"]
    for study in ("theorem4", "tradeoff"):
        table = pads.dataset(quickstart / study / "results", format="parquet").to_table()
        names = table.column_names
        assert names[:10] == [
            "study",
            "trial_id",
            "benchmark",
            "method",
            "sigma0",
            "sigma_d",
            "gamma",
            "seed",
            "iteration",
            "time_s",
        ]
        assert any(n.startswith("config.") for n in names) and any(n.startswith("metric.") for n in names)
        df = table.to_pandas()
        assert set(df["study"]) == {study}
        assert not df.duplicated(["trial_id", "seed", "iteration"]).any()
        provenance = json.loads((quickstart / study / "provenance.json").read_text())
        assert {"ray", "torch", "syre_tune", "started", "finished"} <= set(provenance)
        assert provenance["rows"] == len(df) and provenance["errored"] == []
        assert (quickstart / study / "study.yaml").exists()
        assert not list((quickstart / study / "results").glob(".*tmp"))


def test_dry_run_predicts_the_rows_and_writes_nothing(quickstart: Path, tmp_path: Path) -> None:
    never = tmp_path / "never"
    done = syre_tune("run", "studies/quickstart.yaml", "--smoke", "--dry-run", "--storage", str(never))
    assert done.returncode == 0 and not never.exists(), done.stderr[-2000:]
    lines = done.stdout.splitlines()
    for study in ("theorem4", "tradeoff"):
        head = next(i for i, line in enumerate(lines) if line.startswith(f"{study}: "))
        df = results.read(quickstart / study)
        trials = df.trial_id.nunique()
        assert lines[head].startswith(f"{study}: {trials} trials, {df.seed.nunique()} seeds")
        rows = int(re.search(r"rows: ([\d,]+);", lines[head + 1]).group(1).replace(",", ""))
        assert rows == len(df)
        number, unit = re.search(r"Parquet: about ([\d.]+) (KiB|MiB)", lines[head + 1]).groups()
        predicted = float(number) * {"KiB": 2**10, "MiB": 2**20}[unit]
        written = sum(p.stat().st_size for p in (quickstart / study / "results").glob("part-*"))
        assert 0.5 < predicted / written < 3.0, (predicted, written)  # random metrics compress less
        assert "memory per trial: about " in lines[head + 2]


def test_run_shows_one_line_per_study_its_headline_and_none_of_rays_noise(quickstart: Path) -> None:
    """The display's last line per study counts what the Parquet data holds; the headline (the first
    three lines of summary.txt) comes before the figure paths; Ray's table and log lines are not shown."""
    out = (quickstart.parent / "run.out").read_text()
    lines = out.splitlines()
    for study, trials in (("theorem4", 12), ("tradeoff", 10)):
        rows = pads.dataset(quickstart / study / "results").count_rows()
        final = next(line for line in lines if line.startswith(f"{study}: ") and "finished in" in line)
        assert final.startswith(f"{study}: {trials} done, 0 running, 0 pending, 0 failed of {trials} · {rows} rows · ")
        headline = (quickstart / study / "figures" / "summary.txt").read_text().splitlines()[:3]
        written = f"[syre-tune]   wrote {quickstart / study / 'figures'}/"
        first_path = next(i for i, line in enumerate(lines) if line.startswith(written))
        assert lines[first_path - 3 : first_path] == [f"  {line}" for line in headline]
    assert "Theorem 4: Pr(min|Δ| > ε = 0.01) reaches 0.5 at γσ0 = " in out
    for noise in ("== Status ==", "FIFO scheduling", "Result logdir", "Token authentication", "trainable_"):
        assert noise not in out


def test_verbose_shows_rays_table_instead(tmp_path: Path) -> None:
    study = tmp_path / "s.yaml"
    study.write_text("benchmark: theorem4\nconfig: {steps: 20}\nsweep: {sigma0: {grid: [0.1, 1.0]}}\nseeds: 2\n")
    done = syre_tune("run", str(study), "--storage", str(tmp_path / "out"), "--no-analyze", "--verbose")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "== Status ==" in done.stdout and "finished in" not in done.stdout


def test_theorem4_rows(quickstart: Path) -> None:
    df = pads.dataset(quickstart / "theorem4" / "results").to_table().to_pandas()
    assert df["config.n_symmetries"].nunique() >= 3
    assert df.groupby(["config.n_symmetries", "sigma0"])["seed"].nunique().min() >= 50
    assert df["sigma_d"].eq(0.0).all() and df["metric.grad_norm"].max() < 1e-6


def test_tradeoff_nulls_unused_knobs(quickstart: Path) -> None:
    df = pads.dataset(quickstart / "tradeoff" / "results").to_table().to_pandas()
    assert set(df["method"]) == {"syre", "weight_decay", "w_fix", "dropout", "vanilla"}
    assert df.loc[df["method"] == "w_fix", ["sigma0", "gamma"]].isna().all().all()
    assert df.loc[df["method"] == "weight_decay", "sigma0"].isna().all()
    assert df.loc[df["method"] == "syre", ["sigma0", "gamma"]].notna().all().all()
    # the other methods' knobs in config.* too: null where the row's method does not read them
    assert df.loc[df["method"] == "syre", ["config.kappa", "config.phi", "config.dropout"]].isna().all().all()
    assert df.loc[df["method"] == "w_fix", ["config.phi", "config.kappa"]].notna().all().all()
    assert df.loc[df["method"] == "w_fix", "config.dropout"].isna().all()
    assert df.loc[df["method"] == "dropout", "config.dropout"].notna().all()
    assert df["config.dim"].notna().all()  # the benchmark's own settings stay


def test_figures_and_tables_written(quickstart: Path) -> None:
    for study, stem in (("theorem4", "theorem4"), ("tradeoff", "tradeoff")):
        figures = quickstart / study / "figures"
        for suffix in ("png", "pdf"):
            assert (figures / f"{stem}.{suffix}").stat().st_size > 1000
        assert list(figures.glob("*.csv"))


def test_other_readers_need_no_package(quickstart: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    polars = pytest.importorskip("polars")
    import pandas as pd

    results = quickstart / "theorem4" / "results"
    expected = len(pd.read_parquet(results))
    assert duckdb.sql(f"select count(*) from read_parquet('{results}/*.parquet')").fetchall()[0][0] == expected
    assert polars.read_parquet(f"{results}/*.parquet").height == expected


def test_analyze_command_on_a_folder_of_studies(quickstart: Path, tmp_path: Path) -> None:
    done = syre_tune("analyze", str(quickstart), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "theorem4" / "theorem4.png").exists() and (tmp_path / "tradeoff" / "tradeoff.png").exists()


def test_list() -> None:
    done = syre_tune("list")
    assert done.returncode == 0
    assert (
        "theorem4" in done.stdout and "symmetry_objective" in done.stdout and "studies/quickstart.yaml" in done.stdout
    )


@pytest.mark.parametrize(
    "content,needle",
    [
        (None, "no such study file"),
        ("benchmark: [unclosed\n", "not valid YAML"),
        ("benchmark: mnist_mlp\n", "unknown benchmark 'mnist_mlp'"),
        ("benchmark: theorem4\nconfig: {colour: red}\n", "config.colour: unknown key"),
        ("benchmark: theorem4\nconfig: {sigma0: -1.0}\n", "config.sigma0: expected a number >= 0"),
        ("benchmark: theorem4\nsweep: {gamma: {grid: [1.0, -0.5]}}\n", "sweep.gamma: expected a number >= 0"),
        (
            "benchmark: theorem4\nsweep: {method: {grid: [syre, w_fix]}}\n",
            "sweep.method: expected one of ['syre', 'weight_decay', 'vanilla'] (the methods theorem4 runs), "
            "got 'w_fix'",
        ),
        (
            "benchmark: low_capacity_init\nconfig: {collapsed_fraction: -0.1}\n",
            "config.collapsed_fraction: expected a fraction in [0, 1], got -0.1",
        ),
        (
            "benchmark: low_capacity_init\nconfig: {dataset: mnist, data_root: /nonexistent/data}\n",
            "config.dataset: mnist: not found in /nonexistent/data",
        ),
        ("benchmark: low_capacity_init\nconfig: {dataset: mnits}\n", "did you mean 'mnist'?"),
        ("benchmark: slippery_ant\nconfig: {change_every_steps: 0}\n", "change_every_steps: expected an integer >= 1"),
        ("benchmark: slippery_ant\nconfig: {friction_low: 2, friction_high: 1}\n", "0 < friction_low < friction_high"),
        (
            "benchmark: resnet_cifar\nconfig: {dataset: synthetic_cifar10}\nsweep: {sigma0: {grid: [0.1, -0.1]}}\n",
            "sweep.sigma0: expected a number >= 0",
        ),
        (
            "benchmark: simclr\nconfig: {dataset: synthetic_cifar100, params: ['projector.*']}\n",
            "config.params: expected patterns that each select a parameter ('projector.*' selects none of",
        ),
        (
            "benchmark: resnet_cifar\nconfig: {data_root: /nonexistent/data}\n",
            "cifar10: not found in /nonexistent/data",
        ),
        ("benchmark: slippery_ant\nconfig: {env: Nope-v0}\n", "config.env: expected a registered gymnasium id"),
        ("benchmark: slippery_ant\nconfig: {method: w_fix}\n", "(the methods slippery_ant runs), got 'w_fix'"),
        ("benchmark: slippery_ant\nconfig: {method: shrink_perturb, shrink: -0.1}\n", "shrink: expected a number in"),
        (
            "benchmark: theorem4\nsearch: optuna\nsweep: {sigma0: {loguniform: [0.1, 1]}}\n"
            "optuna: {storage: 'postgresql://me:hunter2@db/x'}\n",
            "optuna.storage: holds a password (postgresql://me:***@db/x): name an environment variable instead",
        ),
        ("benchmark: theorem4\nseeds: 100000000\nseeds_per_trial: 100000000\n", "seeds: at most 1000000"),
        ("benchmark: theorem4\nwave_size: 0\n", "wave_size: expected an integer >= 1, got 0"),
        ("benchmark: theorem4\nwave_size: -5\n", "wave_size: expected an integer >= 1, got -5"),
    ],
)
def test_bad_study_is_one_line_exit_2_nothing_written(tmp_path: Path, content: str | None, needle: str) -> None:
    study = tmp_path / "bad.yaml"
    if content is not None:
        study.write_text(content)
    storage = tmp_path / "storage"
    done = syre_tune("run", str(study), "--storage", str(storage), timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in done.stderr
    assert not storage.exists()


def test_a_trial_larger_than_any_node_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    study = tmp_path / "big.yaml"  # theorem4 with d = 3000: a 72 MB basis per seed, 100 seeds a trial
    study.write_text("benchmark: theorem4\nconfig: {n_symmetries: 3000, extra_dims: 0}\nseeds: 100\n")
    storage = tmp_path / "storage"
    done = syre_tune("run", str(study), "--storage", str(storage), timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("syre-tune")]
    assert len(lines) == 1 and "a trial of big needs about " in lines[0] and "lower seeds_per_trial" in lines[0]
    assert re.search(r"about [\d.]+ GiB \(theorem4's estimate for 100 seeds per trial\)", lines[0]), lines[0]
    assert not storage.exists()


def test_resume_with_dry_run_is_one_line_exit_2(tmp_path: Path) -> None:
    done = syre_tune("resume", "x", "--dry-run", "--storage", str(tmp_path / "s"))
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "syre-tune: error: --dry-run is for run; a resume continues what exists "
        "(syre-tune status NAME shows what is left)"
    ]
    assert not (tmp_path / "s").exists()


def test_existing_results_are_not_overwritten_silently(tmp_path: Path) -> None:
    (tmp_path / "storage" / "theorem4").mkdir(parents=True)
    done = syre_tune("run", "studies/theorem4.yaml", "--storage", str(tmp_path / "storage"), timeout=120)
    assert done.returncode == 2 and "already exists" in done.stderr


def test_resume_while_its_driver_runs_is_refused(tmp_path: Path) -> None:
    import socket

    study = tmp_path / "storage" / "theorem4"
    (study / "tune").mkdir(parents=True)
    (study / "tune" / "tuner.pkl").write_bytes(b"")
    (study / "study.yaml").write_text((ROOT / "studies" / "theorem4.yaml").read_text())
    driver = {"host": socket.gethostname(), "pid": os.getpid()}  # this process: alive
    (study / "status.json").write_text(json.dumps({"finished": False, "driver": driver}))
    before = sorted(p.relative_to(study) for p in study.rglob("*"))
    done = syre_tune("resume", "theorem4", "--storage", str(tmp_path / "storage"), timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"its driver (pid {os.getpid()}, this host) still runs" in done.stderr
    assert sorted(p.relative_to(study) for p in study.rglob("*")) == before


def test_analyze_missing_folder(tmp_path: Path) -> None:
    done = syre_tune("analyze", str(tmp_path / "nothing"))
    assert done.returncode == 2 and "no study results" in done.stderr


def test_random_search_is_seeded_and_within_bounds(tmp_path: Path) -> None:
    study = tmp_path / "rand.yaml"
    study.write_text(
        "benchmark: theorem4\nconfig: {gamma: 0.1, n_symmetries: 2, steps: 50}\nsearch: random\nnum_samples: 3\n"
        "sweep: {sigma0: {loguniform: [0.001, 1.0]}}\nseeds: 4\nmetric: min_abs_delta\nmode: max\n"
    )
    from syre_tune import runner
    from syre_tune import study as studies

    drawn = []
    try:  # two runs of the study in one local Ray (the CLI path is the quickstart's test)
        for name in ("a", "b"):
            (loaded,) = studies.load(study)
            runner.run_study(loaded, results.location(tmp_path / "s" / name), verbose=0)
            df = pads.dataset(tmp_path / "s" / name / "results").to_table().to_pandas()
            drawn.append(sorted(df.groupby("trial_id")["sigma0"].first()))
    finally:
        runner.shutdown()
    assert drawn[0] == drawn[1] and len(set(drawn[0])) == 3
    assert all(0.001 <= value <= 1.0 for value in drawn[0])


TINY = "benchmark: theorem4\nconfig: {gamma: 0.1, n_symmetries: 2, steps: 50}\nseeds: 4\n"


@pytest.mark.parametrize(
    "extra,storage,needle",
    [
        ("", "nosuchscheme://bucket/results", "not a storage location pyarrow.fs understands"),
        ("", "/proc/sys/syre-tune", "is not a writable folder"),
        ("resources: {gpu: 1}\n", None, "no node can run one trial of bad: it asks resources: {cpu: 1, gpu: 1}"),
        (
            "search: optuna\nsweep: {sigma0: {logspace: [0.01, 1.0, 3]}}\n",
            None,
            "sweep.sigma0: Optuna cannot sample a logspace grid",
        ),
    ],
)
def test_unusable_storage_or_resources_is_one_line_exit_2(
    tmp_path: Path, extra: str, storage: str | None, needle: str
) -> None:
    study = tmp_path / "bad.yaml"
    study.write_text(TINY + extra)
    storage = storage or str(tmp_path / "storage")
    done = syre_tune("run", str(study), "--storage", storage, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.strip().splitlines() if line.startswith("syre-tune")]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_unreachable_address_fails_fast(tmp_path: Path) -> None:
    study = tmp_path / "s.yaml"
    study.write_text(TINY)
    start = time.monotonic()
    done = syre_tune("run", str(study), "--storage", str(tmp_path / "st"), "--address", "127.0.0.1:9", timeout=120)
    assert done.returncode == 2 and time.monotonic() - start < 30
    assert done.stderr.strip().splitlines() == [
        "syre-tune: error: cannot reach the Ray cluster at 127.0.0.1:9: Connection refused"
    ]
    assert not (tmp_path / "st").exists()


def test_file_uri_storage_and_a_second_filesystem_read_it(tmp_path: Path) -> None:
    import fsspec
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    from syre_tune import results

    study = tmp_path / "s.yaml"
    study.write_text(TINY + "sweep: {sigma0: {grid: [0.1, 1.0]}}\n")
    done = syre_tune("run", str(study), "--storage", f"file://{tmp_path}/shared", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    other = PyFileSystem(FSSpecHandler(fsspec.filesystem("file")))
    df = results.read(f"{tmp_path}/shared/s", filesystem=other)
    assert len(df) == 2 * 4 and set(df["sigma0"]) == {0.1, 1.0}
    assert (tmp_path / "shared" / "s" / "figures" / "theorem4.png").exists()
    done = syre_tune("analyze", f"file://{tmp_path}/shared/s", "--out", str(tmp_path / "figs"))
    assert done.returncode == 0 and (tmp_path / "figs" / "theorem4.png").exists()
    assert syre_tune("analyze", "nosuchscheme://x/y").returncode == 2


def test_optuna_study_in_an_rdb_given_by_the_study(tmp_path: Path, monkeypatch) -> None:
    """The RDB URL names an environment variable (where a password goes): expanded to connect,
    kept as written in every file of the study, Ray Tune's pickled searcher state included."""
    import optuna

    hidden = tmp_path / "hidden-AB12CD"  # stands for a password: must not be written anywhere
    hidden.mkdir()
    monkeypatch.setenv("SYRE_TEST_DB_DIR", str(hidden))
    database = f"sqlite:///{hidden}/optuna.db"  # only the driver writes to it: SQLite is enough
    study = tmp_path / "o.yaml"
    study.write_text(
        TINY + "search: optuna\nsweep: {sigma0: {loguniform: [0.01, 1.0]}}\nnum_samples: 3\nmetric: min_abs_delta\n"
        "mode: max\noptuna: {sampler: random, storage: 'sqlite:///${SYRE_TEST_DB_DIR}/optuna.db'}\n"
    )
    done = syre_tune("run", str(study), "--storage", str(tmp_path / "s"), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    files = [p for p in (tmp_path / "s").rglob("*") if p.is_file()]
    assert any(p.name.startswith("searcher-state") for p in files)
    assert not [p for p in files if b"AB12CD" in p.read_bytes()]
    assert "${SYRE_TEST_DB_DIR}" in (tmp_path / "s" / "o" / "study.yaml").read_text()
    loaded = optuna.load_study(study_name="o", storage=database)
    assert [t.state.name for t in loaded.trials] == ["COMPLETE"] * 3
    assert not (tmp_path / "s" / "o" / "optuna.journal").exists()
    assert (tmp_path / "s" / "o" / "figures" / "optuna_history.png").exists()


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: its modification time and bytes."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()
    }


def test_resume_of_a_finished_study_says_so_and_touches_nothing(quickstart: Path) -> None:
    before = snapshot(quickstart)
    done = syre_tune("resume", "quickstart", "--storage", str(quickstart.parent), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all("nothing to resume, nothing changed" in line for line in lines), lines
    assert lines[0].startswith("[syre-tune] theorem4: finished (12 of 12 trials done, none failed; updated ")
    assert snapshot(quickstart) == before


def test_a_study_name_or_a_results_folder_is_found_for_the_user(quickstart: Path, tmp_path: Path) -> None:
    done = syre_tune("status", "quickstrat", "--storage", str(quickstart.parent), timeout=120)
    assert done.returncode == 2 and "no study of that name (did you mean 'quickstart'?)" in done.stderr
    # a study's results/ folder, as a user pastes it from run's last line, analyses that study
    done = syre_tune("analyze", str(quickstart / "theorem4" / "results"), "--out", str(tmp_path / "figs"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "figs" / "theorem4.png").exists(), done.stdout


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("benchmark: theorem4\nconfig: {n_symetries: 3}\n", "config.n_symetries: unknown key for benchmark theorem4 "
         "(did you mean 'n_symmetries'?)"),
        ("benchmark: theorm4\n", "unknown benchmark 'theorm4' (did you mean 'theorem4'?)"),
        ("benchmark: theorem4\nsweeps: {}\n", "sweeps: unknown key (did you mean 'sweep'?)"),
        ("benchmark: theorem4\nsmoke: {config: {stpes: 5}}\n", "smoke.config.stpes: unknown key for benchmark "
         "theorem4 (did you mean 'steps'?)"),
    ],
)  # fmt: skip
def test_typos_get_a_suggestion_and_a_bad_smoke_block_fails_without_smoke(text: str, needle: str, tmp_path) -> None:
    from syre_tune import study

    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(study.StudyError) as error:
        study.load(path)  # without --smoke: the smoke: block is checked too
    assert needle in str(error.value)


def test_list_benchmark_shows_every_key_with_its_type_default_and_meaning() -> None:
    import dataclasses

    from syre_tune.benchmarks import fcn_collapse

    done = syre_tune("list", "fcn_collapse", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[1] == f"methods: {', '.join(fcn_collapse.METHODS)}"
    assert lines[2] == f"metrics: {', '.join(fcn_collapse.METRICS)}"
    assert lines[3].startswith("figures: syre_tune.analysis.figures.fcn_collapse: ")
    rows = {line.split()[0]: line for line in lines if line.startswith("  ")}
    # fcn_collapse runs syre and weight decay: the other methods' knobs are not listed
    other_methods = ("phi", "kappa", "dropout", "shrink", "perturb", "redo_tau", "redo_every")
    fields = [f for f in dataclasses.fields(fcn_collapse.Config) if f.name not in ("seeds", "device", *other_methods)]
    assert list(rows) == [f.name for f in fields]  # every key a study may set, in the Config's order
    for field in fields:
        default = "null" if field.default is None else repr(field.default)
        assert rows[field.name].split()[2] == default.split()[0], rows[field.name]
    assert rows["width"].split(None, 3)[1:] == [
        "int",
        "300",
        "Units of each of the three hidden layers (the paper: 300).",
    ]
    assert "Report (and allow a checkpoint) every this many steps, and at the end." in rows["report_every"]
    assert rows["method"].endswith("One of weight_decay | syre.")
    units = "Units: relative, θ0's std is σ0/√fan_in per tensor (a bias takes its layer's fan-in)."
    assert rows["sigma0"].endswith(units)
    theorem4 = syre_tune("list", "theorem4", timeout=120)
    sigma0 = next(line for line in theorem4.stdout.splitlines() if line.split()[:1] == ["sigma0"])
    assert sigma0.endswith("Units: absolute, σ0 is θ0's std (relative: true for σ0/√fan_in).")
    wrong = syre_tune("list", "fcn_colapse", timeout=120)
    assert wrong.returncode == 2 and "(did you mean 'fcn_collapse'?)" in wrong.stderr
