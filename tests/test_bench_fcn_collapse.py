"""fcn_collapse (paper Fig. 5, Fig. 8): the FCN and the covariance spectrum against literal
formulas, the spectrum reports against the trained model's own covariance, the paper's direction
at a large γ, and the figure's data steps against exact values."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from syre_tune import benchmarks
from syre_tune.analysis.figures import fcn_collapse as figure
from syre_tune.benchmarks import fcn_collapse as bench
from syre_tune.benchmarks._methods import Parts


def reference_eigenvalues(features: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of torch.cov (units as variables), in float64, largest first."""
    return torch.linalg.eigvalsh(torch.cov(features.double().T)).flip(0)


def test_fcn_forward_is_the_literal_formula() -> None:
    model = bench.FCN(6, 5, 3, 4, Parts("vanilla", seed=0))
    x = torch.randn(7, 1, 2, 3)
    logits, pre, post = model(x, capture=True)
    h = x.reshape(7, 6)
    first = h @ model.hidden[0].weight.T + model.hidden[0].bias
    torch.testing.assert_close(pre, first)
    torch.testing.assert_close(post, torch.relu(first))
    h = torch.relu(first)
    for layer in list(model.hidden)[1:]:
        h = torch.relu(h @ layer.weight.T + layer.bias)
    torch.testing.assert_close(logits, h @ model.out.weight.T + model.out.bias)
    assert len(model.hidden) == 3  # depth 4: three hidden layers and the output layer


def test_covariance_spectrum_is_the_eigenvalues_of_the_covariance() -> None:
    features = torch.randn(2, 40, 6, dtype=torch.float64) @ torch.randn(6, 6, dtype=torch.float64)
    got = bench.covariance_spectrum(features)
    for k in range(2):
        torch.testing.assert_close(got[k], reference_eigenvalues(features[k]))


def _run(values: dict) -> tuple[list[tuple[int, dict]], dict]:
    b = benchmarks.get("fcn_collapse")
    cfg = b.make_config(values)
    reports: list[tuple[int, dict]] = []
    states: dict[int, dict] = {}

    def report(iteration, metrics, state=None):
        reports.append((iteration, {k: np.asarray(v) for k, v in metrics.items()}))
        states[iteration] = state() if callable(state) else state

    b.run(cfg, report)
    return reports, states


def test_spectrum_reports_follow_training_and_are_the_trained_first_layers_eigenvalues() -> None:
    values = {"method": "syre", "sigma0": 1.0, "gamma": 0.01, "width": 16, "steps": 20, "report_every": 10}
    values |= {"seeds": (1, 2), "input_scale": 0.5, "train_size": 300, "test_size": 50, "rank_samples": 200}
    reports, states = _run(values)
    iterations = [i for i, _ in reports]
    assert iterations == [0, 10, 20, *range(21, 21 + 16)]
    training, spectrum = reports[:3], reports[3:]
    for _, m in training:
        assert np.isnan(m["eigen_index"]).all() and np.isnan(m["eigenvalue"]).all()
        assert np.isfinite(m["rank"]).all()
    for i, (_, m) in enumerate(spectrum):
        assert m["eigen_index"].tolist() == [i, i]
        np.testing.assert_array_equal(m["train_loss"], training[-1][1]["train_loss"])
        assert np.isnan(m["test_accuracy"]).all() and np.isnan(m["rank"]).all()
    eigenvalues = np.stack([m["eigenvalue"] for _, m in spectrum], 1)  # (seeds, width)
    # the trained members as plain FCNs: the first layer's covariance, written out
    model_state = states[20]["model"]
    x = bench.load_data(benchmarks.get("fcn_collapse").make_config(values)).x_train[:200].flatten(1) * 0.5
    for k in range(2):
        pre = x @ model_state["hidden.0.weight"][k].T + model_state["hidden.0.bias"][k]
        want = reference_eigenvalues(pre.detach())
        np.testing.assert_allclose(eigenvalues[k], want.numpy(), rtol=1e-3, atol=1e-5)
        assert training[-1][1]["rank"][k] == int((want > 1e-4).sum())
        post = torch.relu(pre.detach())
        assert training[-1][1]["rank_post"][k] == int((reference_eigenvalues(post) > 1e-4).sum())


def test_syre_keeps_a_higher_first_layer_rank_than_weight_decay_at_a_large_gamma() -> None:
    """The paper's direction (Fig. 5 left): at γ = 0.1 weight decay collapses the first layer's
    covariance rank, syre (same γ) does not (digits, a 64-unit FCN, 150 Adam steps)."""
    common = {"gamma": 0.1, "width": 64, "steps": 150, "report_every": 150, "seeds": (0, 1)}
    common |= {"eval_size": 300, "test_size": 100, "rank_samples": 500}
    decay, _ = _run({**common, "method": "weight_decay"})
    syre, _ = _run({**common, "method": "syre", "sigma0": 1.0})
    decay_end, syre_end = decay[1][1], syre[1][1]
    assert decay[1][0] == syre[1][0] == 150
    assert (syre_end["rank"] > decay_end["rank"]).all()
    assert (syre_end["rank_post"] > decay_end["rank_post"]).all()


# --- the figure ---------------------------------------------------------------------------------


def _rows() -> pd.DataFrame:
    rows = []
    # (trial, method, gamma, α): t0 lies on both sweeps (γ = 0.01, α = 1)
    runs = [("t0", "syre", 0.01, 1.0), ("t1", "syre", 0.1, 1.0), ("t2", "weight_decay", 0.01, 0.1)]
    for trial, method, gamma, scale in runs:
        for seed in (0, 1):
            base = {"trial_id": trial, "method": method, "seed": seed, "gamma": gamma, "config.input_scale": scale}
            for iteration in (0, 5):
                rows.append(
                    base
                    | {
                        "iteration": iteration,
                        "metric.train_accuracy": 0.5 + 0.1 * iteration / 5 + 0.01 * seed,
                        "metric.test_accuracy": 0.4,
                        "metric.rank": 10.0 + seed + iteration,
                        "metric.rank_post": 20.0,
                        "metric.eigen_index": np.nan,
                        "metric.eigenvalue": np.nan,
                    }
                )
            for i in range(3):
                rows.append(
                    base
                    | {
                        "iteration": 6 + i,
                        "metric.train_accuracy": np.nan,
                        "metric.test_accuracy": np.nan,
                        "metric.rank": np.nan,
                        "metric.rank_post": np.nan,
                        "metric.eigen_index": float(i),
                        "metric.eigenvalue": (3.0 - i) * (1 + seed),
                    }
                )
    return pd.DataFrame(rows)


def test_figure_info_places_runs_on_their_sweeps_at_the_last_training_report() -> None:
    info = figure.fcn_collapse_info(_rows())
    assert info[["sweep", "method", "x"]].values.tolist() == [
        ["gamma", "syre", 0.01],
        ["gamma", "syre", 0.1],
        ["input_scale", "syre", 1.0],
        ["input_scale", "weight_decay", 0.1],
    ]
    assert info["train_accuracy"].tolist() == pytest.approx([0.605] * 4)
    assert info["rank"].tolist() == [15.5] * 4 and info["seeds"].tolist() == [2] * 4
    spectrum = figure.fcn_spectrum_info(_rows())
    first = spectrum[(spectrum["method"] == "syre") & (spectrum["gamma"] == 0.1)]
    assert first["eigen_index"].tolist() == [0, 1, 2]
    assert first["eigenvalue"].tolist() == [4.5, 3.0, 1.5]  # means of (3−i)·1 and (3−i)·2


def test_figure_draws_and_writes(tmp_path) -> None:
    rows = _rows()
    figure.draw_fcn_collapse(figure.fcn_collapse_info(rows)).savefig(io.BytesIO(), format="png")
    figure.draw_fcn_spectrum(figure.fcn_spectrum_info(rows)).savefig(io.BytesIO(), format="png")
    names = {p.name for p in figure.write(rows, tmp_path)}
    assert {"fcn_collapse.png", "fcn_collapse_spectrum.png", "fcn_collapse.csv"} <= names
    assert len(figure.summary(rows)) == 4
