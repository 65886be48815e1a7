"""The results schema, the atomic Parquet writer and the reader.

One Parquet dataset per study, ``<storage>/<study>/results/part-*.parquet``, one row per
(trial, seed, iteration):

    study, trial_id, benchmark, method, sigma0, sigma_d, gamma, seed, iteration, time_s,
    config.<key> (every other setting), metric.<name> (every reported metric)

The schema is fixed before the study runs (from the benchmark's typed config and its declared
metrics), so every part file has the same columns and types and pandas, polars or DuckDB read
the folder without this package. Files are written to a temporary name and renamed.
Beside the dataset: ``study.yaml`` (the study as run) and ``provenance.json`` (versions, times).

Reading needs only pyarrow and pandas (no torch, no Ray).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

__all__ = [
    "IDENTITY",
    "KNOBS",
    "RowBuffer",
    "count_rows",
    "read",
    "results_dir",
    "schema_for",
    "write_json_atomic",
    "write_table_atomic",
    "write_text_atomic",
]

KNOBS = ("sigma0", "sigma_d", "gamma")
IDENTITY = pa.schema(
    [
        ("study", pa.string()),
        ("trial_id", pa.string()),
        ("benchmark", pa.string()),
        ("method", pa.string()),
        ("sigma0", pa.float64()),
        ("sigma_d", pa.float64()),
        ("gamma", pa.float64()),
        ("seed", pa.int64()),
        ("iteration", pa.int64()),
        ("time_s", pa.float64()),
    ]
)
# Config fields that are identity columns or per-row, not `config.<key>` columns.
_NOT_CONFIG = {"method", "seeds", *KNOBS}


_ARROW_TYPES = {bool: pa.bool_(), int: pa.int64(), float: pa.float64()}


def _arrow_type(annotation: Any) -> pa.DataType:
    """bool/int/float map to themselves; strings, Literals, tuples and unions are stored as text
    (tuples as JSON)."""
    return _ARROW_TYPES.get(annotation, pa.string())


def schema_for(config_fields: Mapping[str, Any], metrics: tuple[str, ...]) -> pa.Schema:
    """The dataset schema for a benchmark: identity + config.<field> + metric.<name>."""
    config = [(f"config.{k}", _arrow_type(t)) for k, t in config_fields.items() if k not in _NOT_CONFIG]
    return pa.schema(list(IDENTITY) + config + [(f"metric.{m}", pa.float64()) for m in metrics])


def _config_value(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_string(kind) and not isinstance(value, str):
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    return value


class RowBuffer:
    """Collects one trial's rows column by column; turns them into a table of the study schema.

    ``identity`` holds study/trial_id/benchmark/method and the knobs (None where the method does
    not use them); ``config`` the trial's full config values.
    """

    def __init__(self, schema: pa.Schema, identity: Mapping[str, Any], config: Mapping[str, Any]) -> None:
        self.schema = schema
        self._constant = {name: identity.get(name) for name in ("study", "trial_id", "benchmark", "method", *KNOBS)}
        for column in schema:
            if column.name.startswith("config."):
                self._constant[column.name] = _config_value(config.get(column.name[7:]), column.type)
        self._metrics = [c.name[7:] for c in schema if c.name.startswith("metric.")]
        self._chunks: list[dict[str, np.ndarray]] = []

    def add(
        self, iteration: int, time_s: float, seeds: tuple[int, ...], metrics: Mapping[str, Any]
    ) -> dict[str, float]:
        """One reporting point: ``metrics[name]`` holds one value per seed (or a scalar).
        Returns each metric's mean over the seeds (what the runner reports to Tune)."""
        missing = [m for m in self._metrics if m not in metrics]
        extra = sorted(set(metrics) - set(self._metrics))
        if missing or extra:
            raise ValueError(f"report: expected metrics {self._metrics}, missing {missing}, unexpected {extra}")
        n = len(seeds)
        chunk = {"seed": np.asarray(seeds, dtype=np.int64), "iteration": np.full(n, iteration, dtype=np.int64)}
        chunk["time_s"] = np.full(n, time_s, dtype=np.float64)
        for name in self._metrics:
            values = np.asarray(_to_numpy(metrics[name]), dtype=np.float64).reshape(-1)
            if values.size == 1:
                values = np.repeat(values, n)
            if values.size != n:
                raise ValueError(f"report: metric {name!r} has {values.size} values for {n} seeds")
            chunk[f"metric.{name}"] = values
        self._chunks.append(chunk)
        return {name: float(chunk[f"metric.{name}"].mean()) for name in self._metrics}

    def __len__(self) -> int:
        return sum(len(c["seed"]) for c in self._chunks)

    def to_table(self) -> pa.Table:
        rows = len(self)
        columns = []
        for column in self.schema:
            if column.name in ("seed", "iteration", "time_s") or column.name.startswith("metric."):
                data = np.concatenate([c[column.name] for c in self._chunks]) if self._chunks else []
                columns.append(pa.array(data, type=column.type))
            else:
                columns.append(pa.array([self._constant.get(column.name)] * rows, type=column.type))
        return pa.Table.from_arrays(columns, schema=self.schema)


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        return value.detach().cpu().numpy()
    return value


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def write_table_atomic(table: pa.Table, path: str | Path) -> Path:
    """Write a Parquet file to a temporary name in the same folder, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_text_atomic(text: str, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_json_atomic(data: Any, path: str | Path) -> Path:
    return write_text_atomic(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", path)


def results_dir(path: str | Path) -> Path:
    """The ``results/`` folder of a study folder (or ``path`` itself if it is one)."""
    path = Path(path)
    if (path / "results").is_dir():
        return path / "results"
    if path.name == "results" and path.is_dir():
        return path
    raise FileNotFoundError(f"{path}: no results/ dataset here (expected <storage>/<study>/results/)")


def read(path: str | Path, columns: list[str] | None = None, filter: Any = None) -> Any:
    """The study's rows as a pandas DataFrame (``columns`` / a pyarrow ``filter`` to read less)."""
    dataset = pads.dataset(results_dir(path), format="parquet", exclude_invalid_files=True)
    return dataset.to_table(columns=columns, filter=filter).to_pandas()


def count_rows(path: str | Path) -> int:
    """Rows in the study's dataset, from the Parquet footers (no data is read)."""
    return pads.dataset(results_dir(path), format="parquet", exclude_invalid_files=True).count_rows()
