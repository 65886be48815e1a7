"""A local multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head that runs
no trials and two worker nodes): a study submitted with ``--address`` survives losing a node, and
a study asking more GPUs per trial than any node has is refused at submission."""

from __future__ import annotations

import shlex
import shutil
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


DOCS = Path(__file__).resolve().parents[1] / "docs" / "cluster.md"


def by_hand_commands() -> list[list[str]]:
    """The commands of docs/cluster.md's "Machines you start by hand", each as argv."""
    text = DOCS.read_text()
    block = text.split("<!-- by-hand commands (begin)", 1)[1].split("<!-- by-hand commands (end)", 1)[0]
    lines = [line.strip().split("  #", 1)[0].strip() for line in block.splitlines()[1:]]
    return [shlex.split(line) for line in lines if line]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_documented_by_hand_cluster_runs_a_study_with_token_authentication(tmp_path: Path) -> None:
    """docs/cluster.md's commands on this machine: a head (no trials) and two workers on loopback,
    each with its own temp folder, token authentication on; the study submitted from a third
    folder. Without the token the submission is refused with a hint and writes nothing."""
    export, generate, head, worker, submit = by_hand_commands()
    assert export == ["export", "RAY_AUTH_MODE=token"]
    assert generate == ["ray", "get-auth-token", "--generate"]
    assert head[:3] == ["ray", "start", "--head"] and "--num-cpus=0" in head
    assert worker == ["ray", "start", "--address=HEAD_IP:6379"]
    assert submit[:2] == ["syre-tune", "run"] and submit[3:5] == ["--address", "HEAD_IP:6379"]

    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    base = {**env(), "HOME": str(home)}  # the token lives in ~/.ray/auth_token
    base.pop("RAY_AUTH_MODE", None)
    token_env = {**base, export[1].split("=")[0]: export[1].split("=")[1]}

    def node(argv: list[str]) -> list[str]:
        """One node on this machine: loopback, its own temp folder and agent port, the free GCS port."""
        temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # Ray's socket paths stay under 108 bytes
        temps.append(temp)
        argv = [a.replace("HEAD_IP", "127.0.0.1").replace("6379", str(port)) for a in argv]
        loopback = ["--node-ip-address=127.0.0.1", f"--temp-dir={temp}", f"--dashboard-agent-listen-port={free_port()}"]
        return [ray, *argv[1:], *loopback] + ([] if "--head" in argv else ["--num-cpus=1"])

    temps: list[Path] = []
    work = tmp_path / "work"
    (work / "studies").mkdir(parents=True)
    write_study(work / "studies", config={"sleep_s": 0.01}, sweep={"sigma0": {"grid": [0.5, 1.0, 2.0]}})
    shared = tmp_path / "shared" / "syre"
    argv = [a.replace("HEAD_IP", "127.0.0.1").replace("6379", str(port)) for a in submit[2:]]
    argv = [str(Path("studies") / "study.yaml") if a.startswith("studies/") else a for a in argv]
    argv = [str(shared) if a == "/shared/syre" else a for a in argv]
    try:
        started = subprocess.run([ray, *generate[1:]], env=token_env, capture_output=True, text=True, timeout=60)
        assert started.returncode == 0 and (home / ".ray" / "auth_token").exists(), started.stderr[-2000:]
        started = subprocess.run(node(head), env=token_env, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stderr[-3000:]
        workers = [subprocess.Popen(node(worker), env=token_env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for process in workers:  # the two worker machines start at the same time
            _, err = process.communicate(timeout=180)
            assert process.returncode == 0, err[-3000:]
        # without the token: one line with the hint, nothing written
        refused = subprocess.run([*CLI, "run", *argv], cwd=work, env=base, capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2, refused.stderr[-3000:]
        message = [line for line in refused.stderr.splitlines() if line.startswith("syre-tune")]
        assert len(message) == 1 and "run with RAY_AUTH_MODE=token" in message[0], message
        assert not shared.exists()
        # as documented: the study finishes on the two workers, every row once
        done = subprocess.run(
            [*CLI, "run", *argv], cwd=work, env=token_env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert_exactly_once(shared / "study", trials=3, seeds=2)
        hosts = reports(work / "studies").groupby("tag").pid.first()
        assert hosts.nunique() >= 2, hosts  # the trials ran in the workers' processes, not one
    finally:
        subprocess.run([ray, "stop", "--force"], env=token_env, capture_output=True, timeout=120)
        for temp in temps:
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
