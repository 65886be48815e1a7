"""Every shipped study of a neural-network or regression benchmark, end to end as a user runs it:
its smoke block → Ray Tune (one local Ray for all) → Parquet → `analyze` → figures, with no
failed trial, every declared metric in the rows, and the benchmark's own figure drawn."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from syre_tune import analysis, benchmarks, results, runner, study

ROOT = Path(__file__).resolve().parents[1]
# theorem4 and symmetry_objective run end to end in test_cli's quickstart
STUDIES = sorted(
    path
    for path in (ROOT / "studies").glob("*.yaml")
    if path.stem in benchmarks.available() and path.stem not in ("theorem4", "symmetry_objective")
)


@pytest.fixture(scope="module")
def local_ray():
    yield
    runner.shutdown()


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_smoke_study_runs_and_draws_its_figure(path: Path, tmp_path: Path, local_ray) -> None:
    for smoke in study.load(path, smoke=True)[:1]:  # a file of several studies: its first (the same contract)
        # one seed of the first two settings (one round of trials on two cores): the contract is the
        # same per seed and setting, and the figures must draw from part of a study (an interrupted
        # one) too; this keeps the suite within its 15 minutes. The README's figures come from the
        # whole smoke blocks (`syre-tune run --smoke`).
        smoke = dataclasses.replace(smoke, points=smoke.points[:2], seeds=smoke.seeds[:1], seeds_per_trial=1)
        folder = results.location(tmp_path / smoke.name)
        summary = runner.run_study(smoke, folder, verbose=0)
        assert summary.errored == () and summary.diverged == (), summary
        df = results.read(folder, measurements=True)
        assert len(df) == summary.rows > 0
        bench = benchmarks.get(smoke.benchmark)
        for metric in bench.metrics:
            assert f"metric.{metric}" in df.columns
        assert df[f"metric.{bench.loss}"].notna().all()
        written = analysis.analyze(folder.local)
        pngs = [p for p in written if p.suffix == ".png"]
        assert pngs and all(p.stat().st_size > 10_000 for p in pngs)
        assert not any(p.name == "curves.png" for p in pngs), "the benchmark's own figure, not the generic one"
