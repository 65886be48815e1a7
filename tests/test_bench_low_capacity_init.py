"""low_capacity_init (paper Fig. 1): the collapsed init, the distinct-neuron count and the rank
against plain references; vanilla stays exactly collapsed; syre escapes (the paper's direction);
the figure's data step against exact values."""

from __future__ import annotations

import functools
import io

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from syre_tune import benchmarks
from syre_tune.analysis.figures import low_capacity_init as figure
from syre_tune.benchmarks import low_capacity_init as bench
from syre_tune.benchmarks._methods import Parts, seeded_init


def reference_distinct(vectors: torch.Tensor, rtol: float) -> int:
    """Connected components of "‖u_i − u_j‖ ≤ rtol·max(‖u_i‖, ‖u_j‖)", by a plain union-find."""
    n = len(vectors)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(n):
            a, b = vectors[i].double(), vectors[j].double()
            if float((a - b).norm()) <= rtol * max(float(a.norm()), float(b.norm())):
                parent[root(i)] = root(j)
    return len({root(i) for i in range(n)})


def test_distinct_units_counts_clusters_like_a_union_find() -> None:
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(5, 7, generator=gen)
    # units: 0,3,4 copies of base[0] (one off by 1e-5 relative: same); 1 and 6 copies of base[1];
    # 2 is base[1] + 1e-2 relative (distinct); 5 alone.
    rows = [base[0], base[1], base[1] * 1.01, base[0], base[0] * (1 + 1e-5), base[2], base[1]]
    weights = torch.stack(rows).unsqueeze(0)
    assert bench.distinct_units(weights, 1e-3).tolist() == [reference_distinct(weights[0], 1e-3)] == [4]
    # a chain a ~ b ~ c where a and c are not close is one component
    chain = torch.stack([torch.ones(3), torch.ones(3) * 1.0008, torch.ones(3) * 1.0016]).unsqueeze(0)
    assert bench.distinct_units(chain, 1e-3).tolist() == [reference_distinct(chain[0], 1e-3)] == [1]
    random = torch.randn(3, 9, 4, generator=gen)
    assert bench.distinct_units(random, 1e-3).tolist() == [9, 9, 9]


def test_collapsed_init_copies_incoming_and_outgoing_weights_of_the_chosen_neurons() -> None:
    with seeded_init(4):
        plain = bench.TwoLayerNet(6, 10, 3, Parts("vanilla", seed=4))
        chosen = torch.randperm(10)[:7]  # the same draw the builder makes after init
    with seeded_init(4):
        model = bench.build_model(6, 10, 3, collapsed=7)(Parts("vanilla", seed=4))
    source = int(chosen[0])
    for i in range(10):
        if i in chosen.tolist():
            torch.testing.assert_close(model.hidden.weight[i], plain.hidden.weight[source], rtol=0, atol=0)
            torch.testing.assert_close(model.hidden.bias[i], plain.hidden.bias[source], rtol=0, atol=0)
            torch.testing.assert_close(model.out.weight[:, i], plain.out.weight[:, source], rtol=0, atol=0)
        else:
            torch.testing.assert_close(model.hidden.weight[i], plain.hidden.weight[i], rtol=0, atol=0)
    torch.testing.assert_close(model.out.bias, plain.out.bias)
    incoming = torch.cat([model.hidden.weight, model.hidden.bias[:, None]], 1).detach()
    assert reference_distinct(incoming, 1e-3) == 10 - 7 + 1


def test_config_collapsed_count_and_lr_default() -> None:
    cfg = bench.Config(width=128, collapsed_fraction=0.5, optimizer="adam")
    assert cfg.collapsed == 64 and cfg.learning_rate == 1e-3
    assert bench.Config(optimizer="sgd", lr=0.3).learning_rate == 0.3
    with pytest.raises(ValueError, match="collapsed_fraction"):
        bench.Config(collapsed_fraction=1.5)


@functools.cache
def _reports(method: str, optimizer: str) -> list[tuple[int, dict[str, np.ndarray]]]:
    """A 32-unit net, 90 % of its neurons collapsed, 200 steps on digits (each run made once)."""
    b = benchmarks.get("low_capacity_init")
    syre = {"sigma0": 1.0, "gamma": 1e-4} if method == "syre" else {}
    cfg = b.make_config({**COLLAPSED, **syre, "method": method, "optimizer": optimizer})
    reports: list[tuple[int, dict]] = []
    b.run(cfg, lambda i, m, state=None: reports.append((i, {k: np.asarray(v) for k, v in m.items()})))
    return reports


COLLAPSED = {
    "width": 32,
    "collapsed_fraction": 0.9,
    "steps": 200,
    "report_every": 200,
    "seeds": (0, 1),
    "eval_size": 500,
    "test_size": 100,
    "rank_samples": 300,
}


def test_vanilla_stays_exactly_collapsed_and_its_rank_is_at_most_the_distinct_neurons() -> None:
    reports = _reports("vanilla", "adam")
    start, final = reports[0][1], reports[-1][1]
    count = round(0.9 * 32)
    assert start["distinct_neurons"].tolist() == [32 - count + 1] * 2
    assert final["distinct_neurons"].tolist() == [32 - count + 1] * 2  # Proposition 3: trapped
    assert (final["rank"] <= final["distinct_neurons"]).all()


def test_hidden_rank_is_the_covariance_rank_of_the_literal_hidden_layer() -> None:
    b = benchmarks.get("low_capacity_init")
    values = {
        "method": "vanilla",
        "width": 12,
        "collapsed_fraction": 0.5,
        "steps": 1,
        "seeds": (3,),
        "rank_samples": 200,
    }
    cfg = b.make_config(values)
    reports: list = []
    b.run(cfg, lambda i, m, state=None: reports.append(m))
    data = bench.load_data(cfg)
    with seeded_init(3):
        model = bench.build_model(784, 12, 10, cfg.collapsed)(Parts("vanilla", seed=3))
    post = torch.relu(data.x_train[:200].flatten(1) @ model.hidden.weight.T + model.hidden.bias).detach()
    centred = (post - post.mean(0)).double()
    eigenvalues = torch.linalg.eigvalsh(centred.T @ centred / 199)
    assert int(reports[0]["rank"][0]) == int((eigenvalues > 1e-4).sum())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_syre_escapes_the_collapsed_init_and_trains_lower_than_vanilla(optimizer: str) -> None:
    """The paper's direction (Fig. 1): from 90 % collapsed neurons, syre ends with more distinct
    neurons and a lower training loss than vanilla (digits, a 32-unit net, 200 steps)."""
    vanilla, syre = _reports("vanilla", optimizer)[-1][1], _reports("syre", optimizer)[-1][1]
    assert (syre["distinct_neurons"] > vanilla["distinct_neurons"]).all()
    assert (syre["train_loss"] < vanilla["train_loss"]).all()


# --- the figure ---------------------------------------------------------------------------------


def _rows() -> pd.DataFrame:
    rows = []
    for method, loss in (("vanilla", 1.0), ("syre", 0.5)):
        for seed in (0, 1):
            for iteration in (0, 10):
                rows.append(
                    {
                        "trial_id": f"{method}",
                        "method": method,
                        "seed": seed,
                        "iteration": iteration,
                        "config.optimizer": "sgd",
                        "config.collapsed_fraction": 0.5,
                        "metric.train_loss": loss * (1 + seed) / (1 + iteration),
                        "metric.distinct_neurons": 5.0 + seed if method == "vanilla" else 8.0,
                        "metric.rank": float(seed),
                    }
                )
    return pd.DataFrame(rows)


def test_figure_info_means_over_seeds_and_final_rows() -> None:
    info = figure.low_capacity_info(_rows())
    assert list(info.columns) == [
        "optimizer",
        "method",
        "collapsed_fraction",
        "iteration",
        "train_loss",
        "distinct_neurons",
        "rank",
        "seeds",
    ]
    syre_end = info[(info["method"] == "syre") & (info["iteration"] == 10)].iloc[0]
    assert syre_end["train_loss"] == pytest.approx((0.5 / 11 + 1.0 / 11) / 2)
    assert syre_end["distinct_neurons"] == 8.0 and syre_end["rank"] == 0.5 and syre_end["seeds"] == 2
    final = figure.low_capacity_final(info)
    assert final["iteration"].tolist() == [10, 10]
    assert final.set_index("method")["distinct_neurons"].to_dict() == {"syre": 8.0, "vanilla": 5.5}


def test_figure_draws_and_writes(tmp_path) -> None:
    fig = figure.draw_low_capacity(figure.low_capacity_info(_rows()))
    fig.savefig(io.BytesIO(), format="png")
    paths = figure.write(_rows(), tmp_path)
    assert {p.name for p in paths} == {
        "low_capacity_init.csv",
        "low_capacity_init_final.csv",
        "low_capacity_init.png",
        "low_capacity_init.pdf",
    }
    assert any("distinct neurons 8" in line for line in figure.summary(_rows()))


def test_two_layer_net_forward_is_the_literal_formula() -> None:
    model = bench.TwoLayerNet(4, 3, 2, Parts("vanilla", seed=0))
    x = torch.randn(5, 1, 2, 2)
    logits, pre, post = model(x, capture=True)
    flat = x.reshape(5, 4)
    torch.testing.assert_close(pre, flat @ model.hidden.weight.T + model.hidden.bias)
    torch.testing.assert_close(logits, torch.relu(pre) @ model.out.weight.T + model.out.bias)
    assert isinstance(model.activation, nn.ReLU) and torch.equal(post, torch.relu(pre))
