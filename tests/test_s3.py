"""``--storage s3://…`` end to end, against an S3 emulator on this machine (moto's server): the
trials write their Parquet parts and checkpoints to the bucket, ``status`` and ``analyze`` read
them back from there, and a bucket that does not exist is one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from syre_tune import results

moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
CLI = [sys.executable, "-m", "syre_tune.cli"]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="module")
def endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "moto server did not start"
                time.sleep(0.2)
        fs = pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{port}",
            scheme="http",
            region="us-east-1",
            access_key="test",
            secret_key="test",
            allow_bucket_creation=True,
        )
        fs.create_dir("syre")
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def uri(endpoint: str, path: str) -> str:
    return f"s3://{path}?endpoint_override={endpoint}&scheme=http&region=us-east-1"


def syre_tune(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **CREDENTIALS, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_study_on_s3_storage(endpoint: str, tmp_path: Path, monkeypatch) -> None:
    study = tmp_path / "s.yaml"
    study.write_text(
        "benchmark: theorem4\nconfig: {gamma: 0.1, n_symmetries: 2, steps: 40, report_every: 20}\n"
        "sweep: {sigma0: {grid: [0.1, 1.0]}}\nseeds: 3\n"
    )
    storage = uri(endpoint, "syre/runs")
    done = syre_tune("run", str(study), "--storage", storage, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # nothing local but the figures (remote studies draw into ./figures/<study>)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "s.yaml"]
    assert (tmp_path / "figures" / "s" / "theorem4.png").exists()
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    df = results.read(uri(endpoint, "syre/runs/s"))
    assert len(df) == 2 * 3 * 2 and not df.duplicated(["trial_id", "seed", "iteration"]).any()
    where = results.location(uri(endpoint, "syre/runs/s"))
    assert (where / "study.yaml").exists() and (where / "provenance.json").exists()
    tune_files = where.fs.get_file_info(pafs.FileSelector((where / "tune").path, recursive=True))
    names = {info.base_name for info in tune_files}
    # Tune's records of each trial are there; the finished trials' checkpoints were removed at the end
    assert "tuner.pkl" in names and "result.json" in names
    assert not [name for name in names if name.startswith("checkpoint_")]
    shown = syre_tune("status", "s", "--storage", storage, cwd=tmp_path)
    assert shown.returncode == 0 and "2 done, 0 running, 0 failed, 0 pending of 2 trials" in shown.stdout
    drawn = syre_tune("analyze", uri(endpoint, "syre/runs/s"), "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert drawn.returncode == 0 and (tmp_path / "again" / "theorem4.png").exists()


def test_a_bucket_that_does_not_exist_is_one_line(endpoint: str, tmp_path: Path) -> None:
    study = tmp_path / "s.yaml"
    study.write_text("benchmark: theorem4\nseeds: 2\n")
    done = syre_tune("run", str(study), "--storage", uri(endpoint, "no-such-bucket/runs"), cwd=tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("syre-tune")]
    assert len(lines) == 1 and "cannot write there" in lines[0], done.stderr[-2000:]


def test_credentials_in_the_storage_uri_are_written_nowhere(endpoint: str, tmp_path: Path, monkeypatch) -> None:
    """pyarrow takes ``s3://KEY:SECRET@bucket/path``: the study runs with them (none in the
    environment), and no byte written to the bucket or locally, nor any line printed, holds them."""
    key, secret = "AKIASYRETESTKEY0001", "syre+test/SECRET0002"
    study = tmp_path / "s.yaml"
    study.write_text(
        "benchmark: theorem4\nconfig: {gamma: 0.1, n_symmetries: 2, steps: 40, report_every: 20}\n"
        "sweep: {sigma0: {grid: [0.1, 1.0]}}\nseeds: 2\n"
    )
    quoted = f"{key}:{secret.replace('+', '%2B').replace('/', '%2F')}"
    storage = f"s3://{quoted}@syre/secret?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", PYTHONUNBUFFERED="1")
    runs = [
        subprocess.run([*CLI, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        for args in (["run", str(study), "--storage", storage], ["status", "s", "--storage", storage])
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr[-3000:]
    fs = pafs.S3FileSystem(
        endpoint_override=endpoint, scheme="http", region="us-east-1", access_key=key, secret_key=secret
    )
    written = [info.path for info in fs.get_file_info(pafs.FileSelector("syre/secret", recursive=True)) if info.is_file]
    assert any(path.endswith("tune/tuner.pkl") for path in written) and len(written) > 10
    texts = {path: fs.open_input_stream(path).read() for path in written}
    texts.update({str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != study})
    texts.update({f"output of {run.args[3]}": (run.stdout + run.stderr).encode() for run in runs})
    for needle in {key, secret, quoted.split(":")[1]}:
        assert not [where for where, data in texts.items() if needle.encode() in data], needle
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    assert len(results.read(uri(endpoint, "syre/secret/s"))) == 2 * 2 * 2  # trials, seeds, reports
