"""teacher_student (paper Fig. 2 / Fig. 7) against plain references written here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from syre_tune import benchmarks
from syre_tune._random import generator
from syre_tune.analysis.figures import teacher_student as figures
from syre_tune.benchmarks import teacher_student as ts
from syre_tune.benchmarks._methods import Parts, seeded_init

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {"input_dim": 6, "hidden": 20, "classes": 4, "train_size": 300, "test_size": 120}


def collect(values: dict) -> list[tuple[int, dict]]:
    bench = benchmarks.get("teacher_student")
    reports: list[tuple[int, dict]] = []
    bench.run(
        bench.make_config(values),
        lambda it, m, state=None: reports.append((it, {k: np.asarray(v, dtype=np.float64) for k, v in m.items()})),
    )
    return reports


def plain_teacher(seed: int, d: int, h: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    gen = generator(seed, "teacher", "weights")
    first = torch.randn(h, d, generator=gen).numpy() / math.sqrt(d)
    second = torch.randn(c, h, generator=gen).numpy() / math.sqrt(h)
    return first, second


def test_labels_are_the_teachers_argmax_class_and_noise_changes_the_stated_fraction() -> None:
    cfg = ts.Config(**SMALL, label_noise=0.3, input_noise=0.5)
    clean = ts.Config(**SMALL)
    x, y, x_test, y_test = (t.numpy() for t in ts.make_data(4, cfg))
    x0, y0, _, _ = (t.numpy() for t in ts.make_data(4, clean))
    first, second = plain_teacher(4, 6, 20, 4)
    np.testing.assert_array_equal(y0, np.argmax(np.tanh(x0 @ first.T) @ second.T, axis=1))
    np.testing.assert_array_equal(y_test, np.argmax(np.tanh(x_test @ first.T) @ second.T, axis=1))
    changed = y != y0
    assert changed.sum() == round(0.3 * 300)  # every chosen label moves to another class
    assert set(np.unique(y)) <= set(range(4))
    noise = x - x0
    assert abs(noise.std() - 0.5) < 0.03 and abs(noise.mean()) < 0.03
    assert abs(x0.std() - 1.0) < 0.05  # standard Gaussian inputs


def test_first_report_is_the_untrained_student_measured_literally() -> None:
    """At iteration 0 the rows are the seeded initial student: cross-entropy, accuracy and the
    covariance rank of tanh(W1 x + b1) recomputed with numpy."""
    cfg = ts.Config(**SMALL, method="vanilla", steps=1, seeds=(5,), rank_threshold=1e-3)
    (it, first), _ = collect({**SMALL, "method": "vanilla", "steps": 1, "seeds": (5,), "rank_threshold": 1e-3})
    assert it == 0
    with seeded_init(5):
        student = ts.TwoLayer(Parts("vanilla", seed=5), 6, 20, 4)
    w1, b1 = student.first.weight.detach().numpy(), student.first.bias.detach().numpy()
    w2, b2 = student.second.weight.detach().numpy(), student.second.bias.detach().numpy()
    x, y, x_test, y_test = (t.numpy().astype(np.float64) for t in ts.make_data(5, cfg))

    def ce(inputs, labels):
        logits = np.tanh(inputs @ w1.T + b1) @ w2.T + b2
        logits = logits - logits.max(1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        return -logp[np.arange(len(labels)), labels.astype(int)].mean(), (logits.argmax(1) == labels).mean()

    train, _ = ce(x, y)
    test, accuracy = ce(x_test, y_test)
    eigen = np.linalg.eigvalsh(np.cov(np.tanh(x_test @ w1.T + b1), rowvar=False))
    np.testing.assert_allclose(first["train_loss"], [train], rtol=1e-5)
    np.testing.assert_allclose(first["test_loss"], [test], rtol=1e-5)
    np.testing.assert_allclose(first["test_accuracy"], [accuracy], rtol=1e-6)
    assert first["rank"][0] == (eigen > 1e-3).sum()


def test_weight_decay_is_adam_with_the_optimizers_decay_2_gamma() -> None:
    """A seed of the population trains as a lone student with torch's Adam(weight_decay=2γ) on
    the full training set (the paper's "weight decay" is the optimizer's)."""
    gamma, steps = 0.05, 4
    rows = collect({**SMALL, "method": "weight_decay", "gamma": gamma, "steps": steps, "seeds": (2, 8)})
    cfg = ts.Config(**SMALL)
    x, y, _, _ = ts.make_data(8, cfg)
    with seeded_init(8):
        student = ts.TwoLayer(Parts("vanilla", seed=8), 6, 20, 4)
    optimizer = torch.optim.Adam(student.parameters(), lr=0.01, weight_decay=2 * gamma)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(student(x), y).backward()
        optimizer.step()
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(student(x), y).item()
    assert rows[-1][0] == steps
    np.testing.assert_allclose(rows[-1][1]["train_loss"][1], expected, rtol=1e-5)


def test_syre_keeps_a_higher_rank_than_weight_decay() -> None:
    """Fig. 2's direction at a small scale: weight decay collapses hidden units (the covariance
    rank drops), syre with the same γ keeps far more of them."""
    common = {"input_dim": 10, "hidden": 200, "train_size": 300, "test_size": 200, "steps": 150, "report_every": 150}
    decay = collect({**common, "method": "weight_decay", "gamma": 0.005, "seeds": (0, 1)})[-1][1]["rank"]
    syre = collect({**common, "method": "syre", "gamma": 0.005, "sigma0": 1.0, "seeds": (0, 1)})[-1][1]["rank"]
    assert (syre > decay + 50).all(), (syre, decay)  # measured: about 180 against 66


def test_config_rejects_bad_values() -> None:
    for key, value in [("label_noise", 1.5), ("input_noise", -0.1), ("rank_threshold", -1.0), ("test_size", 1)]:
        with pytest.raises(benchmarks.ConfigError, match=key):
            ts.Config(**{key: value})


# --- figure data step ---


def _rows() -> pd.DataFrame:
    rows = []
    for method, sigma0, base in [("weight_decay", None, 10.0), ("syre", 1.0, 50.0)]:
        for dim in (10, 100):
            for seed in (0, 1):
                for iteration, extra in ((0, 0.0), (5, 1.0)):
                    rows.append(
                        {
                            "trial_id": f"{method}-{dim}",
                            "method": method,
                            "sigma0": sigma0,
                            "gamma": 0.005,
                            "seed": seed,
                            "iteration": iteration,
                            "config.input_dim": dim,
                            "config.label_noise": 0.0,
                            "metric.rank": base + dim / 10 + seed + extra,
                            "metric.test_loss": 1.0,
                            "metric.train_loss": 0.5,
                            "metric.test_accuracy": 0.9,
                        }
                    )
    return pd.DataFrame(rows)


def test_figure_info_takes_the_last_report_and_the_swept_axis() -> None:
    df = _rows()
    assert figures.swept_axis(df) == "config.input_dim"
    info = figures.teacher_student_info(df)
    assert set(info["metric"]) == {"rank", "test_loss", "test_accuracy"}
    assert (info["iteration"] == 5).all()
    table = figures.rank_table(info)
    expected = pd.DataFrame(
        {
            "method": ["syre", "syre", "weight_decay", "weight_decay"],
            "config.input_dim": [10, 100, 10, 100],
            "rank": [52.5, 61.5, 12.5, 21.5],
            "rank_min": [52.0, 61.0, 12.0, 21.0],
            "rank_max": [53.0, 62.0, 13.0, 22.0],
            "seeds": [2, 2, 2, 2],
        }
    )
    pd.testing.assert_frame_equal(table.drop(columns="label"), expected, check_dtype=False)
    assert figures.summary(df)[0].endswith("syre ≥ weight_decay: yes")


def test_figure_writes_its_files(tmp_path) -> None:
    written = figures.write(_rows(), tmp_path)
    assert {p.name for p in written} >= {"teacher_student.csv", "teacher_student_rank.csv", "teacher_student.png"}
