"""bench/gpu_packing.py (trials packed several per GPU): the study it runs loads as written, its data
step's numbers, and its refusal where there is no GPU. The GPU run itself is the script's output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import bench_scripts
import pytest
import yaml

from syre_tune import study as study_module

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_packing.py"


packing = bench_scripts.load("gpu_packing")


@pytest.mark.parametrize("fraction", [1.0, 0.25])
def test_the_probe_study_loads_with_its_gpu_share_and_trial_count(tmp_path: Path, fraction: float) -> None:
    settings = packing.Settings(trials=5, steps=40)
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump(packing.study(settings, fraction)))
    (loaded,) = study_module.load(path)
    assert loaded.benchmark == "fcn_collapse" and loaded.num_trials == 5
    assert (loaded.resources.cpu, loaded.resources.gpu) == (1.0, fraction)


def test_summary_counts_trials_per_hour_and_the_samples() -> None:
    row = packing.summarise(0.25, 16, 120.0, [(20.0, 900.0), (60.0, 1500.0), (40.0, 1200.0)])
    assert row["concurrent_trials"] == 4
    assert row["trials_per_hour"] == pytest.approx(3600 * 16 / 120)
    assert row["gpu_util_mean"] == pytest.approx(40.0) and row["gpu_util_median"] == 40.0
    assert row["gpu_memory_peak_mib"] == 1500.0
    one = packing.summarise(1.0, 16, 480.0, [(10.0, 500.0)])
    text = packing.table([one, row])
    assert "| 0.25 | 4 | 120 | 480 | 4.00× | 40 % · 40 % | 1500 |" in text


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_without_a_gpu_it_refuses_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gpu_packing: error: needs a CUDA GPU and nvidia-smi (none found on this machine)"
    ]
    assert not out.exists()


@pytest.mark.parametrize("argument", [["--fractions", "0"], ["--fractions", "1.5"], ["--trials", "0"]])
def test_bad_arguments_exit_2(argument: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        packing.parse_args(argument)
    assert raised.value.code == 2
