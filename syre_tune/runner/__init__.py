"""The one package that knows Ray Tune's API (it changes between Ray releases).

It adapts a benchmark's ``run(cfg, report, resume)`` into a Tune function trainable, submits a
study's trials through ``ray.tune.Tuner`` (grid / random search, Optuna through ``OptunaSearch``,
ASHA early stopping), and has every trial write its rows to the study's Parquet dataset (through
:mod:`syre_tune.results`) while it reports per-iteration means to Tune.

Exactly once, whatever crashes: a trial writes its rows in chunks, ``part-<trial>-<chunk>.parquet``,
each just before the checkpoint (``tune.Checkpoint``: the benchmark's state as tensors, loaded with
``weights_only=True``) that records it. A retried or resumed trial continues from its last
checkpoint and rewrites any later chunk under the same name with the same rows, so the dataset
never has a gap or a duplicate. Retries come from Ray (``FailureConfig``), resumption from
``Tuner.restore``; a Tune callback records failed trials as ``error`` rows and keeps
``status.json`` (what ``syre-tune status`` shows) current. Rows of trials the experiment does not
know (started by a driver killed before it saved them) are removed when the study finishes.

One module per job:

- ``_cluster``: reach or start Ray; refuse a study no node (nor any the autoscaler can start) can run;
- ``_tune``: search space, search algorithm, scheduler, progress table; ``Tuner`` and its restore;
- ``_trial``: the worker side: a trial's typed config, its rows and part files, the checkpoint format;
- ``_callback``: the driver's Tune callback: ``status.json``, the ``error`` / ``stopped`` marker rows, Ctrl+C;
- ``_waves``: a large grid as successive Tune experiments (flat driver memory), and their progress;
- ``_finish``: provenance, removing forgotten trials' parts, closing Optuna's orphaned trials.

The study folder's names and the Optuna storage rule are :mod:`syre_tune.layout`'s.
"""

from __future__ import annotations

from syre_tune.runner import _cluster, _tune
from syre_tune.runner._callback import mark_interrupted
from syre_tune.runner._cluster import RunError, shutdown
from syre_tune.runner._finish import RunSummary
from syre_tune.runner._tune import can_resume, resume_study, run_study

__all__ = ["RunError", "RunSummary", "can_resume", "mark_interrupted", "resume_study", "run_study", "shutdown"]

# private names that tests/ and bench/ reach for
_check_resources = _cluster.check_resources
_ensure_ray = _cluster.ensure_ray
_sampler = _tune.sampler
_settings = _tune.settings
