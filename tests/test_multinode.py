"""A local multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head that runs
no trials and two worker nodes): a study submitted with ``--address`` survives losing a node, and
a study asking more GPUs per trial than any node has is refused at submission."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_faults import CLI, assert_exactly_once, env, reports, syre_tune, write_study


@pytest.fixture
def cluster(monkeypatch):
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("PYTHONPATH", env()["PYTHONPATH"])  # the nodes' workers import the plugin benchmark
    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 0, "include_dashboard": False},
    )
    try:
        yield cluster
    finally:
        cluster.shutdown()


def test_a_removed_node_s_trials_rerun_elsewhere(cluster, tmp_path: Path) -> None:
    doomed = cluster.add_node(num_cpus=1)
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    path = write_study(
        tmp_path,
        config={"sleep_s": 0.3},
        sweep={"sigma0": {"grid": [0.5, 1.0, 2.0, 4.0]}},
        max_failures=3,
        checkpoint_every=2,
    )
    storage = tmp_path / "store"
    log = tmp_path / "driver.log"
    process = subprocess.Popen(
        [*CLI, "run", str(path), "--storage", str(storage), "--address", cluster.address, "--no-analyze"],
        cwd=tmp_path,
        env=env(),
        stdout=log.open("w"),  # a pipe nobody reads would block the driver once full
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    parts = storage / "study" / "results"
    while len({p.name.split("-")[1] for p in parts.glob("part-*.parquet")}) < 2:  # both nodes are mid-trial
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the study made no progress"
        time.sleep(0.1)
    cluster.remove_node(doomed)
    process.wait(timeout=300)
    assert process.returncode == 0, log.read_text()[-3000:]
    df = assert_exactly_once(storage / "study", trials=4, seeds=2)
    assert (df["status"] == "ok").all()
    # the trial that was running on the removed node ran again, in another process, from its checkpoint
    runs = reports(tmp_path).groupby("tag").pid.nunique()
    assert (runs >= 2).sum() >= 1, runs


def test_fractional_gpus_pack_trials_and_too_many_are_refused(cluster, tmp_path: Path) -> None:
    cluster.add_node(num_cpus=4, num_gpus=1)  # Ray's resource accounting only: no real GPU here
    cluster.wait_for_nodes()
    # gpu: 0.25 packs four trials on the one GPU; the trials run on cpu here (torch sees no CUDA)
    path = write_study(
        tmp_path,
        config={"sleep_s": 0.3},
        sweep={"sigma0": {"grid": [0.5, 1.0, 2.0, 4.0]}},
        resources={"cpu": 1, "gpu": 0.25},
    )
    done = syre_tune("run", str(path), "--storage", str(tmp_path / "a"), "--address", cluster.address, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    df = assert_exactly_once(tmp_path / "a" / "study", trials=4, seeds=2)
    assert set(df["config.device"]) == {"cpu"}
    log = reports(tmp_path)
    assert set(log.gpus.astype(str)) == {"0"}  # Ray gave every trial the GPU (CUDA_VISIBLE_DEVICES=0)
    spans = log.groupby("tag").time.agg(["min", "max"])
    assert spans["min"].max() < spans["max"].min(), "the four trials did not run at the same time"
    # gpu: 2 per trial, with one GPU per node: refused at submission, nothing written
    path = write_study(tmp_path, resources={"cpu": 1, "gpu": 2})
    done = syre_tune("run", str(path), "--storage", str(tmp_path / "b"), "--address", cluster.address, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    message = [line for line in done.stderr.splitlines() if line.startswith("syre-tune")]
    assert message == [
        "syre-tune: error: no node can run one trial of study: it asks resources: {cpu: 1, gpu: 2} per trial, "
        "and the largest node has 4 CPUs and 1 GPUs (set the study's resources, or add such nodes to the cluster; "
        "nodes an autoscaler will start: docs/cluster.md)"
    ]
    assert not (tmp_path / "b").exists()


def test_a_head_that_wants_a_token_gets_a_hint(tmp_path: Path) -> None:
    """Ray >= 2.59: a head started with token authentication refuses a client without the token."""
    import shutil
    import socket

    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    head_env = {**env(), "RAY_AUTH_MODE": "token"}
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # Ray's socket paths must stay under 108 bytes
    start = [
        ray,
        "start",
        "--head",
        f"--port={port}",
        "--num-cpus=1",
        f"--temp-dir={temp}",
        "--include-dashboard=false",
    ]
    started = subprocess.run(start, env=head_env, capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stderr[-2000:]
        path = write_study(tmp_path)
        client = {k: v for k, v in env().items() if k != "RAY_AUTH_MODE"}
        done = subprocess.run(
            [
                *CLI,
                "run",
                str(path),
                "--storage",
                str(tmp_path / "store"),
                "--address",
                f"{socket.gethostbyname(socket.gethostname())}:{port}",
            ],
            cwd=tmp_path,
            env=client,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 2
        message = [line for line in done.stderr.splitlines() if line.startswith("syre-tune")]
        assert len(message) == 1 and "run with RAY_AUTH_MODE=token" in message[0]
        assert not (tmp_path / "store").exists()
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


MOUNTS = """\
overlay / overlay rw,relatime 0 0
proc /proc proc rw 0 0
fileserver:/export/home /shared/home nfs4 rw,vers=4.2 0 0
/dev/sda1 /shared/home/scratch ext4 rw 0 0
/dev/sdb1 /mnt/my\\040disk xfs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/shared/home/me/results", "nfs4"),
        ("/shared/home/scratch/results", "ext4"),  # the longest mount point wins
        ("/shared/homework", "overlay"),  # a prefix of the name is not a parent folder
        ("/mnt/my disk/x", "xfs"),
        ("/tmp/results", "overlay"),
    ],
)
def test_filesystem_type_is_the_longest_mount_point_s(path: str, kind: str) -> None:
    from syre_tune.runner import _cluster

    assert _cluster.filesystem_type(Path(path), MOUNTS) == kind


def test_local_storage_is_refused_where_trials_may_run_on_other_machines(tmp_path: Path, monkeypatch) -> None:
    import pyarrow.fs as pafs

    from syre_tune import results
    from syre_tune.runner import _cluster

    monkeypatch.delenv("SYRE_TUNE_AUTOSCALER_CONFIG", raising=False)
    monkeypatch.setattr(_cluster, "AUTOSCALER_CONFIG", str(tmp_path / "none.yaml"))
    folder = results.location(tmp_path / "store" / "study")
    monkeypatch.setattr(_cluster, "_machines", lambda: {"10.0.0.1"})
    _cluster.check_storage(folder, "10.0.0.1:6379")  # one machine: its folders are every node's
    _cluster.check_storage(folder, None)  # an embedded local Ray
    monkeypatch.setattr(_cluster, "_machines", lambda: {"10.0.0.1", "10.0.0.2"})
    refused = r"^--storage .*/store is a folder on this machine \(\w+ filesystem\), but the cluster has 2 machines: "
    with pytest.raises(_cluster.RunError, match=refused + r"trials there could not write to it\. Give storage"):
        _cluster.check_storage(folder, "auto")
    shared = results.Location(
        pafs.S3FileSystem(anonymous=True, region="us-east-1"), "bucket/p/study", "s3://bucket/p/study"
    )
    _cluster.check_storage(shared, "auto")  # shared by every node
    monkeypatch.setattr(_cluster, "filesystem_type", lambda path: "nfs4")
    _cluster.check_storage(folder, "auto")  # a shared filesystem


def test_local_storage_is_refused_when_the_autoscaler_can_add_machines(cluster, tmp_path: Path, monkeypatch) -> None:
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("available_node_types:\n  cpu_worker: {resources: {CPU: 8}, max_workers: 4}\n")
    monkeypatch.setenv("SYRE_TUNE_AUTOSCALER_CONFIG", str(nodes))
    path = write_study(tmp_path)
    done = syre_tune("run", str(path), "--storage", str(tmp_path / "out"), "--address", cluster.address, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    message = [line for line in done.stderr.splitlines() if line.startswith("syre-tune")]
    assert len(message) == 1 and "but the cluster has an autoscaler that can add machines" in message[0], message
    assert not (tmp_path / "out").exists()
