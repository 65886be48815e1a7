"""Reaching or starting Ray, and refusing at submission a study that no node can ever run."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from syre_tune import _secrets
from syre_tune.study import Study

AUTOSCALER_CONFIG = "~/ray_bootstrap_config.yaml"  # where `ray up` leaves the cluster file on the head


class RunError(RuntimeError):
    """Ray could not be started or reached, or cannot run the study: a user-facing, one-line message."""


def _reachable(address: str) -> None:
    """Fail fast (Ray itself retries an unreachable head for minutes)."""
    if address == "auto" or address.startswith("local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise RunError(f"--address {address}: expected host:port, ray://host:port or auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise RunError(f"cannot reach the Ray cluster at {address}: {error.strerror or error}") from None


def ensure_ray(address: str | None) -> None:
    """Connect to the cluster at ``address``, or start an embedded local Ray; once per process."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic table honours our columns
    # Bounding checkpoints per trial forces an experiment snapshot now and then; that is intended.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's CSV and TensorBoard logs of every result: the rows are in Parquet already, and without
    # them a trial costs the driver half the time and half the memory (its JSON log is kept: Tune
    # reads it back for the ResultGrid and on restore).
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True, "configure_logging": True}
    if address:
        _reachable(address)
        kwargs["address"] = address
        if _secrets.environment():  # credentials taken out of a storage URI: to the workers, in memory
            kwargs["runtime_env"] = {"env_vars": _secrets.environment()}
    else:
        kwargs["include_dashboard"] = False  # a local run listens on nothing beyond what Ray needs
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
        text = str(error).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        hint = ""
        if address and os.environ.get("RAY_AUTH_MODE") != "token":
            # Ray >= 2.59 heads may require a token; the client often only says it cannot connect
            hint = " (if it uses token authentication, run with RAY_AUTH_MODE=token and its token in ~/.ray/auth_token)"
        raise RunError(f"cannot start or reach {where}: {first}{hint}") from None


def _node_types() -> list[dict[str, float]]:
    """Resources of the node types an autoscaler may still start (read on the head of a cluster
    launched with `ray up`): a GPU study must not be refused while GPU workers are at zero."""
    import yaml

    path = Path(os.environ.get("SYRE_TUNE_AUTOSCALER_CONFIG", AUTOSCALER_CONFIG)).expanduser()
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    types = config.get("available_node_types") or {}
    return [dict(t.get("resources") or {}) for t in types.values() if isinstance(t, dict)]


def check_resources(study: Study) -> None:
    """Fail at submission when no node, present or that the autoscaler can start, can ever hold
    one trial (Tune would wait forever)."""
    import ray

    need = {"CPU": study.resources.cpu, "GPU": study.resources.gpu}
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")] + _node_types()
    capable = [node for node in nodes if all(node.get(key, 0.0) >= amount for key, amount in need.items())]
    if capable:
        _check_memory(study, capable)
        return
    largest = max(nodes, key=lambda node: (node.get("GPU", 0.0), node.get("CPU", 0.0)), default={})
    raise RunError(
        f"no node can run one trial of {study.name}: it asks resources: {{cpu: {study.resources.cpu:g}, "
        f"gpu: {study.resources.gpu:g}}} per trial, and the largest node has {largest.get('CPU', 0):g} CPUs and "
        f"{largest.get('GPU', 0):g} GPUs (set the study's resources, or add such nodes to the cluster; "
        f"nodes an autoscaler will start: docs/cluster.md)"
    )


def _check_memory(study: Study, nodes: list[dict[str, float]]) -> None:
    """Refuse a trial that needs more memory than Ray gives any node that could run it (where the
    benchmark estimates its trials' memory and every such node states its memory)."""
    from syre_tune import sizing

    needed = sizing.trial_memory(study)
    if needed is None or any(not node.get("memory") for node in nodes):
        return
    largest = max(node["memory"] for node in nodes)
    if needed > largest:
        raise RunError(
            f"a trial of {study.name} needs about {sizing.size(needed)} ({study.benchmark}'s estimate for "
            f"{study.seeds_per_trial} seeds per trial), more than the {sizing.size(int(largest))} of memory Ray "
            f"gives the largest node that can run it: lower seeds_per_trial"
        )


def shutdown() -> None:
    """Stop the Ray this process started or joined (nothing if none)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
