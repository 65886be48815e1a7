"""The results schema, the atomic Parquet writer and the reader.

One Parquet dataset per study, ``<storage>/<study>/results/part-*.parquet``, one row per
(trial, seed, iteration):

    study, trial_id, benchmark, method, sigma0, sigma_d, gamma, seed, iteration, time_s,
    config.<key> (every other setting), metric.<name> (every reported metric)

The schema is fixed before the study runs (from the benchmark's typed config and its declared
metrics), so every part file has the same columns and types and pandas, polars or DuckDB read
the folder without this package. Files are written to a temporary name and renamed.
Beside the dataset: ``study.yaml`` (the study as run), ``provenance.json`` (versions, times) and the
other files of the study folder that :mod:`syre_tune.layout` names.

Reading needs only pyarrow and pandas (no torch, no Ray).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from syre_tune import _secrets, layout
from syre_tune.layout import OPTUNA_JOURNAL, STATUS_FILE  # names kept here for code that read them from here

__all__ = [
    "IDENTITY",
    "KNOBS",
    "OPTUNA_JOURNAL",
    "STATUSES",
    "MEASURED",
    "STATUS_FILE",
    "Location",
    "RowBuffer",
    "StorageError",
    "benchmark_of",
    "count_rows",
    "location",
    "read",
    "read_status",
    "results_dir",
    "schema_for",
    "study_folders",
    "trials",
    "write_bytes_atomic",
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
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)
STATUSES = ("ok", "stopped", "diverged", "error")
"""Row status: ``ok`` a measurement; ``diverged`` a seed whose loss turned NaN/inf at this
iteration (the trial stopped there); ``stopped`` the scheduler (ASHA) stopped the trial early,
after its last measured iteration; ``error`` the trial raised (the exception in ``error``).
``stopped`` and ``error`` rows are markers, one per seed, with iteration and metrics null.
In this order, a trial's status is the last of its rows' (see :func:`trials`)."""
MEASURED = ("ok", "diverged")
"""The statuses of rows that hold a measurement."""
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
    """Collects one trial's rows column by column; turns them into tables of the study schema.

    ``identity`` holds study/trial_id/benchmark/method and the knobs (None where the method does
    not use them); ``config`` the trial's full config values. ``loss`` names the metric whose
    NaN/inf marks a seed as diverged (:attr:`diverged` turns true).
    """

    def __init__(
        self, schema: pa.Schema, identity: Mapping[str, Any], config: Mapping[str, Any], loss: str | None = None
    ) -> None:
        self.schema = schema
        self._constant = {name: identity.get(name) for name in ("study", "trial_id", "benchmark", "method", *KNOBS)}
        for column in schema:
            if column.name.startswith("config."):
                self._constant[column.name] = _config_value(config.get(column.name[7:]), column.type)
        self._metrics = [c.name[7:] for c in schema if c.name.startswith("metric.")]
        self._loss = loss
        self._chunks: list[dict[str, np.ndarray]] = []
        self.diverged = False

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
        bad = ~np.isfinite(chunk[f"metric.{self._loss}"]) if self._loss else np.zeros(n, dtype=bool)
        chunk["status"] = np.where(bad, "diverged", "ok").astype(object)
        self.diverged = self.diverged or bool(bad.any())
        self._chunks.append(chunk)
        return {name: float(chunk[f"metric.{name}"].mean()) for name in self._metrics}

    def __len__(self) -> int:
        return sum(len(c["seed"]) for c in self._chunks)

    def take(self) -> pa.Table:
        """The rows added since the last ``take`` as a table of the study schema."""
        table = self.to_table()
        self._chunks = []
        return table

    def to_table(self) -> pa.Table:
        rows = len(self)
        columns = []
        for column in self.schema:
            if column.name in ("seed", "iteration", "time_s", "status") or column.name.startswith("metric."):
                data = np.concatenate([c[column.name] for c in self._chunks]) if self._chunks else []
                columns.append(pa.array(data, type=column.type))
            else:
                columns.append(pa.array([self._constant.get(column.name)] * rows, type=column.type))
        return pa.Table.from_arrays(columns, schema=self.schema)

    def marker_table(self, seeds: tuple[int, ...], status: str, error: str | None = None) -> pa.Table:
        """One marker row per seed with ``status`` (``error``: the trial raised ``error``;
        ``stopped``: the scheduler stopped it early); iteration and metrics null."""
        if status in MEASURED:
            raise ValueError(f"marker_table: {status!r} rows are measurements")
        n = len(seeds)
        columns = []
        for column in self.schema:
            if column.name == "seed":
                data: list[Any] = list(seeds)
            elif column.name == "status":
                data = [status] * n
            elif column.name == "error":
                data = [error] * n
            else:
                data = [self._constant.get(column.name)] * n
            columns.append(pa.array(data, type=column.type))
        return pa.Table.from_arrays(columns, schema=self.schema)


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        return value.detach().cpu().numpy()
    return value


@dataclass(frozen=True)
class Location:
    """A folder or file on a ``pyarrow.fs`` filesystem: local paths, ``file://``, ``s3://``,
    ``gs://``, ... Every write and read of a study goes through one, so any node of a cluster can
    write to shared storage and a laptop can read it back."""

    fs: pafs.FileSystem
    path: str
    uri: str
    """How the user wrote it (for messages), extended by ``/``."""

    def __truediv__(self, name: str) -> Location:
        base, mark, query = self.uri.partition("?")  # s3://bucket/x?endpoint_override=...: name before query
        return Location(self.fs, f"{self.path.rstrip('/')}/{name}", f"{base.rstrip('/')}/{name}{mark}{query}")

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        path = self.path.rstrip("/")
        base, mark, query = self.uri.partition("?")
        return Location(
            self.fs, path.rsplit("/", 1)[0] or "/", (base.rstrip("/").rsplit("/", 1)[0] or "/") + mark + query
        )

    @property
    def local(self) -> Path | None:
        """The local path, if this is on the local filesystem."""
        return Path(self.path) if isinstance(self.fs, pafs.LocalFileSystem) else None

    def kind(self) -> pafs.FileType:
        return self.fs.get_file_info(self.path).type

    def exists(self) -> bool:
        return self.kind() != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        return self.kind() == pafs.FileType.Directory

    def read_text(self) -> str:
        with self.fs.open_input_stream(self.path) as stream:
            return stream.read().decode()

    def entries(self) -> list[pafs.FileInfo]:
        """What is directly inside this folder (nothing if it does not exist)."""
        return self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))

    def children(self) -> list[Location]:
        """The folders directly inside this one, sorted."""
        return sorted((self / e.base_name for e in self.entries() if e.type == pafs.FileType.Directory), key=str)

    def remove(self) -> None:
        kind = self.kind()
        if kind == pafs.FileType.Directory:
            self.fs.delete_dir(self.path)
        elif kind != pafs.FileType.NotFound:
            self.fs.delete_file(self.path)

    def __str__(self) -> str:
        return self.uri


class StorageError(ValueError):
    """A storage location that cannot be used: one line for the user."""


def location(target: str | Path | Location, filesystem: pafs.FileSystem | None = None) -> Location:
    """A :class:`Location` for a local path, a ``pyarrow.fs`` URI, or a path on ``filesystem``."""
    if isinstance(target, Location):
        return target
    text = str(target)
    if filesystem is not None:
        return Location(filesystem, text, text)
    if "://" not in text:
        return Location(pafs.LocalFileSystem(), str(Path(text).expanduser().resolve()), text)
    # credentials in the URI go to the environment: the filesystem object (which Ray Tune pickles
    # into its experiment state) and the Location's text then carry none
    text = _secrets.move_credentials(text)
    shown = _secrets.redact(text)  # a secret query parameter, if any
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as error:
        message = _secrets.redact(str(error))
        raise StorageError(f"{shown}: not a storage location pyarrow.fs understands ({message})") from None
    except OSError as error:  # e.g. s3:// without network or credentials
        message = _secrets.redact(str(error).splitlines()[0])
        raise StorageError(f"{shown}: cannot reach this storage: {message}") from None
    if isinstance(fs, pafs.LocalFileSystem):
        path = str(Path(path).resolve())
    return Location(fs, path, text)


def _temporary(where: Location) -> Location:
    return where.parent / f".{where.name}.{uuid.uuid4().hex}.tmp"


def _write_atomic(where: str | Path | Location, write: Any) -> Location:
    """Write to a temporary name in the same folder, then move it into place (a rename on local
    and NFS storage; object stores publish an object only once it is complete)."""
    where = location(where)
    where.fs.create_dir(where.parent.path, recursive=True)
    temporary = _temporary(where)
    try:
        write(temporary)
        where.fs.move(temporary.path, where.path)
    except BaseException:  # only then can the temporary file be left (no extra request per write)
        temporary.remove()
        raise
    return where


def write_table_atomic(table: pa.Table, where: str | Path | Location) -> Location:
    """Write a Parquet file atomically (see :func:`_write_atomic`)."""
    return _write_atomic(where, lambda tmp: pq.write_table(table, tmp.path, filesystem=tmp.fs))


def write_bytes_atomic(data: bytes, where: str | Path | Location) -> Location:
    def write(tmp: Location) -> None:
        with tmp.fs.open_output_stream(tmp.path) as stream:
            stream.write(data)

    return _write_atomic(where, write)


def write_text_atomic(text: str, where: str | Path | Location) -> Location:
    return write_bytes_atomic(text.encode(), where)


def write_json_atomic(data: Any, where: str | Path | Location) -> Location:
    return write_text_atomic(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", where)


def results_dir(path: str | Path | Location, filesystem: pafs.FileSystem | None = None) -> Location:
    """The ``results/`` folder of a study folder (or ``path`` itself if it is one)."""
    where = location(path, filesystem)
    if (where / layout.RESULTS_DIR).is_dir():
        return where / layout.RESULTS_DIR
    if where.name == layout.RESULTS_DIR and where.is_dir():
        return where
    raise FileNotFoundError(f"{where}: no results/ dataset here (expected <storage>/<study>/results/)")


def _dataset(path: str | Path | Location, filesystem: pafs.FileSystem | None) -> pads.Dataset:
    where = results_dir(path, filesystem)
    return pads.dataset(where.path, filesystem=where.fs, format="parquet", exclude_invalid_files=True)


def read(
    path: str | Path | Location,
    columns: list[str] | None = None,
    filter: Any = None,
    filesystem: pafs.FileSystem | None = None,
    measurements: bool = False,
) -> Any:
    """The study's rows as a pandas DataFrame (``columns`` / a pyarrow ``filter`` to read less;
    ``measurements`` leaves out the marker rows, ``error`` and ``stopped``).

    ``path`` is a local folder, a URI (``s3://bucket/study``), or a path on ``filesystem``."""
    dataset = _dataset(path, filesystem)
    if measurements and "status" in dataset.schema.names:
        status = pads.field("status")
        measured = status.isin(list(MEASURED)) | status.is_null()
        filter = measured if filter is None else filter & measured
    return dataset.to_table(columns=columns, filter=filter).to_pandas()


BATCH_FILES = 512
"""Part files a dataset scan holds at once in :func:`count_rows` and :func:`trials` (a pyarrow
dataset keeps each file's metadata while it lives, tens of KiB a file: a study of 100,000 trials
would otherwise need GiB to count its rows)."""


def _batches(path: str | Path | Location, filesystem: pafs.FileSystem | None) -> Iterator[pads.Dataset]:
    """The study's part files, :data:`BATCH_FILES` at a time, as datasets."""
    where = results_dir(path, filesystem)
    infos = where.fs.get_file_info(pafs.FileSelector(where.path))
    files = sorted(info.path for info in infos if info.is_file and layout.is_part(info.base_name))
    for start in range(0, len(files), BATCH_FILES):
        yield pads.dataset(files[start : start + BATCH_FILES], filesystem=where.fs, format="parquet")


def count_rows(path: str | Path | Location, filesystem: pafs.FileSystem | None = None) -> int:
    """Rows in the study's dataset, from the Parquet footers (no data is read)."""
    return sum(batch.count_rows() for batch in _batches(path, filesystem))


def trials(path: str | Path | Location, filesystem: pafs.FileSystem | None = None) -> Any:
    """One row per trial: its rows, last iteration and status (``error`` if it raised, ``diverged``
    if a seed's loss turned NaN/inf, ``stopped`` if the scheduler stopped it early, else ``ok``)
    with the error message. ``rows`` counts measurements only."""
    columns = ["trial_id", "iteration", "status", "error"]
    tables = [batch.to_table(columns=columns) for batch in _batches(path, filesystem)]
    if not tables:
        import pandas as pd

        return pd.DataFrame(columns=["trial_id", "rows", "last_iteration", "status", "error"])
    df = pa.concat_tables(tables, promote_options="default").to_pandas()
    rank = df["status"].map({status: rank for rank, status in enumerate(STATUSES)})
    grouped = df.assign(rank=rank).groupby("trial_id", sort=True)
    out = grouped.agg(rows=("iteration", "count"), last_iteration=("iteration", "max"), rank=("rank", "max"))
    out["status"] = out.pop("rank").map(dict(enumerate(STATUSES)))
    out["error"] = grouped["error"].first()
    return out.reset_index()


def study_folders(path: str | Path | Location, marker: str = layout.RESULTS_DIR) -> list[Location]:
    """``path`` if it holds ``marker`` (a study folder), else the folders directly inside it that
    do (the studies of a multi-study file); [] if none."""
    where = location(path)
    if (where / marker).exists():
        return [where]
    return [child for child in where.children() if (child / marker).exists()]


def benchmark_of(study_dir: str | Path | Location) -> str:
    """The benchmark that made a study: from ``provenance.json``, else from its rows."""
    where = location(study_dir)
    provenance = where / layout.PROVENANCE_FILE
    if provenance.exists():
        return json.loads(provenance.read_text())["benchmark"]
    return str(read(where, columns=["benchmark"])["benchmark"].iloc[0])


def read_status(study_dir: str | Path | Location) -> dict[str, Any]:
    """The study's ``status.json`` and ``driver_alive``: whether the driver process that wrote it
    still runs (True/False when it ran on this host, None when elsewhere)."""
    status = json.loads((location(study_dir) / layout.STATUS_FILE).read_text())
    driver = status.get("driver", {})
    alive = None
    if driver.get("host") == socket.gethostname():
        try:
            os.kill(int(driver["pid"]), 0)
            alive = True
        except (OSError, KeyError, ValueError):
            alive = False
    status["driver_alive"] = alive
    return status
