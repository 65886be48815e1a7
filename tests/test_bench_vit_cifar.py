"""vit_cifar (paper Fig. 12): the ViT against a literal transformer written out, the reported rank
against the trained model's own covariance, the paper's direction at a large γ on the generated
CIFAR stand-in, bad input, and the figure's data step against exact values."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
import torch

from syre_tune import benchmarks
from syre_tune._core import SigmaAsym
from syre_tune.analysis.figures import vit_cifar as figure
from syre_tune.benchmarks import vit_cifar as bench
from syre_tune.benchmarks._common import ConfigError
from syre_tune.benchmarks._methods import Parts
from syre_tune.data import DataError

SMALL = {"dim": 12, "depth": 2, "heads": 3, "head_dim": 4, "mlp_dim": 10, "patch": 8}


def reference_patches(images: torch.Tensor, p: int) -> torch.Tensor:
    """b c (h p1) (w p2) -> b (h w) (p1 p2 c), one patch at a time."""
    b, c, height, width = images.shape
    rows = []
    for i in range(height // p):
        for j in range(width // p):
            block = images[:, :, i * p : (i + 1) * p, j * p : (j + 1) * p]  # (b, c, p1, p2)
            rows.append(block.permute(0, 2, 3, 1).reshape(b, -1))
    return torch.stack(rows, 1)


def layer_norm(x: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def reference_vit(model: bench.ViT, images: torch.Tensor, cfg: bench.Config) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-norm ViT with softmax attention and exact GELU, every product written out (eval mode)."""
    x = reference_patches(images, cfg.patch) @ model.embed.weight.T + model.embed.bias
    x = torch.cat([model.cls_token.expand(len(x), 1, -1), x], 1) + model.pos_embedding
    for block in model.blocks:
        h = layer_norm(x, block.norm1)
        q, k, v = (h @ block.qkv.weight.T).chunk(3, dim=-1)
        heads = []
        for a in range(cfg.heads):
            part = slice(a * cfg.head_dim, (a + 1) * cfg.head_dim)
            scores = q[..., part] @ k[..., part].transpose(1, 2) / math.sqrt(cfg.head_dim)
            heads.append(torch.softmax(scores, -1) @ v[..., part])
        x = x + torch.cat(heads, -1) @ block.proj.weight.T + block.proj.bias
        h = layer_norm(x, block.norm2) @ block.fc1.weight.T + block.fc1.bias
        h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
        x = x + h @ block.fc2.weight.T + block.fc2.bias
    last_input = layer_norm(x[:, 0], model.head_norm)
    return last_input @ model.head.weight.T + model.head.bias, last_input


def test_patchify_is_row_major_patches_flattened_as_p1_p2_c() -> None:
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(bench.patchify(images, 8), reference_patches(images, 8), rtol=0, atol=0)


def test_vit_forward_is_the_literal_pre_norm_transformer() -> None:
    cfg = bench.Config(**SMALL)
    model = bench.ViT(cfg, 5, Parts("weight_decay", seed=0)).eval()
    images = torch.randn(4, 3, 32, 32)
    logits, last_input = model(images, features=True)
    want_logits, want_input = reference_vit(model, images, cfg)
    torch.testing.assert_close(last_input, want_input, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits, want_logits, rtol=1e-4, atol=1e-5)
    assert model.pos_embedding.shape == (17, 12) and model.cls_token.shape == (12,)  # 4×4 patches + CLS


def test_sigma_asym_gates_each_mlp_and_the_others_use_gelu() -> None:
    cfg = bench.Config(**SMALL)
    gated = bench.ViT(cfg, 5, Parts("sigma_asym", seed=1))
    plain = bench.ViT(cfg, 5, Parts("syre", seed=1))
    assert all(isinstance(b.act, SigmaAsym) and b.act.mixing.shape == (10, 10) for b in gated.blocks)
    assert not torch.equal(gated.blocks[0].act.mixing, gated.blocks[1].act.mixing)  # seeded per layer name
    assert all(isinstance(b.act, torch.nn.GELU) for b in plain.blocks)


def test_dropout_zeroes_or_rescales_and_follows_its_generator() -> None:
    drop = bench.Dropout(0.25)
    x = torch.rand(4000) + 1.0
    drop.generator = torch.Generator().manual_seed(3)
    y = drop(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / 0.75)
    assert abs(1 - kept.float().mean().item() - 0.25) < 0.03
    drop.generator = torch.Generator().manual_seed(3)
    torch.testing.assert_close(drop(x), y, rtol=0, atol=0)
    assert torch.equal(drop.eval()(x), x)


def test_cosine_lr_runs_from_lr_to_zero() -> None:
    assert bench.cosine_lr(0.4, 0, 10) == 0.4
    assert bench.cosine_lr(0.4, 5, 10) == pytest.approx(0.2)
    assert bench.cosine_lr(0.4, 10, 10) == pytest.approx(0.0, abs=1e-12)


def _run(values: dict) -> tuple[list[tuple[int, dict]], dict]:
    b = benchmarks.get("vit_cifar")
    cfg = b.make_config(values)
    reports: list[tuple[int, dict]] = []
    states: dict[int, dict] = {}

    def report(iteration, metrics, state=None):
        reports.append((iteration, {k: np.asarray(v) for k, v in metrics.items()}))
        states[iteration] = state() if callable(state) else state

    b.run(cfg, report)
    return reports, states


TINY = {"dataset": "synthetic_cifar10", "train_size": 600, "test_size": 100, "eval_size": 100, "batch_size": 32}


def test_reported_rank_is_the_rank_of_the_trained_models_last_layer_input() -> None:
    values = {**TINY, **SMALL, "method": "weight_decay", "gamma": 0.01, "steps": 6, "report_every": 3}
    values |= {"seeds": (1, 2), "input_scale": 0.5, "rank_samples": 64, "lr": 1e-3}
    reports, states = _run(values)
    assert [i for i, _ in reports] == [0, 3, 6]
    cfg = benchmarks.get("vit_cifar").make_config(values)
    x = bench.load_data(cfg).x_train[:64] * 0.5
    for k, seed in enumerate((1, 2)):
        model = bench.ViT(cfg, 10, Parts("weight_decay", seed=seed))
        model.load_state_dict(states[6]["members"]["models"][k])
        _, last_input = reference_vit(model, x, cfg)
        eigenvalues = torch.linalg.eigvalsh(torch.cov(last_input.detach().double().T))
        assert reports[-1][1]["rank"][k] == int((eigenvalues > 1e-4).sum())
        assert 0 < reports[-1][1]["rank"][k] <= 12


def test_weight_decay_collapses_the_last_layer_rank_below_syres_at_a_large_gamma() -> None:
    """The paper's direction (Fig. 12 left): at γ = 0.1, α = 1, weight decay's final-layer input
    collapses and syre's (same γ, σ0 = 1) keeps its full rank (generated CIFAR stand-in, a 2-block
    ViT of width 32, 150 Adam steps at lr 1e-3)."""
    common = {**TINY, "train_size": 1500, "eval_size": 200, "test_size": 200, "batch_size": 64}
    common |= {"dim": 32, "depth": 2, "heads": 2, "head_dim": 16, "mlp_dim": 64, "patch": 8, "lr": 1e-3}
    common |= {"gamma": 0.1, "steps": 150, "report_every": 150, "seeds": (0, 1), "rank_samples": 512}
    decay, _ = _run({**common, "method": "weight_decay"})
    syre, _ = _run({**common, "method": "syre", "sigma0": 1.0})
    decay_end, syre_end = decay[-1][1], syre[-1][1]
    assert decay[-1][0] == syre[-1][0] == 150
    assert (syre_end["rank"] > decay_end["rank"]).all()
    assert (syre_end["test_accuracy"] > decay_end["test_accuracy"]).all()


def test_bf16_autocast_runs_and_keeps_parameters_fp32() -> None:
    values = {**TINY, **SMALL, "method": "syre", "sigma0": 0.1, "gamma": 0.01, "steps": 2, "report_every": 2}
    reports, states = _run(values | {"precision": "bf16", "seeds": (0,)})
    assert np.isfinite(reports[-1][1]["train_loss"]).all()
    assert all(t.dtype == torch.float32 for t in states[2]["members"]["models"][0].values())


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"patch": 5}, "patch"),
        ({"input_scale": 0.0}, "input_scale"),
        ({"vit_dropout": 1.0}, "vit_dropout"),
        ({"rank_samples": 1}, "rank_samples"),
        ({"sigma0": -0.1}, "sigma0"),
    ],
)
def test_bad_config_values_name_their_key(values: dict, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        benchmarks.get("vit_cifar").make_config(values)
    assert error.value.key in (key, "config")
    assert key in str(error.value)


def test_check_rejects_a_params_pattern_that_selects_nothing_and_a_missing_cifar_root(tmp_path) -> None:
    b = benchmarks.get("vit_cifar")
    b.check(b.make_config({"dataset": "synthetic_cifar10", "params": ["head.*", "blocks.*.fc1.*"]}))
    with pytest.raises(ConfigError, match="params"):
        b.check(b.make_config({"dataset": "synthetic_cifar10", "params": ["mlp_head.*"]}))
    with pytest.raises(DataError) as error:
        b.check(b.make_config({"dataset": "cifar10", "data_root": str(tmp_path)}))
    assert "\n" not in str(error.value)


# --- the figure ---------------------------------------------------------------------------------


def _rows() -> pd.DataFrame:
    rows = []
    # (trial, method, gamma, α): t0 lies on both sweeps (γ = 1e-4, α = 1); t3 has no γ (sigma_asym)
    runs = [
        ("t0", "syre", 1e-4, 1.0),
        ("t1", "weight_decay", 0.1, 1.0),
        ("t2", "weight_decay", 1e-4, 0.1),
        ("t3", "sigma_asym", None, 1.0),
        ("t4", "syre", 0.1, 0.1),  # on neither sweep
    ]
    for trial, method, gamma, scale in runs:
        for seed in (0, 1):
            for iteration in (0, 5):
                rows.append(
                    {
                        "trial_id": trial,
                        "method": method,
                        "seed": seed,
                        "iteration": iteration,
                        "gamma": gamma,
                        "config.input_scale": scale,
                        "config.dataset": "synthetic_cifar10 (generated: ...)",
                        "config.depth": 2,
                        "config.dim": 32,
                        "config.patch": 8,
                        "metric.test_accuracy": 0.5 + 0.1 * iteration / 5 + 0.02 * seed,
                        "metric.rank": 10.0 + 2 * seed + iteration,
                    }
                )
    return pd.DataFrame(rows)


def test_figure_info_places_runs_on_their_sweeps_at_the_last_report() -> None:
    info = figure.vit_cifar_info(_rows())
    got = [[s, m, None if np.isnan(x) else x] for s, m, x in info[["sweep", "method", "x"]].values.tolist()]
    assert got == [
        ["gamma", "sigma_asym", None],
        ["gamma", "syre", 1e-4],
        ["gamma", "weight_decay", 0.1],
        ["input_scale", "sigma_asym", 1.0],
        ["input_scale", "syre", 1.0],
        ["input_scale", "weight_decay", 0.1],
    ]
    assert info["test_accuracy"].tolist() == pytest.approx([0.61] * 6)  # mean of 0.6 and 0.62
    assert info["rank"].tolist() == [16.0] * 6  # mean of 15 and 17
    assert info["rank_std"].tolist() == pytest.approx([math.sqrt(2)] * 6)
    assert info["seeds"].tolist() == [2] * 6


def test_figure_draws_writes_and_summarises(tmp_path) -> None:
    rows = _rows()
    figure.draw_vit_cifar(figure.vit_cifar_info(rows)).savefig(io.BytesIO(), format="png")
    assert figure.model_label(rows) == "ViT 2×32, patch 8"
    names = {p.name for p in figure.write(rows, tmp_path)}
    assert {"vit_cifar.png", "vit_cifar.pdf", "vit_cifar.csv"} <= names
    assert len(figure.summary(rows)) == 6  # no γ / α value shared by weight_decay and syre: no verdict
    rows.loc[rows["trial_id"] == "t4", "config.input_scale"] = 1.0  # syre at γ = 0.1, α = 1
    rows.loc[rows["trial_id"] == "t1", "metric.rank"] -= 5.0
    verdict = "weight_decay's rank below syre's at gamma = 0.1: yes (means over seeds 11 vs 16)"
    assert figure.summary(rows)[-1] == verdict
