"""The results schema and the atomic writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from syre_tune import results
from syre_tune.benchmarks import theorem4
from syre_tune.benchmarks._common import config_fields


def buffer() -> results.RowBuffer:
    schema = results.schema_for(config_fields(theorem4.Config), theorem4.METRICS)
    cfg = theorem4.Config(seeds=(4, 5), n_symmetries=3, sigma0=0.5, gamma=0.1)
    identity = {
        "study": "s",
        "trial_id": "t1",
        "benchmark": "theorem4",
        "method": "syre",
        "sigma0": 0.5,
        "gamma": 0.1,
        "sigma_d": 0.0,
    }
    return results.RowBuffer(schema, identity, {f: getattr(cfg, f) for f in cfg.__dataclass_fields__})


def test_schema_columns_and_types() -> None:
    schema = results.schema_for(config_fields(theorem4.Config), theorem4.METRICS)
    assert schema.names[: len(results.IDENTITY)] == list(results.IDENTITY.names)
    assert (
        "config.n_symmetries" in schema.names
        and "config.seeds" not in schema.names
        and "config.sigma0" not in schema.names
    )
    assert str(schema.field("config.n_symmetries").type) == "int64"
    assert str(schema.field("config.relative").type) == "bool"
    assert schema.names[-2:] == ["metric.min_abs_delta", "metric.grad_norm"]


def test_row_buffer_round_trip(tmp_path: Path) -> None:
    rows = buffer()
    rows.add(0, 0.1, (4, 5), {"min_abs_delta": torch.tensor([1.0, 2.0]), "grad_norm": np.array([0.5, 0.25])})
    rows.add(10, 0.2, (4, 5), {"min_abs_delta": [3.0, 4.0], "grad_norm": 0.0})
    path = results.write_table_atomic(rows.to_table(), tmp_path / "results" / "part-t1.parquet")
    df = pq.read_table(path.path).to_pandas()
    assert df[["seed", "iteration", "metric.min_abs_delta", "metric.grad_norm"]].values.tolist() == [
        [4, 0, 1.0, 0.5],
        [5, 0, 2.0, 0.25],
        [4, 10, 3.0, 0.0],
        [5, 10, 4.0, 0.0],
    ]
    assert df["config.n_symmetries"].tolist() == [3] * 4 and df["sigma0"].tolist() == [0.5] * 4
    assert df["status"].tolist() == ["ok"] * 4 and df["error"].isna().all()
    assert results.read(tmp_path).shape == (4, len(rows.schema))
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["part-t1.parquet"]


def test_report_with_wrong_metrics_is_an_error() -> None:
    with pytest.raises(ValueError, match="missing"):
        buffer().add(0, 0.0, (4, 5), {"min_abs_delta": [1.0, 2.0]})
    with pytest.raises(ValueError, match="values for 2 seeds"):
        buffer().add(0, 0.0, (4, 5), {"min_abs_delta": [1.0, 2.0, 3.0], "grad_norm": [1.0, 2.0, 3.0]})


def test_atomic_writer_leaves_nothing_on_failure(tmp_path: Path) -> None:
    with pytest.raises(AttributeError):
        results.write_table_atomic("not a table", tmp_path / "part.parquet")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_diverged_seeds_and_error_rows(tmp_path: Path) -> None:
    schema = results.schema_for(config_fields(theorem4.Config), theorem4.METRICS)
    rows = results.RowBuffer(schema, {"study": "s", "trial_id": "a", "method": "syre"}, {}, loss="grad_norm")
    rows.add(0, 0.0, (4, 5), {"min_abs_delta": [1.0, 2.0], "grad_norm": [1.0, 1.0]})
    assert not rows.diverged
    first = rows.take()
    assert first.num_rows == 2 and len(rows) == 0
    rows.add(1, 0.0, (4, 5), {"min_abs_delta": [1.0, 2.0], "grad_norm": [float("nan"), 1.0]})
    assert rows.diverged
    second = rows.take()
    assert second.column("status").to_pylist() == ["diverged", "ok"]
    results.write_table_atomic(first, tmp_path / "results" / "part-a-00000.parquet")
    results.write_table_atomic(second, tmp_path / "results" / "part-a-00001.parquet")
    failed = results.RowBuffer(schema, {"study": "s", "trial_id": "b", "method": "syre"}, {"n_symmetries": 3})
    table = failed.marker_table((7, 8, 9), "error", "ValueError: boom")
    assert table.schema == schema and table.num_rows == 3
    assert table.column("iteration").null_count == 3 and table.column("metric.grad_norm").null_count == 3
    results.write_table_atomic(table, tmp_path / "results" / "part-b-error.parquet")
    summary = results.trials(tmp_path).set_index("trial_id")
    assert summary.loc["a", "status"] == "diverged" and summary.loc["a", "rows"] == 4
    assert summary.loc["a", "last_iteration"] == 1
    assert summary.loc["b", "status"] == "error" and summary.loc["b", "error"] == "ValueError: boom"
    assert summary.loc["b", "rows"] == 0, "marker rows are not measurements"
    # a trial the scheduler stopped early: its measurements, then one `stopped` marker per seed
    stopped = results.RowBuffer(schema, {"study": "s", "trial_id": "c", "method": "syre"}, {"n_symmetries": 3})
    stopped.add(0, 0.0, (4, 5), {"min_abs_delta": [1.0, 2.0], "grad_norm": [0.5, 0.25]})
    results.write_table_atomic(stopped.take(), tmp_path / "results" / "part-c-00000.parquet")
    results.write_table_atomic(stopped.marker_table((4, 5), "stopped"), tmp_path / "results" / "part-c-stopped.parquet")
    summary = results.trials(tmp_path).set_index("trial_id")
    assert summary.loc["c", "status"] == "stopped" and summary.loc["c", "rows"] == 2
    assert summary.loc["c", "last_iteration"] == 0
    measured = results.read(tmp_path, measurements=True)
    assert set(measured.status) == {"ok", "diverged"} and len(measured) == 6
    assert len(results.read(tmp_path)) == 11
    with pytest.raises(ValueError, match="measurements"):
        stopped.marker_table((4, 5), "ok")


def test_locations_take_uris_and_other_filesystems(tmp_path: Path) -> None:
    import fsspec
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    rows = buffer()
    rows.add(0, 0.1, (4, 5), {"min_abs_delta": [1.0, 2.0], "grad_norm": [0.5, 0.25]})
    study = results.location(f"file://{tmp_path}/store") / "study"
    written = results.write_table_atomic(rows.to_table(), study / "results" / "part-t1.parquet")
    assert written.local == tmp_path / "store" / "study" / "results" / "part-t1.parquet"
    # a second, unrelated filesystem object (fsspec's local filesystem wrapped for pyarrow)
    other = PyFileSystem(FSSpecHandler(fsspec.filesystem("file")))
    df = results.read(str(tmp_path / "store" / "study"), filesystem=other)
    assert df["metric.min_abs_delta"].tolist() == [1.0, 2.0]
    assert results.count_rows(f"file://{tmp_path}/store/study") == 2
    assert [p.name for p in results.location(tmp_path / "store").children()] == ["study"]
    with pytest.raises(results.StorageError, match="not a storage location"):
        results.location("nosuchscheme://bucket/x")


def test_atomic_writer_never_writes_the_final_name_directly(tmp_path: Path, monkeypatch) -> None:
    """While the Parquet file is being written, nothing exists under its final name: a reader or
    a crash mid-write never sees half a file there."""
    target = tmp_path / "part-x-00000.parquet"
    written_to = []
    real = pq.write_table

    def spy(table, where, **kwargs):
        written_to.append(str(where))
        assert not target.exists(), "the final name exists before the write has finished"
        return real(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", spy)
    table = pa.table({"x": [1, 2, 3]})
    results.write_table_atomic(table, target)
    assert written_to and all(Path(w).name != target.name for w in written_to)
    assert pq.read_table(target).equals(table)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary left behind
