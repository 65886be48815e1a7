"""The study folder's names: the one place they are spelled.

A study run to ``--storage <storage>`` lives in ``<storage>/<study>/``::

    results/                      the Parquet dataset, part-<trial>-<chunk>.parquet (see results)
    study.yaml                    the study as run (smoke overrides applied)
    provenance.json               versions, command, start/end times, the outcome
    status.json                   trial counts by state, kept current by the driver
    optuna.journal                a search: optuna study's trials, unless the study gives an RDB
    tune/                         Ray Tune's experiment (what ``syre-tune resume`` restores)
    figures/                      what ``syre-tune analyze`` draws (when the study folder is local)

Imported by the runner, the CLI, :mod:`syre_tune.results` and the analysis, so it needs neither
torch, Ray nor pandas (Optuna only inside :func:`optuna_storage`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from syre_tune import _secrets

if TYPE_CHECKING:
    from syre_tune.results import Location

__all__ = [
    "FIGURES_DIR",
    "OPTUNA_JOURNAL",
    "OptunaStorageError",
    "PROVENANCE_FILE",
    "RESULTS_DIR",
    "STATUS_FILE",
    "STUDY_FILE",
    "TUNE_DIR",
    "WAVES_FILE",
    "is_part",
    "optuna_journal",
    "optuna_storage",
    "part_file",
    "trial_of",
    "wave_dir",
]

RESULTS_DIR = "results"
"""The study's Parquet dataset: one ``part-*.parquet`` file per trial chunk or marker."""
STUDY_FILE = "study.yaml"
"""The study mapping as run; ``syre-tune resume`` and ``status`` find a study by it."""
PROVENANCE_FILE = "provenance.json"
"""Package, Ray, torch and Python versions, the command, times and the outcome of the run."""
STATUS_FILE = "status.json"
"""Trial counts by state, kept current by the driver (``syre-tune status``)."""
OPTUNA_JOURNAL = "optuna.journal"
"""A ``search: optuna`` study's Optuna trials, when the study gives no RDB URL."""
TUNE_DIR = "tune"
"""Ray Tune's experiment folder (checkpoints, ``tuner.pkl``); a study run in waves has one
experiment per wave inside it, ``tune/wave-0000/``, ..., and :data:`WAVES_FILE`."""
WAVES_FILE = "waves.json"
"""In :data:`TUNE_DIR` of a study run in waves: the waves finished and their trials."""


def wave_dir(index: int) -> str:
    """The experiment folder of wave ``index`` inside :data:`TUNE_DIR`."""
    return f"wave-{index:04d}"


FIGURES_DIR = "figures"
"""Where ``syre-tune analyze`` writes figures and tables by default."""

_PART_PREFIX = "part-"
_PART_SUFFIX = ".parquet"


def part_file(trial_id: str, chunk: int | str) -> str:
    """``part-<trial>-<chunk>.parquet``: a trial's rows in chunk order (``00000``, ``00001``, ...),
    or its marker rows (``chunk`` = ``"error"`` / ``"stopped"``)."""
    name = f"{chunk:05d}" if isinstance(chunk, int) else chunk
    return f"{_PART_PREFIX}{trial_id}-{name}{_PART_SUFFIX}"


def is_part(name: str) -> bool:
    """Whether a file name in ``results/`` is a part file (not a temporary or foreign file)."""
    return name.startswith(_PART_PREFIX) and name.endswith(_PART_SUFFIX)


def trial_of(part_name: str) -> str:
    """The trial id in a :func:`part_file` name (trial ids may contain ``-``, chunks do not)."""
    return part_name[len(_PART_PREFIX) :].rsplit("-", 1)[0]


class OptunaStorageError(ValueError):
    """The rule cannot hold: an Optuna journal for a study folder on object storage."""


def _local(study_dir: Path | Location) -> Path | None:
    return study_dir if isinstance(study_dir, Path) else study_dir.local


def optuna_journal(study_dir: Path | Location) -> Path:
    """``<study_dir>/optuna.journal``. An Optuna journal is a file appended to under a lock, so it
    needs a local or NFS folder: :class:`OptunaStorageError` on object storage (s3://, gs://)."""
    local = _local(study_dir)
    if local is None:
        raise OptunaStorageError(
            f"--storage {study_dir}: an Optuna journal file needs a local or NFS folder; on object storage give the "
            "study `optuna: {storage: <RDB URL>}`"
        )
    return local / OPTUNA_JOURNAL


def optuna_storage(study_dir: Path | Location, url: str | None = None, *, create: bool = False) -> Any:
    """The Optuna storage of a ``search: optuna`` study, by the one rule: the study's RDB ``url``
    (``optuna: {storage: ...}``) if it gives one, else :func:`optuna_journal` in the study folder.

    ``create``: the runner's storage, made when missing (the study folder included). Otherwise the
    storage to read: the RDB URL itself, or None when the journal or SQLite file does not exist,
    so that reading never creates one."""
    if url:
        if create:
            from syre_tune._optuna_rdb import EnvironmentRDBStorage

            try:
                return EnvironmentRDBStorage(url)
            except KeyError as error:
                raise OptunaStorageError(f"optuna.storage: {error.args[0]}") from None
        try:
            url = _secrets.expand(url)
        except KeyError:  # its ${VAR} is not set here: nothing to read
            return None
        missing = url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists()
        return None if missing else url
    journal = optuna_journal(study_dir)
    if create:
        journal.parent.mkdir(parents=True, exist_ok=True)
    elif not journal.is_file():
        return None
    import optuna
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
