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


def ensure_ray(address: str | None, verbose: bool = False) -> None:
    """Connect to the cluster at ``address``, or start an embedded local Ray; once per process.
    Ray's own log lines and the trials' output reach this terminal only when ``verbose``."""
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
    kwargs: dict[str, Any] = {
        "logging_level": logging.WARNING if verbose else logging.ERROR,
        "log_to_driver": verbose,
        "configure_logging": True,
    }
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


def _autoscaler_config() -> dict[str, Any]:
    """The autoscaler's cluster file (on the head of a cluster launched with `ray up`, or the file
    $SYRE_TUNE_AUTOSCALER_CONFIG names); {} where there is none."""
    import yaml

    path = Path(os.environ.get("SYRE_TUNE_AUTOSCALER_CONFIG", AUTOSCALER_CONFIG)).expanduser()
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def _node_types() -> list[dict[str, float]]:
    """Resources of the node types an autoscaler may still start: a GPU study must not be refused
    while GPU workers are at zero."""
    types = _autoscaler_config().get("available_node_types") or {}
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


NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "lustre", "gpfs", "beegfs", "ceph", "cephfs", "glusterfs", "fuse.glusterfs"}
    | {"fuse.sshfs", "9p", "panfs", "wekafs", "fuse.juicefs", "fuse.gcsfuse", "fuse.s3fs", "fuse.mountpoint-s3"}
)
"""Filesystem types (as /proc/mounts names them) that other machines can mount at the same path."""


def filesystem_type(path: Path, mounts: str | None = None) -> str:
    """The type of the filesystem that holds ``path`` (its longest mount point in ``mounts``, the
    text of /proc/mounts; read when not given); "unknown" where there is no such table."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return "unknown"
    path = path.resolve()
    best, kind = -1, "unknown"
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if (path == point or point in path.parents) and len(point.parts) > best:
            best, kind = len(point.parts), fields[2]
    return kind


def _machines() -> set[str]:
    """The addresses of the machines the cluster's live nodes run on."""
    import ray

    return {node.get("NodeManagerAddress", "") for node in ray.nodes() if node.get("Alive")}


def _can_add_machines() -> bool:
    """Whether an autoscaler may start more nodes (node types besides the head's, in its config)."""
    config = _autoscaler_config()
    head, types = config.get("head_node_type"), config.get("available_node_types") or {}
    return any(name != head and isinstance(t, dict) and t.get("max_workers", 1) != 0 for name, t in types.items())


def check_storage(study_dir: Any, address: str | None) -> None:
    """Refuse a folder on this machine as the storage of a cluster whose trials may run on other
    machines (several machines, or an autoscaler that can add some): their rows and checkpoints
    would be written to their own disks, and their first checkpoint would fail. A shared
    filesystem (NFS, Lustre, ...: :data:`NETWORK_FILESYSTEMS`) is fine."""
    if address is None or study_dir.local is None:
        return
    machines, more = _machines(), _can_add_machines()
    if len(machines) <= 1 and not more:
        return  # every node on this machine (a local multi-node Ray): its folders are theirs too
    folder = study_dir.local.parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    kind = filesystem_type(existing)
    if kind in NETWORK_FILESYSTEMS:
        return
    where = f"{len(machines)} machines" + (" and an autoscaler that can add more" if more else "")
    if len(machines) <= 1:
        where = "an autoscaler that can add machines"
    raise RunError(
        f"--storage {folder} is a folder on this machine ({kind} filesystem), but the cluster has {where}: "
        f"trials there could not write to it. Give storage every node sees at the same path: "
        f"s3://bucket/prefix, gs://bucket/prefix, or a shared filesystem such as NFS (docs/cluster.md, Storage)"
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
