"""mode_connectivity (paper App. B.7, Fig. 13): the pair shares the method's draws but not its
initial weights, the interpolation's ends are the trained networks, the barrier is the literal
formula; and the paper's direction (syre's barrier below vanilla's) at a small scale on digits."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from references import reference_theta0s
from torch import nn

from syre_tune import benchmarks
from syre_tune._random import generator, seeded_mask
from syre_tune.benchmarks import mode_connectivity as mc
from syre_tune.benchmarks._population import Population
from syre_tune.data import load

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {"hidden": (16,), "steps": 30, "report_every": 15, "lambdas": 5, "test_size": 80, "train_size": 300}


def plain_init(seed: int, member: str) -> dict[str, torch.Tensor]:
    """nn.Linear's default init of a 784-16-10 MLP under torch's RNG seeded as seeded_init does."""
    torch.manual_seed(generator(seed, member, "init").initial_seed())
    first, last = nn.Linear(784, 16), nn.Linear(16, 10)
    names = ("1.weight", "1.bias", "3.weight", "3.bias")
    return dict(zip(names, (first.weight, first.bias, last.weight, last.bias)))


@pytest.mark.parametrize("method", ["syre", "w_fix", "vanilla"])
def test_pair_shares_the_methods_draws_and_each_network_has_its_own_init(method: str) -> None:
    seeds = (3, 8)
    cfg = mc.Config(method=method, seeds=seeds, sigma0=0.7, phi=0.3, hidden=(16,))
    build = mc.mlp_builder(784, (16,), 10)
    population = Population(cfg, build, mc.member_seeds(seeds))
    mc.own_initial_weights_(population, build, seeds)
    with torch.random.fork_rng():
        for k, seed in enumerate(seeds):
            for j, member in enumerate(mc.MEMBERS):
                init = plain_init(seed, member)
                theta0s = reference_theta0s({name: tuple(value.shape) for name, value in init.items()}, 0.7, seed)
                for name, value in init.items():
                    expected = value.detach().clone()
                    if method == "syre":  # φ = own init + the pair's θ0
                        expected = expected + theta0s[name]
                    if method == "w_fix" and value.dim() >= 2:  # the pair's fixed entries
                        mask = seeded_mask(tuple(value.shape), 0.3, seed=seed, name=name)
                        fixed = torch.randn(tuple(value.shape), generator=generator(seed, name, "theta0")) * 0.01
                        expected = torch.where(mask, fixed, expected)
                    torch.testing.assert_close(population.params[name][2 * k + j], expected, msg=f"{seed} {member}")
    assert not torch.equal(population.params["1.weight"][0], population.params["1.weight"][1])


def test_sigma_asym_gates_are_shared_within_a_pair_only() -> None:
    cfg = mc.Config(method="sigma_asym", seeds=(3, 8), hidden=(16,))
    population = Population(cfg, mc.mlp_builder(784, (16,), 10), mc.member_seeds(cfg.seeds))
    gates = population.buffers["2.mixing"]  # (4, 16, 16)
    assert torch.equal(gates[0], gates[1]) and torch.equal(gates[2], gates[3])
    assert not torch.equal(gates[0], gates[2])


def test_batch_orders_differ_within_a_pair() -> None:
    assert mc.batch_seed(3, "memberA") != mc.batch_seed(3, "memberB")
    assert mc.batch_seed(3, "memberA") == generator(3, "memberA", "batches").initial_seed()


def test_loss_barrier_is_the_literal_formula() -> None:
    lams = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    losses = torch.tensor([[1.0, 2.0], [3.0, 2.5], [2.0, 1.0]], dtype=torch.float64)
    # λ = 0.5: linear (1 + 2)/2 = 1.5 and (2 + 1)/2 = 1.5, so 3 − 1.5 and 2.5 − 1.5; the ends give 0
    torch.testing.assert_close(mc.loss_barrier(lams, losses), torch.tensor([1.5, 1.0], dtype=torch.float64))
    below = torch.tensor([[1.0], [0.5], [2.0]], dtype=torch.float64)  # a dip under the line: 0 (the ends)
    torch.testing.assert_close(mc.loss_barrier(lams, below), torch.tensor([0.0], dtype=torch.float64))


def _run(values: dict, resume=None, save_at=None):
    bench = benchmarks.get(mc.NAME)
    cfg = bench.make_config(values)
    rows, states = [], {}

    def report(iteration, metrics, state=None):
        rows.append((iteration, {k: torch.as_tensor(v).cpu().numpy() for k, v in metrics.items()}))
        if save_at is None or len(rows) == save_at:
            states[len(rows)] = state()

    bench.run(cfg, report, resume=resume)
    return rows, states


def reference_mlp(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    h = F.relu(x.reshape(len(x), -1) @ params["1.weight"].T + params["1.bias"])
    return h @ params["3.weight"].T + params["3.bias"]


def test_interpolation_rows_start_and_end_at_the_trained_networks() -> None:
    seeds = (2, 6)
    values = {**SMALL, "method": "syre", "sigma0": 1.0, "gamma": 0.01, "seeds": seeds}
    rows, states = _run(values)
    steps, lambdas = SMALL["steps"], SMALL["lambdas"]
    assert [i for i, _ in rows] == [15, 30, *range(steps + 1, steps + 1 + lambdas)]
    training, curve = rows[:2], [r for _, r in rows[2:]]
    assert all(np.isnan(r["lam"]).all() and np.isnan(r["barrier"]).all() for _, r in training)
    assert [r["lam"].tolist() for r in curve] == [[x, x] for x in (0.0, 0.25, 0.5, 0.75, 1.0)]
    trained = states[2]["model"]  # the state at the last training report: the end of training
    data = load("digits", train_size=SMALL["train_size"], test_size=SMALL["test_size"])
    for k in range(2):
        losses = []
        for lam in (0.0, 0.25, 0.5, 0.75, 1.0):
            params = {n: lam * p[2 * k] + (1 - lam) * p[2 * k + 1] for n, p in trained.items()}
            logits = reference_mlp(params, data.x_test)
            losses.append(float(F.cross_entropy(logits, data.y_test)))
            accuracy = float((logits.argmax(1) == data.y_test).float().mean())
            row = curve[int(lam * 4)]
            assert row["test_loss"][k] == pytest.approx(losses[-1], rel=1e-5)
            assert row["test_accuracy"][k] == pytest.approx(accuracy, abs=1e-6)
        ends = {
            lam: float(F.cross_entropy(reference_mlp({n: p[m] for n, p in trained.items()}, data.x_test), data.y_test))
            for lam, m in ((1.0, 2 * k), (0.0, 2 * k + 1))
        }
        assert curve[-1]["test_loss"][k] == pytest.approx(ends[1.0], rel=1e-6)  # λ = 1 is network A
        assert curve[0]["test_loss"][k] == pytest.approx(ends[0.0], rel=1e-6)  # λ = 0 is network B
        hand = max(
            loss - (lam * losses[-1] + (1 - lam) * losses[0]) for lam, loss in zip((0, 0.25, 0.5, 0.75, 1), losses)
        )
        assert all(r["barrier"][k] == pytest.approx(hand, rel=1e-4, abs=1e-6) for r in curve)
    np.testing.assert_allclose(  # training rows: the mean of the pair's two networks
        training[1][1]["test_loss"],
        [(curve[0]["test_loss"][k] + curve[-1]["test_loss"][k]) / 2 for k in range(2)],
        rtol=1e-5,
    )


def test_resuming_from_an_interpolation_row_reports_only_the_points_after_it() -> None:
    values = {**SMALL, "method": "vanilla", "seeds": (1,)}
    full, _ = _run(values)
    _, states = _run(values, save_at=4)  # two training rows, then λ = 0 and λ = 0.25
    saved = torch.load(io.BytesIO(_saved_bytes(states[4])), weights_only=True)
    resumed, _ = _run(values, resume=saved)
    assert [i for i, _ in resumed] == [i for i, _ in full[4:]]
    for (_, a), (_, b) in zip(full[4:], resumed):
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-6, equal_nan=True)


def _saved_bytes(state) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def test_direction_syre_has_a_lower_barrier_than_vanilla() -> None:
    """Fig. 13 at a small scale: digits, 784-64-64-10, 300 SGD steps, two pairs. syre (σ0 = 1,
    γ = 0.01, the pair sharing θ0) against vanilla."""
    common = {"hidden": (64, 64), "steps": 300, "report_every": 300, "lambdas": 5, "lr": 0.05, "seeds": (0, 1)}
    vanilla, _ = _run({**common, "method": "vanilla"})
    syre, _ = _run({**common, "method": "syre", "sigma0": 1.0, "gamma": 0.01})
    assert (syre[-1][1]["barrier"] < vanilla[-1][1]["barrier"]).all()


# --- figure module (data step exact, write smoke) ------------------------------------------------
def _results_frame():
    import pandas as pd

    rows = []
    for method, trial, barrier in (("syre", "a", 0.1), ("vanilla", "b", 0.5)):
        for seed in (0, 1):
            base = {"trial_id": trial, "status": "ok", "method": method, "sigma0": None, "sigma_d": None}
            base |= {"gamma": None, "seed": seed, "config.phi": 0.0}
            rows.append(
                {
                    **base,
                    "iteration": 10,
                    "metric.lam": np.nan,
                    "metric.test_loss": 0.2,
                    "metric.barrier": np.nan,
                    "metric.test_accuracy": 0.9,
                }
            )
            for index, lam in enumerate((0.0, 0.5, 1.0)):
                loss = 0.1 + (barrier + seed / 10 if lam == 0.5 else 0.0)
                rows.append(
                    {
                        **base,
                        "iteration": 11 + index,
                        "metric.lam": lam,
                        "metric.test_loss": loss,
                        "metric.test_accuracy": 1 - loss,
                        "metric.barrier": barrier + seed / 10,
                    }
                )
    return pd.DataFrame(rows)


def test_connectivity_info_keeps_the_interpolation_rows_and_the_barrier_per_method() -> None:
    from syre_tune.analysis.figures import mode_connectivity as fig

    info = fig.connectivity_info(_results_frame())
    loss = info[(info["metric"] == "test_loss") & (info["method"] == "vanilla") & (info["seed"] == 1)]
    assert loss["lam"].tolist() == [0.0, 0.5, 1.0] and loss["iteration"].tolist() == [11, 12, 13]
    assert loss["value"].tolist() == pytest.approx([0.1, 0.7, 0.1])
    barriers = fig.barrier_info(info)
    assert barriers[["method", "pairs"]].values.tolist() == [["syre", 2], ["vanilla", 2]]
    assert barriers["barrier"].tolist() == pytest.approx([0.15, 0.55])
    assert barriers["low"].tolist() == pytest.approx([0.1, 0.5]) and barriers["high"].tolist() == pytest.approx(
        [0.2, 0.6]
    )
    assert fig.summary(_results_frame())[-1] == "syre barrier <= vanilla barrier: yes"


def test_connectivity_write_draws_the_figure(tmp_path) -> None:
    from syre_tune.analysis.figures import mode_connectivity as fig

    written = fig.write(_results_frame(), tmp_path)
    assert {p.name for p in written} == {"connectivity.csv", "barrier.csv", "connectivity.png", "connectivity.pdf"}
