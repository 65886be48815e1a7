"""ntk_rank (paper Fig. 14, Appendix C): the PCA projection, the symmetric state, the per-example
gradients and the rank against plain references; the ranks never exceed the bound 1280 − 20n and
fall with n (a mathematical fact, so it must hold); syre is not held by it; the figure's data step."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from syre_tune import benchmarks
from syre_tune.analysis.figures import ntk_rank as figure
from syre_tune.benchmarks import ntk_rank as bench
from syre_tune.benchmarks._methods import Parts, seeded_init
from syre_tune.benchmarks._population import Population


def test_pca_projection_is_whitened_top_principal_components() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=gen, dtype=torch.float64) @ torch.randn(6, 6, generator=gen, dtype=torch.float64)
    got = bench.pca_project(x, 3).numpy()
    values, vectors = np.linalg.eigh(np.cov(x.numpy().T))  # ascending
    top = vectors[:, ::-1][:, :3]
    want = (x.numpy() - x.numpy().mean(0)) @ top / np.sqrt(values[::-1][:3])
    signs = np.sign((got * want).sum(0))  # a principal direction is defined up to its sign
    np.testing.assert_allclose(got, want * signs, atol=1e-9)
    np.testing.assert_allclose(got.var(0, ddof=1), 1.0)


@pytest.mark.parametrize("state", ["copies", "zero"])
def test_symmetric_state_is_set_on_incoming_and_outgoing_weights(state: str) -> None:
    with seeded_init(2):
        model = bench.build_model(5, 8, 3, 3, state)(Parts("vanilla", seed=2))
    w_in, w_out = model[0].weight.detach(), model[2].weight.detach()
    assert w_in.dtype == torch.float64 and model[0].bias is None and model[2].bias is None
    if state == "copies":
        for k in (1, 2, 3):
            assert torch.equal(w_in[k], w_in[0]) and torch.equal(w_out[:, k], w_out[:, 0])
        assert not torch.equal(w_in[4], w_in[0])
    else:
        assert (w_in[:3] == 0).all() and (w_out[:, :3] == 0).all() and (w_in[3:] != 0).all()


def test_per_example_gradients_equal_a_loop_of_autograd_over_examples() -> None:
    cfg = bench.Config(method="vanilla", seeds=(4, 5), hidden=6, input_dim=3, collapsed=(0,))
    build = bench.build_model(3, 6, 10, 2, "copies")
    population = Population(cfg, build, cfg.seeds)
    x = torch.randn(7, 3, dtype=torch.float64)
    y = torch.randint(0, 10, (7,))
    got = bench.per_example_gradients(population, x, y)  # (2, 7, 6·13)
    assert got.shape == (2, 7, 6 * 3 + 10 * 6)
    for k in range(2):
        model = population.member(k, build)
        for i in range(7):
            loss = F.cross_entropy(model(x[i : i + 1]), y[i : i + 1])
            grads = torch.autograd.grad(loss, list(model.parameters()))
            torch.testing.assert_close(got[k, i], torch.cat([g.flatten() for g in grads]))


def test_hermitian_rank_counts_the_nonzero_eigenvalues() -> None:
    gen = torch.Generator().manual_seed(1)
    factors = torch.randn(3, 20, 7, generator=gen, dtype=torch.float64)
    factors[1, :, 5:] = 0  # rank 5
    matrices = factors @ factors.transpose(1, 2)
    want = [np.linalg.matrix_rank(m.numpy(), hermitian=True) for m in matrices]
    assert bench.hermitian_rank(matrices, 1e-9).tolist() == want == [7, 5, 7]


def test_bound_is_1280_minus_20n_for_the_papers_subnetwork() -> None:
    cfg = bench.Config()
    assert cfg.parameters == 1280 and [cfg.bound(n) for n in (0, 1, 10, 60)] == [1280, 1260, 1080, 80]
    with pytest.raises(ValueError, match="collapsed"):
        bench.Config(collapsed=(64,))  # copies: at most 63 copies of neuron 0


def _reports(values: dict) -> list[dict[str, np.ndarray]]:
    b = benchmarks.get("ntk_rank")
    reports: list[tuple[int, dict]] = []
    b.run(b.make_config(values), lambda i, m, state=None: reports.append((i, m)))
    assert [i for i, _ in reports] == list(range(1, len(reports) + 1))
    return [{k: np.asarray(v) for k, v in m.items()} for _, m in reports]


SMALL = {"hidden": 16, "points": 300, "steps": 30, "collapsed": (0, 3, 6, 10, 15), "seeds": (0, 1)}


@pytest.mark.parametrize("state", ["copies", "zero"])
def test_ranks_never_exceed_the_bound_and_fall_with_n(state: str) -> None:
    """Propositions 2-3: n symmetric neurons leave at most P − 20n gradient directions, at the start
    and (gradient descent keeps the state) at the end of training."""
    collapsed = SMALL["collapsed"] if state == "copies" else (0, 3, 6, 10, 16)
    reports = _reports({**SMALL, "method": "vanilla", "symmetric_state": state, "collapsed": collapsed})
    ranks = ("ntk_rank_start", "grad_rank_start", "ntk_rank_end", "grad_rank_end")
    assert [int(r["collapsed"][0]) for r in reports] == list(collapsed)
    for r, n in zip(reports, collapsed):
        assert (r["bound"] == 320 - 20 * n).all()
        for name in ranks:
            assert (r[name] <= r["bound"]).all(), (name, n)
        assert np.isfinite(r["train_loss"]).all()
    for name in ranks:
        series = np.stack([r[name] for r in reports])  # (points, seeds)
        assert (np.diff(series, axis=0) < 0).all(), name


def test_syre_is_not_held_by_the_symmetric_bound() -> None:
    """Under syre θ0 moves the copies apart: at n = 15 of 16 the ranks far exceed 320 − 20·15."""
    reports = _reports({**SMALL, "method": "syre", "sigma0": 1.0, "collapsed": (15,)})
    assert (reports[0]["ntk_rank_start"] > 3 * reports[0]["bound"]).all()
    assert (reports[0]["grad_rank_end"] > 3 * reports[0]["bound"]).all()


# --- the figure ---------------------------------------------------------------------------------


def _rows() -> pd.DataFrame:
    rows = []
    for method, extra in (("vanilla", 0.0), ("syre", 500.0)):
        for seed in (0, 1):
            for i, n in enumerate((0, 10)):
                bound = 1280.0 - 20 * n
                rows.append(
                    {
                        "trial_id": method,
                        "method": method,
                        "seed": seed,
                        "iteration": i + 1,
                        "metric.collapsed": float(n),
                        "metric.bound": bound,
                        "metric.ntk_rank_start": bound - 100 - seed + extra,
                        "metric.grad_rank_start": bound - 100,
                        "metric.ntk_rank_end": bound - 110,
                        "metric.grad_rank_end": bound - 110 + seed,
                    }
                )
    return pd.DataFrame(rows)


def test_figure_info_means_over_seeds_and_checks_the_bound() -> None:
    info = figure.ntk_rank_info(_rows())
    assert info[["method", "collapsed"]].values.tolist() == [["syre", 0], ["syre", 10], ["vanilla", 0], ["vanilla", 10]]
    vanilla = info[info["method"] == "vanilla"]
    assert vanilla["ntk_rank_start"].tolist() == [1179.5, 979.5]
    assert vanilla["grad_rank_end"].tolist() == [1170.5, 970.5]
    assert vanilla["within_bound"].tolist() == [True, True]
    assert info[info["method"] == "syre"]["within_bound"].tolist() == [False, False]
    assert info["seeds"].tolist() == [2, 2, 2, 2] and info["bound"].tolist() == [1280.0, 1080.0] * 2


def test_figure_draws_and_writes(tmp_path) -> None:
    figure.draw_ntk_rank(figure.ntk_rank_info(_rows())).savefig(io.BytesIO(), format="png")
    assert {p.name for p in figure.write(_rows(), tmp_path)} == {"ntk_rank.csv", "ntk_rank.png", "ntk_rank.pdf"}
    lines = figure.summary(_rows())
    assert any(line.startswith("vanilla: ranks within the bound 1280 − 20n at every n: yes") for line in lines)
