"""continual_permuted (paper §6.6, Fig. 11): the CNN under vmap, the pixel permutations, the
reported accuracy and conv rank, each against a plain reference written here; and the paper's
direction (weight decay collapses the conv output, syre keeps it) at a small scale on digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from syre_tune import benchmarks
from syre_tune._random import generator
from syre_tune.benchmarks import continual_permuted as cp
from syre_tune.benchmarks._population import Population
from syre_tune.data import load

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {"train_size": 200, "test_size": 60, "rank_batch": 150, "batch_size": 16, "lr": 0.05}


def reference_forward(params: dict, buffers: dict, x: torch.Tensor, layer: str | None = None) -> torch.Tensor:
    """The PyTorch-example CNN written with torch.nn.functional, one member, no vmap. σ-Asym
    gates (when ``buffers`` holds their mixing matrices C) are sigmoid(C h) ⊙ h over channels."""

    def act(h: torch.Tensor, name: str) -> torch.Tensor:
        mixing = buffers.get(f"{name}.mixing")
        if mixing is None:
            return F.relu(h)
        if h.dim() == 4:  # (B, C, H, W): mix the channels
            return torch.sigmoid(torch.einsum("dc,bchw->bdhw", mixing, h)) * h
        return torch.sigmoid(h @ mixing.T) * h

    h1 = act(F.max_pool2d(F.conv2d(x, params["conv1.weight"], params["conv1.bias"]), 2), "act1")
    h2 = act(F.max_pool2d(F.conv2d(h1, params["conv2.weight"], params["conv2.bias"]), 2), "act2")
    if layer == "conv1":
        return h1.reshape(len(x), -1)
    if layer == "conv2":
        return h2.reshape(len(x), -1)
    h3 = act(h2.reshape(len(x), 320) @ params["fc1.weight"].T + params["fc1.bias"], "act3")
    return h3 @ params["fc2.weight"].T + params["fc2.bias"]


@pytest.mark.parametrize("method", ["vanilla", "sigma_asym"])
def test_population_cnn_under_vmap_is_the_plain_cnn_per_member(method: str) -> None:
    cfg = cp.Config(method=method, seeds=(3, 5))
    population = Population(cfg, cp.CNN, cfg.seeds)
    x = torch.randn(2, 7, 1, 28, 28)
    logits = population(x)
    features = population(x, layer="conv2")
    assert logits.shape == (2, 7, 10) and features.shape == (2, 7, 320)
    assert population(x, layer="conv1").shape == (2, 7, 1440)
    for k in range(2):
        params = {n: p[k].detach() for n, p in population.params.items()}
        buffers = {n: b[k] for n, b in population.buffers.items()}
        assert (method == "sigma_asym") == bool(buffers)
        torch.testing.assert_close(logits[k], reference_forward(params, buffers, x[k]), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(features[k], reference_forward(params, buffers, x[k], "conv2"))


def test_permutations_are_identity_then_seeded_and_independent_of_the_other_seeds() -> None:
    orders = cp.permutations((3, 5), 3, 784)
    assert orders.shape == (2, 3, 784)
    assert torch.equal(orders[:, 0], torch.arange(784).expand(2, -1))
    assert torch.equal(orders[1], cp.permutations((5,), 3, 784)[0])
    expected = torch.randperm(784, generator=generator(3, "permutation", "task2"))
    assert torch.equal(orders[0, 2], expected)
    assert not torch.equal(orders[0, 1], orders[1, 1]) and not torch.equal(orders[0, 1], orders[0, 2])
    images = torch.randn(2, 4, 1, 28, 28)
    out = cp.permute(images, orders[:, 1])
    for k in range(2):
        for b in range(4):
            flat = images[k, b, 0].flatten()
            assert torch.equal(out[k, b, 0].flatten(), torch.stack([flat[i] for i in orders[k, 1].tolist()]))


def _run(values: dict) -> tuple[list[tuple[int, dict]], dict]:
    bench = benchmarks.get(cp.NAME)
    cfg = bench.make_config(values)
    rows, states = [], {}

    def report(iteration, metrics, state=None):
        rows.append((iteration, {k: torch.as_tensor(v).cpu().numpy() for k, v in metrics.items()}))
        states[iteration] = state()

    bench.run(cfg, report)
    return rows, states


def test_task_end_rows_report_accuracy_and_conv_rank_as_computed_by_hand() -> None:
    seeds, steps = (4, 7), 6
    values = {**SMALL, "method": "syre", "sigma0": 1.0, "seeds": seeds, "tasks": 2, "steps_per_task": steps}
    rows, states = _run(values)
    assert [i for i, _ in rows] == [steps, 2 * steps]  # one row per task end
    assert [r["task"].tolist() for _, r in rows] == [[0.0, 0.0], [1.0, 1.0]]
    data = load("digits", train_size=SMALL["train_size"], test_size=SMALL["test_size"])
    last = rows[-1][1]
    for k, seed in enumerate(seeds):
        params = {n: p[k] for n, p in states[2 * steps]["model"].items()}
        order = torch.randperm(784, generator=generator(seed, "permutation", "task1"))
        accuracies = []
        for task_order in (torch.arange(784), order):
            x = data.x_test.reshape(-1, 784)[:, task_order].reshape(-1, 1, 28, 28)
            logits = reference_forward(params, {}, x)
            accuracies.append(float((logits.argmax(1) == data.y_test).float().mean()))
        loss = float(F.cross_entropy(logits, data.y_test))
        x = data.x_train[: SMALL["rank_batch"]].reshape(-1, 784)[:, order].reshape(-1, 1, 28, 28)
        features = reference_forward(params, {}, x, "conv2").double().numpy()  # (150, 320)
        rank = int((np.linalg.eigvalsh(np.cov(features, rowvar=False)) > 1e-4).sum())
        assert last["task_accuracy"][k] == pytest.approx(accuracies[1], abs=1e-6)
        assert last["mean_accuracy"][k] == pytest.approx(np.mean(accuracies), abs=1e-6)
        assert last["test_loss"][k] == pytest.approx(loss, rel=1e-4)
        assert abs(last["conv_rank"][k] - rank) <= 1  # float32 SVD vs float64 eigh at the threshold


def test_reports_between_task_ends_name_the_task_being_trained() -> None:
    values = {**SMALL, "method": "vanilla", "tasks": 2, "steps_per_task": 4, "report_every": 3}
    rows, _ = _run(values)
    assert [(i, float(r["task"][0])) for i, r in rows] == [(3, 0.0), (4, 0.0), (6, 1.0), (8, 1.0)]


def test_config_rejects_a_rank_batch_larger_than_the_training_set() -> None:
    bench = benchmarks.get(cp.NAME)
    with pytest.raises(benchmarks.ConfigError, match="rank_batch"):
        bench.run(bench.make_config({**SMALL, "rank_batch": 201, "tasks": 1, "steps_per_task": 1}), lambda *a, **k: 0)
    with pytest.raises(benchmarks.ConfigError, match="report_every"):
        bench.make_config({"report_every": 0})


def test_direction_weight_decay_collapses_the_conv_output_and_syre_keeps_it() -> None:
    """Fig. 11 at a small scale (digits, 3 tasks of 80 steps, one seed). The time scale is compressed
    with γ = 0.1 instead of the paper's 0.01: at γ = 0.01 a few hundred steps shrink the weights
    by e^-0.5 at most and weight decay does not collapse (nor does syre keep a higher rank then)."""
    common = {
        "train_size": 600,
        "test_size": 150,
        "rank_batch": 300,
        "batch_size": 32,
        "lr": 0.05,
        "gamma": 0.1,
        "tasks": 3,
        "steps_per_task": 80,
        "seeds": (0,),
    }
    wd, _ = _run({**common, "method": "weight_decay"})
    syre, _ = _run({**common, "method": "syre", "sigma0": 1.0})
    wd_last, syre_last = wd[-1][1], syre[-1][1]
    assert syre_last["conv_rank"][0] > 2 * wd_last["conv_rank"][0]
    assert syre_last["task_accuracy"][0] > wd_last["task_accuracy"][0] + 0.2


# --- figure module (data step exact, write smoke) ------------------------------------------------
def _results_frame():
    import pandas as pd

    rows = []
    # steps_per_task 10, report_every 5: rows at 5 (mid task 0), 10 (end 0), 15 (mid 1), 20 (end 1)
    for method, trial, accuracy in (("syre", "a", 0.9), ("weight_decay", "b", 0.5)):
        for seed in (0, 1):
            for iteration in (5, 10, 15, 20):
                task = (iteration - 1) // 10
                rows.append(
                    {
                        "trial_id": trial,
                        "status": "ok",
                        "method": method,
                        "sigma0": 1.0 if method == "syre" else None,
                        "sigma_d": None,
                        "gamma": 0.01,
                        "seed": seed,
                        "iteration": iteration,
                        "config.steps_per_task": 10,
                        "config.phi": 0.0,
                        "metric.task": float(task),
                        "metric.task_accuracy": accuracy - 0.1 * task + 0.01 * seed + iteration / 1000,
                        "metric.mean_accuracy": 0.3,
                        "metric.conv_rank": (300.0 if method == "syre" else 100.0) - 10 * task - seed,
                    }
                )
    return pd.DataFrame(rows)


def test_continual_info_keeps_the_task_end_rows_with_their_task_index() -> None:
    from syre_tune.analysis.figures import continual_permuted as fig

    info = fig.continual_info(_results_frame())
    assert set(info["metric"]) == {"task_accuracy", "mean_accuracy", "conv_rank"}
    assert sorted(set(info["iteration"])) == [10, 20]
    acc = info[(info["metric"] == "task_accuracy") & (info["method"] == "syre")]
    assert acc[["task", "seed", "iteration"]].values.tolist() == [[0, 0, 10], [0, 1, 10], [1, 0, 20], [1, 1, 20]]
    assert acc["value"].tolist() == pytest.approx([0.91, 0.92, 0.82, 0.83])
    last = fig.continual_last(info)
    rank = last[last["metric"] == "conv_rank"].set_index("method")
    assert rank["value"].to_dict() == {"syre": 289.5, "weight_decay": 89.5}
    assert rank["task"].tolist() == [1, 1] and rank["seeds"].tolist() == [2, 2]
    assert fig.summary(_results_frame())[0].endswith("syre higher: yes")


def test_continual_write_draws_the_figure(tmp_path) -> None:
    from syre_tune.analysis.figures import continual_permuted as fig

    written = fig.write(_results_frame(), tmp_path)
    assert {p.name for p in written} == {"continual.csv", "continual_last.csv", "continual.png", "continual.pdf"}
    assert all(p.stat().st_size > 0 for p in written)
