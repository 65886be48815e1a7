"""bench/overhead.py (Table 2/3 as a command): a tiny-budget run of the script, its comparison against torch's
AdamW, and the table layout. Times are never asserted (speed is the script's output, not a test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bench_scripts
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "overhead.py"


overhead = bench_scripts.load("overhead")

COLUMNS = {
    "model", "model_label", "batch", "variant", "mode", "store", "median_ms", "time_ratio", "round_ratio_min",
    "round_ratio_max", "peak_bytes", "state_bytes", "memory_ratio", "parameters", "device", "device_name", "torch",
    "memory_kind", "rounds", "steps_per_round", "warmup", "lr", "sigma0", "gamma", "sigma_d", "seed",
}  # fmt: skip


SMOKE_MODELS = ("mlp", "resnet18_cifar", "resnet18_w2")
"""An MLP and a CNN (two widths): the script's path for every model; the other builders are
torchvision's resnet18 and the ViT, built the same way (bench/overhead.py's full run covers them)."""


def test_smoke_models_write_parquet_and_csv(tmp_path: Path) -> None:
    command = [
        sys.executable, str(SCRIPT), "--device", "cpu", "--models", *SMOKE_MODELS, "--batches", "2",
        "--rounds", "1", "--steps-per-round", "1", "--warmup", "0", "--memory-steps", "1", "--out", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for frame in (pd.read_parquet(tmp_path / "overhead.parquet"), pd.read_csv(tmp_path / "overhead.csv")):
        assert COLUMNS <= set(frame.columns)
        assert len(frame) == len(SMOKE_MODELS) * len(overhead.VARIANTS)
        assert set(frame["variant"]) == set(overhead.VARIANTS)
        vanilla = frame[frame["variant"] == "vanilla"]
        assert (vanilla["time_ratio"] == 1.0).all() and (vanilla["memory_ratio"] == 1.0).all()
        assert frame["peak_bytes"].isna().all()  # no allocator peak on a CPU: said, not made up
        assert (frame["median_ms"] > 0).all()
    # A stored θ0 adds one copy of the selected parameters to the persistent state; a seeded one adds nothing.
    frame = pd.read_parquet(tmp_path / "overhead.parquet").set_index(["model", "variant"])
    for model in SMOKE_MODELS:
        extra = frame.at[(model, "anchor/buffer"), "state_bytes"] - frame.at[(model, "vanilla"), "state_bytes"]
        assert extra == 4 * frame.at[(model, "vanilla"), "parameters"]
        assert frame.at[(model, "anchor/seed"), "state_bytes"] == frame.at[(model, "vanilla"), "state_bytes"]
    assert "| model | batch | vanilla ms/step |" in done.stdout and "torch " in done.stdout


@pytest.mark.parametrize("variant", overhead.VARIANTS[1:])
def test_every_variant_is_adamw_with_weight_decay_2gamma_when_theta0_is_zero(variant: str, one_thread) -> None:
    """With σ0 = 0 syre's decoupled decay is AdamW's own: each variant must follow torch's
    AdamW(weight_decay=2γ) step for step (a large γ, so a wrong rate or order shows)."""
    settings = overhead.Settings(device="cpu", sigma0=0.0, gamma=20.0, lr=1e-2)
    torch.manual_seed(0)
    base = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10)
    )
    inputs, targets = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    reference = overhead.Runner("vanilla", base, settings)
    assert reference.syre is None and reference.opt.defaults["weight_decay"] == 2 * settings.gamma
    runner = overhead.Runner(variant, base, settings)
    for _ in range(4):
        reference.step(inputs, targets)
        runner.step(inputs, targets)
    expected = dict(reference.model.named_parameters())
    for name, value in runner.syre.effective_parameters(runner.model).items():
        torch.testing.assert_close(value, expected[name], rtol=1e-6, atol=1e-7)


def test_layout_is_the_papers_table() -> None:
    rows = [
        ("R", 512, "vanilla", 10.0, 1.0, 1.0),
        ("R", 512, "anchor/buffer", 10.1, 1.01, 1.114),
        ("R", 512, "anchor/seed", 89.5, 8.95, 1.0),
        ("M", 128, "vanilla", 1.8, 1.0, 1.0),
        ("M", 128, "anchor/buffer", 1.93, 1.0723, 1.15),
    ]
    frame = pd.DataFrame(rows, columns=["model_label", "batch", "variant", "median_ms", "time_ratio", "memory_ratio"])
    table = overhead.layout(frame)
    assert table.to_dict("records") == [
        {"model": "R", "batch": 512, "vanilla ms/step": "10.00", "anchor/buffer": "1.01× · 1.11×",
         "anchor/seed": "8.95× · 1.00×"},
        {"model": "M", "batch": 128, "vanilla ms/step": "1.80", "anchor/buffer": "1.07× · 1.15×",
         "anchor/seed": "—"},
    ]  # fmt: skip
