"""Optuna analysis: studies built with the optuna API in a temporary folder (no Ray), data steps
checked against brute-force computations, draw steps and analyze() smoke-rendered."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from syre_tune import analysis, results

METRICS = ("objective", "symmetry_degree")
# A few of symmetry_objective.Config's fields (importing the benchmark would import torch).
SCHEMA = results.schema_for({"spectrum": str, "dim": int, "steps": int}, METRICS)


def journal(study_dir: Path) -> optuna.storages.JournalStorage:
    backend = optuna.storages.journal.JournalFileBackend(str(study_dir / "optuna.journal"))
    return optuna.storages.JournalStorage(backend)


def write_rows(study_dir: Path, rows: list[dict]) -> None:
    names = set(SCHEMA.names)
    full = []
    for row in rows:
        row = {"benchmark": "symmetry_objective", "study": study_dir.name, "time_s": 1.0, **row}
        if "status" in names:
            row.setdefault("status", "ok" if row.get("iteration") is not None else "error")
        full.append({k: v for k, v in row.items() if k in names})
    results.write_table_atomic(pa.Table.from_pylist(full, schema=SCHEMA), study_dir / "results" / "part-0.parquet")


def write_study(study_dir: Path, spec: dict, rows: list[dict]) -> None:
    study_dir.mkdir(parents=True, exist_ok=True)
    (study_dir / "study.yaml").write_text(yaml.safe_dump({"name": study_dir.name, **spec}, sort_keys=False))
    (study_dir / "provenance.json").write_text(json.dumps({"benchmark": spec["benchmark"]}))
    write_rows(study_dir, rows)


def trial_rows(study: optuna.Study) -> list[dict]:
    """Two seeds, two iterations per complete trial (what the runner would have written)."""
    rows = []
    for trial in study.trials:
        if trial.state.name != "COMPLETE":
            continue
        values = trial.values + [0.0] * (2 - len(trial.values))
        for seed, iteration in itertools.product((0, 1), (0, 10)):
            row = {"trial_id": f"t{trial.number}", "method": "syre", "seed": seed, "iteration": iteration}
            row.update(sigma0=trial.params["sigma0"], gamma=trial.params["gamma"], sigma_d=None)
            row.update({"config.spectrum": "unstructured", "config.dim": 8, "config.steps": 10})
            row.update({"metric.objective": values[0], "metric.symmetry_degree": values[1]})
            rows.append(row)
    return rows


def single_objective(trial: optuna.Trial) -> float:
    sigma0 = trial.suggest_float("sigma0", 1e-3, 1e3, log=True)
    gamma = trial.suggest_float("gamma", 0.0, 1.0)
    if trial.number == 3:
        raise RuntimeError("trial 3 raised")
    if trial.number == 7:
        return float("nan")  # diverged: Optuna marks it FAIL
    return math.log10(sigma0) ** 2 + gamma


def two_objectives(trial: optuna.Trial) -> tuple[float, float]:
    sigma0 = trial.suggest_float("sigma0", 1e-2, 1e2, log=True)
    gamma = trial.suggest_float("gamma", 0.0, 1.0)
    return gamma**2 + 0.1 * abs(math.log10(sigma0)), (1.0 - gamma) ** 2 + 0.05 * math.log10(sigma0) ** 2


# (study, method, gamma, [(objective, degree) at the last iteration per seed])
GRID = [
    ("grid", "syre", 0.1, [(0.0, 0.9), (0.2, 0.7)]),
    ("grid", "syre", 0.5, [(0.25, 0.25), (0.25, 0.25)]),
    ("grid", "syre", 0.9, [(0.8, 0.0), (0.82, 0.02)]),
    ("grid", "weight_decay", 0.1, [(0.1, 0.9), (0.1, 0.9)]),  # dominated by syre γ=0.1 (0.1, 0.8)
    ("grid", "weight_decay", 0.5, [(0.3, 0.2), (0.3, 0.2)]),
    ("grid", "weight_decay", 0.9, [(0.5, 0.6), (0.5, 0.6)]),  # dominated
]


def grid_rows(study: str, spectrum: str) -> list[dict]:
    rows = []
    for trial, (_, method, gamma, seeds) in enumerate(GRID):
        for seed, (objective, degree) in enumerate(seeds):
            row = {"trial_id": f"g{trial}", "method": method, "seed": seed, "gamma": gamma, "sigma0": 1.0}
            row.update({"config.spectrum": spectrum, "config.dim": 8, "config.steps": 10, "study": study})
            rows.append({**row, "iteration": 0, "metric.objective": 9.0, "metric.symmetry_degree": 9.0})
            rows.append({**row, "iteration": 10, "metric.objective": objective, "metric.symmetry_degree": degree})
    rows.append({"trial_id": "g_err", "method": "syre", "seed": 0, "config.spectrum": spectrum, "study": study})
    return rows


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    root = tmp_path_factory.mktemp("storage")
    optuna_spec = {"benchmark": "symmetry_objective", "search": "optuna", "config": {"spectrum": "unstructured"}}

    single_dir = root / "single"
    single_dir.mkdir()
    single = optuna.create_study(
        study_name="single", storage=journal(single_dir), sampler=optuna.samplers.RandomSampler(seed=0)
    )
    single.optimize(single_objective, n_trials=20, catch=(RuntimeError,))
    write_study(single_dir, {**optuna_spec, "metric": "objective", "mode": "min"}, trial_rows(single))

    multi_dir = root / "multi"
    multi_dir.mkdir()
    multi = optuna.create_study(
        study_name="multi",
        storage=journal(multi_dir),
        directions=["minimize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    multi.optimize(two_objectives, n_trials=25)
    spec = {**optuna_spec, "metric": list(METRICS), "mode": ["min", "min"], "optuna": {"sampler": "random"}}
    write_study(multi_dir, spec, trial_rows(multi))

    grid_spec = {"benchmark": "symmetry_objective", "search": "grid", "metric": "objective"}
    write_study(root / "grid", grid_spec, grid_rows("grid", "unstructured"))
    # not comparable: another spectrum, a random search, no optuna storage
    write_study(root / "grid_structured", grid_spec, grid_rows("grid_structured", "structured"))
    write_study(root / "random", {**grid_spec, "search": "random"}, grid_rows("random", "unstructured"))
    write_study(root / "nostorage", {**optuna_spec, "metric": "objective"}, grid_rows("nostorage", "unstructured")[:-1])
    return root


def brute_force_front(points: np.ndarray) -> list[int]:
    """Indices of the points no other point dominates (every objective minimised)."""
    front = []
    for i, p in enumerate(points):
        dominated = any(all(q <= p) and any(q < p) for j, q in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def test_optuna_trials_single_objective_exact(storage: Path) -> None:
    trials = analysis.optuna_trials(storage / "single")
    study = analysis.load_optuna_study(storage / "single")
    assert list(trials.columns) == [
        "number",
        "state",
        "sigma0",
        "gamma",
        "value.objective",
        "datetime_start",
        "datetime_complete",
        "best",
    ]
    assert trials["number"].tolist() == list(range(20))
    assert trials.loc[trials["state"] == "FAIL", "number"].tolist() == [3, 7]
    assert (trials["state"] == "COMPLETE").sum() == 18
    assert trials.loc[trials["state"] == "FAIL", "value.objective"].isna().all()
    best = trials[trials["best"]]
    assert len(best) == 1
    assert best["sigma0"].item() == study.best_trial.params["sigma0"]
    assert best["value.objective"].item() == trials["value.objective"].min() == study.best_value
    complete = trials[trials["state"] == "COMPLETE"]
    expected = np.log10(complete["sigma0"]) ** 2 + complete["gamma"]
    assert complete["value.objective"].tolist() == pytest.approx(expected.tolist())
    assert analysis.optuna_log_params(study) == ["sigma0"]
    assert analysis.optuna_objectives(analysis.study_spec(storage / "single"), study) == [("objective", "min")]


def test_optuna_trials_pareto_matches_brute_force(storage: Path) -> None:
    trials = analysis.optuna_trials(storage / "multi")
    assert "pareto" in trials and "best" not in trials
    assert len(trials) == 25 and (trials["state"] == "COMPLETE").all()
    points = trials[["value.objective", "value.symmetry_degree"]].to_numpy()
    expected = brute_force_front(points)
    assert trials.index[trials["pareto"]].tolist() == expected
    assert 1 < len(expected) < 25
    mask = analysis.nondominated_mask(points, ["min", "min"])
    assert np.flatnonzero(mask).tolist() == expected


def test_nondominated_mask_modes_ties_and_nan() -> None:
    points = np.array([[2.5, 5.0], [2.0, 6.0], [2.0, 6.0], [0.5, 1.0], [np.nan, 9.0], [3.0, 6.0]])
    # (min, max): (2, 6) twice: a tie, both stay; (2.5, 5) and (3, 6) are worse than (2, 6); NaN rows never count
    assert analysis.nondominated_mask(points, ["min", "max"]).tolist() == [False, True, True, True, False, False]
    assert analysis.nondominated_mask(points, ["min", "min"]).tolist() == [False, False, False, True, False, False]


def test_grid_tradeoff_exact(storage: Path) -> None:
    rows = analysis.optuna_grid_rows(storage / "multi")
    assert set(rows["study"]) == {"grid"}  # the other spectrum and the random search are left out
    objectives = [("objective", "min"), ("symmetry_degree", "min")]
    table = analysis.grid_tradeoff(rows, objectives)
    assert table["trial_id"].tolist() == [f"g{i}" for i in range(len(GRID))]
    means = np.array([np.mean(seeds, axis=0) for *_, seeds in GRID])
    assert table[["value.objective", "value.symmetry_degree"]].to_numpy() == pytest.approx(means)
    assert table["method"].tolist() == [method for _, method, _, _ in GRID]
    assert table["seeds"].tolist() == [2] * len(GRID)
    assert np.flatnonzero(table["nondominated"]).tolist() == brute_force_front(means) == [0, 1, 2, 4]
    assert analysis.optuna_grid_rows(storage / "single", metrics=["objective", "no_such_metric"]).empty


def test_importances_seeded_and_degenerate(storage: Path) -> None:
    study = analysis.load_optuna_study(storage / "single")
    first = analysis.optuna_importances(study, [("objective", "min")])
    assert first.equals(analysis.optuna_importances(study, [("objective", "min")]))
    by_param = first.set_index("param")["importance"]
    assert by_param["sigma0"] > by_param["gamma"]  # (log10 σ0)² spans 0..9, γ only 0..1
    assert sum(by_param) == pytest.approx(1.0)

    one = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    one.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=1)
    assert analysis.optuna_importances(one).empty
    flat = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    flat.optimize(lambda t: 0.0 * t.suggest_float("x", 0, 1) * t.suggest_float("y", 0, 1), n_trials=3)
    assert analysis.optuna_importances(flat).empty  # zero variance: Optuna raises, we return nothing
    fig = analysis.draw_optuna_importances(analysis.optuna_importances(one))
    assert fig.axes[0].get_xlabel()


def test_analyze_writes_optuna_files(storage: Path, tmp_path: Path) -> None:
    single = analysis.optuna_report(storage / "single", tmp_path / "single")  # analyze() adds only this
    multi = analysis.analyze(storage / "multi", tmp_path / "multi")
    base = ["optuna_trials.csv", "optuna_importances.csv"] + [
        f"{stem}.{suffix}" for stem in ("optuna_history", "optuna_importances") for suffix in ("png", "pdf")
    ]
    names = {Path(str(p)).name for p in single}
    assert set(base) == names  # one objective: no Pareto front
    assert set(base + ["optuna_pareto.png", "optuna_pareto.pdf"]) <= {Path(str(p)).name for p in multi}
    for folder in (tmp_path / "single", tmp_path / "multi"):
        for png in folder.glob("optuna_*.png"):
            assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000
    counted = (tmp_path / "single" / "optuna_trials.csv").read_text().splitlines()
    assert len(counted) == 21 and sum(",FAIL," in line for line in counted) == 2
    both = pd.read_csv(tmp_path / "multi" / "optuna_importances.csv")  # one set per objective
    assert both.groupby("objective")["importance"].sum().to_dict() == pytest.approx(
        {"objective": 1.0, "symmetry_degree": 1.0}
    )
    assert set(both["param"]) == {"sigma0", "gamma"}


def test_no_storage_writes_no_optuna_files(storage: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    written = analysis.analyze(storage / "nostorage", tmp_path)
    assert written and not list(tmp_path.glob("optuna_*"))
    assert not (storage / "nostorage" / "optuna.journal").exists()
    assert capsys.readouterr().out == ""
    assert analysis.optuna_storage(storage / "nostorage", {}) is None
    missing = {"optuna": {"storage": f"sqlite:///{tmp_path / 'none.db'}"}}
    assert analysis.optuna_storage(tmp_path, missing) is None and not (tmp_path / "none.db").exists()
    with pytest.raises(FileNotFoundError):
        analysis.optuna_trials(storage / "nostorage")
