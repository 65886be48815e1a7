"""resnet_cifar (paper Fig. 3 middle): the CIFAR ResNet18 against torchvision's, the recipe (SGD,
per-step cosine, coupled decay 2γ, crop/flip, seeded batches) against a hand-written training loop,
the reported metrics against a plain evaluation, syre at σ0 = 0 against weight decay (the paper:
"when σ0 = 0 the syre model is equivalent to the vanilla model"), the figure's data steps for exact
values, and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from syre_tune import benchmarks, study
from syre_tune._random import generator
from syre_tune.analysis.figures import resnet_cifar as fig
from syre_tune.benchmarks import resnet_cifar as rc
from syre_tune.benchmarks._vision import cosine_lr
from syre_tune.data import Batches, DataError, crop_flip, load

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "dataset": "synthetic_cifar10",
    "width": 4,
    "train_size": 48,
    "test_size": 40,
    "batch_size": 16,
    "report_every": 1,
}


def _run(values: dict) -> tuple[list[tuple[int, dict]], dict]:
    bench = benchmarks.get(rc.NAME)
    rows, states = [], {}

    def report(iteration, metrics, state=None):
        rows.append((iteration, {k: torch.as_tensor(v).cpu().numpy() for k, v in metrics.items()}))
        states[iteration] = state()

    bench.run(bench.make_config(values), report)
    return rows, states


# --- the model


def test_resnet18_at_width_64_is_torchvisions_resnet18_with_the_cifar_stem() -> None:
    import torchvision

    ours = rc.ResNet18(width=64, num_classes=10)
    theirs = torchvision.models.resnet18(num_classes=10)
    theirs.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    theirs.maxpool = nn.Identity()
    theirs.load_state_dict(ours.state_dict())  # strict: same names and shapes
    assert sum(p.numel() for p in ours.parameters()) == 11_173_962  # the usual CIFAR ResNet18 count
    x = torch.randn(3, 3, 32, 32)
    for mode in (True, False):  # batch statistics, then running statistics
        ours.train(mode), theirs.train(mode)
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_resnet18_is_initialised_as_torchvision_does() -> None:
    torch.manual_seed(0)
    model = rc.ResNet18(width=16, num_classes=10)
    conv = model.layer3[0].conv2.weight  # (64, 64, 3, 3): Kaiming normal, fan_out = 64·9, std √(2/576)
    assert conv.std().item() == pytest.approx(math.sqrt(2 / 576), rel=0.05)
    assert conv.mean().item() == pytest.approx(0.0, abs=0.005)
    assert torch.equal(model.layer2[1].bn1.weight, torch.ones(32)) and torch.equal(model.bn1.bias, torch.zeros(16))
    bound = 1 / math.sqrt(128)  # fc keeps nn.Linear's default: U(±1/√fan_in)
    assert model.fc.weight.abs().max().item() <= bound and model.fc.weight.abs().max().item() > 0.9 * bound
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_cosine_lr_is_pytorchs_cosine_annealing_stepped_every_step() -> None:
    steps, peak = 7, 0.1
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=peak)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=0.0)
    for step in range(steps):
        assert cosine_lr(peak, step, steps) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        optimizer.step()
        schedule.step()


# --- the recipe and the reports, against a plain loop


def _reference_training(seed: int, gamma: float, epochs: int, lr: float) -> tuple[nn.Module, list[float]]:
    """The recipe written out: torch's SGD with weight_decay=2γ, momentum 0.9, the cosine per step,
    the seed's batch order and crop/flip draws; returns the model and each step's loss."""
    data = load("synthetic_cifar10", train_size=TINY["train_size"], test_size=TINY["test_size"])
    torch.manual_seed(generator(seed, "model", "init").initial_seed())  # the method layer's seeded init
    model = rc.ResNet18(width=TINY["width"], num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=2 * gamma)
    batches = Batches(TINY["train_size"], TINY["batch_size"], seed=seed)
    augment = generator(seed, rc.NAME, "augment")
    steps = epochs * (TINY["train_size"] // TINY["batch_size"])
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * (1 + math.cos(math.pi * step / steps)) / 2
        idx = batches.next()
        loss = F.cross_entropy(model(crop_flip(data.x_train[idx], augment)), data.y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


def test_weight_decay_run_is_the_plain_recipe_and_reports_what_a_plain_evaluation_gives() -> None:
    seed, gamma, lr = 3, 0.01, 0.05
    rows, states = _run({**TINY, "method": "weight_decay", "gamma": gamma, "lr": lr, "epochs": 2, "seeds": (seed,)})
    assert [i for i, _ in rows] == [3, 6]  # 48 // 16 = 3 steps an epoch, a report every epoch
    model, losses = _reference_training(seed, gamma, epochs=2, lr=lr)
    ours = states[6]["members"]["models"][0]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(ours[name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert rows[0][1]["train_loss"][0] == pytest.approx(np.mean(losses[:3]), rel=1e-4)
    assert rows[1][1]["train_loss"][0] == pytest.approx(np.mean(losses[3:]), rel=1e-4)
    data = load("synthetic_cifar10", train_size=TINY["train_size"], test_size=TINY["test_size"])
    model.eval()  # running statistics
    with torch.no_grad():
        logits = model(data.x_test)
    assert rows[1][1]["test_loss"][0] == pytest.approx(F.cross_entropy(logits, data.y_test).item(), rel=1e-4)
    accuracy = (logits.argmax(1) == data.y_test).float().mean().item()
    assert rows[1][1]["test_accuracy"][0] == pytest.approx(accuracy, abs=1 / TINY["test_size"])


def test_syre_at_sigma0_zero_is_weight_decay_and_syre_pulls_toward_its_theta0() -> None:
    """σ0 = 0: θ0 = 0 and γ‖φ − 0‖² is the recipe's decay (same rows). σ0 > 0: the model's
    buffers hold θ0 with std σ0/√fan_in per tensor, and the rows differ."""
    common = {**TINY, "gamma": 0.01, "epochs": 2, "seeds": (5,)}
    decayed, _ = _run({**common, "method": "weight_decay"})
    syre0, _ = _run({**common, "method": "syre", "sigma0": 0.0})
    for (i, a), (j, b) in zip(decayed, syre0, strict=True):
        assert i == j
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=key)
    syre, states = _run({**common, "method": "syre", "sigma0": 1.0})
    theta0 = states[6]["members"]["models"][0]["layer4.1.conv2.weight_syre_theta0"]  # (32, 32, 3, 3)
    assert theta0.std().item() == pytest.approx(1.0 / math.sqrt(32 * 9), rel=0.1)
    assert syre[-1][1]["train_loss"][0] != pytest.approx(decayed[-1][1]["train_loss"][0], rel=1e-4)


# --- bad input


def test_config_rejects_bad_values() -> None:
    bench = benchmarks.get(rc.NAME)
    for values, key in [
        ({"lr": 0.0}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": 0.0, "nesterov": True}, "nesterov"),
        ({"width": 0}, "width"),
        ({"epochs": 0}, "epochs"),
        ({"sigma0": -0.1}, "sigma0"),
    ]:
        with pytest.raises(benchmarks.ConfigError, match=key):
            bench.make_config(values)


def test_run_rejects_images_that_are_not_cifar_shaped_and_a_batch_larger_than_the_data() -> None:
    bench = benchmarks.get(rc.NAME)
    with pytest.raises(benchmarks.ConfigError, match="dataset"):
        bench.run(bench.make_config({**TINY, "dataset": "digits"}), lambda *a, **k: None)
    with pytest.raises(benchmarks.ConfigError, match="batch_size"):
        bench.run(bench.make_config({**TINY, "batch_size": 49}), lambda *a, **k: None)


def test_check_rejects_a_missing_cifar_root_and_a_params_pattern_that_selects_nothing(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        rc.check(rc.Config(dataset="cifar10", data_root=str(tmp_path / "none")))
    assert "\n" not in str(error.value)
    with pytest.raises(benchmarks.ConfigError, match="params"):
        rc.check(rc.Config(dataset="synthetic_cifar10", params=("fc.*", "head.*")))
    rc.check(rc.Config(dataset="synthetic_cifar10", params=("fc.*", "layer4.*")))


def _study(tmp_path: Path, sweep: str, extra: str = "") -> Path:
    path = tmp_path / "resnet_cifar.yaml"
    path.write_text(
        f"benchmark: resnet_cifar\nconfig: {{dataset: synthetic_cifar10, width: 4{extra}}}\n"
        f"variants:\n  - config: {{method: syre}}\n    sweep: {{sigma0: {{grid: {sweep}}}}}\n"
        "seeds: 2\nmetric: test_accuracy\nmode: max\n"
    )
    return path


def test_study_load_rejects_a_negative_sigma0_and_a_missing_cifar_root(tmp_path: Path) -> None:
    with pytest.raises(study.StudyError, match=r"sweep\.sigma0") as error:
        study.load(_study(tmp_path, "[0.01, -0.1]"))
    assert "\n" not in str(error.value)
    missing = tmp_path / "no-cifar"
    with pytest.raises(study.StudyError, match=r"config\.dataset") as error:
        study.load(_study(tmp_path, "[0.01]", f", dataset: cifar10, data_root: {missing}"))
    assert "\n" not in str(error.value)
    assert not missing.exists()


def test_shipped_study_is_at_the_papers_scale_and_its_smoke_block_loads_on_the_stand_in() -> None:
    import yaml

    spec = yaml.safe_load((ROOT / "studies" / "resnet_cifar.yaml").read_text())  # cifar10 is not here to load
    assert spec["config"]["dataset"] == "cifar10" and spec["config"]["width"] == 64 and spec["seeds"] == 10
    assert rc.Config().dataset == "cifar10" and rc.Config().epochs == 200 and 2 * rc.Config().gamma == 5e-4
    (smoke,) = study.load(ROOT / "studies" / "resnet_cifar.yaml", smoke=True)
    assert smoke.fixed["dataset"] == "synthetic_cifar10"


# --- the figure's data steps


def _results() -> pd.DataFrame:
    """Two reports per run: the first (iteration 10) must be ignored."""
    finals = {
        ("vanilla", None): [0.80, 0.84],
        ("weight_decay", None): [0.90, 0.92, 0.94],
        ("syre", 0.01): [0.91, 0.93],
        ("syre", 0.5): [0.70, 0.72],
    }
    rows = []
    for trial, ((method, sigma0), values) in enumerate(finals.items()):
        for seed, value in enumerate(values):
            for iteration, accuracy in ((10, 0.1), (20, value)):
                rows.append(
                    {
                        "trial_id": f"t{trial}",
                        "method": method,
                        "seed": seed,
                        "iteration": iteration,
                        "sigma0": 0.0 if sigma0 is None else sigma0,  # a reference's sigma0 is ignored
                        "config.width": 8,
                        "config.dataset": "synthetic_cifar10",
                        "metric.test_accuracy": accuracy,
                        "metric.test_loss": 1 - accuracy,
                        "metric.train_loss": 2 - accuracy,
                    }
                )
    return pd.DataFrame(rows)


def test_final_rows_and_sigma0_table_are_the_last_reports_and_their_mean_and_std() -> None:
    final = fig.final_rows(_results())
    assert len(final) == 9 and (final["iteration"] == 20).all()
    assert final["sigma0"].isna().tolist() == [False] * 4 + [True] * 5
    table = fig.sigma0_table(final)
    assert table["method"].tolist() == ["syre", "syre", "vanilla", "weight_decay"]
    assert table["sigma0"].tolist()[:2] == [0.01, 0.5] and table["sigma0"].isna().tolist()[2:] == [True, True]
    np.testing.assert_allclose(table["test_accuracy_mean"], [0.92, 0.71, 0.82, 0.92])
    np.testing.assert_allclose(table["test_accuracy_std"], [math.sqrt(2e-4), math.sqrt(2e-4), math.sqrt(8e-4), 0.02])
    np.testing.assert_allclose(table["test_loss_mean"], [0.08, 0.29, 0.18, 0.08])
    assert table["seeds"].tolist() == [2, 2, 2, 3]
    with pytest.raises(ValueError, match="metric.test_accuracy"):
        fig.final_rows(_results().drop(columns="metric.test_accuracy"))


def test_welch_is_scipys_unequal_variance_t_test() -> None:
    from scipy import stats

    a, b = np.array([0.91, 0.93, 0.92, 0.95]), np.array([0.90, 0.92, 0.94])
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert fig.welch(a, b) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-12)
    # by hand: t = (0.9275 − 0.92)/√(s_a²/4 + s_b²/3)
    t = (a.mean() - b.mean()) / math.sqrt(a.var(ddof=1) / 4 + b.var(ddof=1) / 3)
    assert fig.welch(a, b)[0] == pytest.approx(t, rel=1e-12)
    assert fig.welch(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == (0.0, 1.0)
    assert fig.welch(np.array([1.0, 1.0]), np.array([0.5, 0.5])) == (math.inf, 0.0)
    assert all(math.isnan(v) for v in fig.welch(np.array([1.0]), b))


def test_claim_table_tests_each_sigma0_against_each_reference() -> None:
    from scipy import stats

    claims = fig.claim_table(fig.final_rows(_results()))
    assert claims["reference"].tolist() == ["weight_decay", "weight_decay", "vanilla", "vanilla"]
    assert claims["sigma0"].tolist() == [0.01, 0.5, 0.01, 0.5]
    assert claims["below_claim"].tolist() == [True, False, True, False]
    np.testing.assert_allclose(claims["difference"], [0.0, -0.21, 0.10, -0.11], atol=1e-12)
    expected = stats.ttest_ind([0.70, 0.72], [0.90, 0.92, 0.94], equal_var=False).pvalue
    assert claims["p_value"].iloc[1] == pytest.approx(expected, rel=1e-12)
    assert claims["significant"].tolist() == [
        False,
        True,
        False,
        stats.ttest_ind([0.70, 0.72], [0.80, 0.84], equal_var=False).pvalue < 0.05,
    ]
    assert claims["in_band"].tolist() == [True, False, False, False]
    lines = fig.summary(_results())
    assert "no significant difference from weight_decay for σ0 < 0.2" in lines[-3] and lines[-3].endswith(": yes")
    assert "significant against weight_decay at σ0 ≥ 0.2: 0.5 (-0.2100)" in lines[-2]


def test_write_draws_the_figure_and_the_tables(tmp_path: Path) -> None:
    written = fig.write(_results(), tmp_path)
    assert sorted(p.name for p in written) == [
        "resnet_cifar.csv",
        "resnet_cifar.pdf",
        "resnet_cifar.png",
        "resnet_cifar_claim.csv",
        "resnet_cifar_table.csv",
    ]
    assert (tmp_path / "resnet_cifar.png").stat().st_size > 10_000
    assert len(pd.read_csv(tmp_path / "resnet_cifar_claim.csv")) == 4


def test_channels_last_gives_the_same_rows_and_bf16_autocast_trains() -> None:
    """Speed options: NHWC storage changes nothing beyond rounding (amplified by 3 SGD steps); bf16
    autocast (CPU here) runs, reports finite values near fp32's, and leaves parameters and θ0 in fp32."""
    common = {**TINY, "method": "syre", "sigma0": 0.1, "gamma": 0.01, "epochs": 1, "seeds": (2,)}
    plain, _ = _run(common)
    nhwc, _ = _run({**common, "channels_last": True})
    for key in plain[0][1]:
        np.testing.assert_allclose(plain[0][1][key], nhwc[0][1][key], rtol=0.02, atol=1e-3, err_msg=key)
    bf16, states = _run({**common, "precision": "bf16"})
    assert all(np.isfinite(v).all() for v in bf16[0][1].values())
    assert bf16[0][1]["train_loss"][0] == pytest.approx(plain[0][1]["train_loss"][0], rel=0.05)
    assert {t.dtype for t in states[3]["members"]["models"][0].values() if t.is_floating_point()} == {torch.float32}
