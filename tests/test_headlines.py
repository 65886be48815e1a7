"""The headline of every figure module: the first three lines of ``summary(df)``, which ``run`` and
``analyze`` print per study, state the benchmark's main result with the numbers of its data steps.

Each case builds a small study by hand (several seeds that differ, an earlier report that must not
count) and works out the expected numbers with plain pandas, not with the module's data steps."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from syre_tune.analysis import figures

Case = tuple[pd.DataFrame, list[list[str]]]
"""A study's rows, and per headline line the fragments it must contain."""

HEADLINE = 3
MAX_WIDTH = 120
ELSEWHERE = {"theorem4", "symmetry_objective"}  # their summaries are tested in tests/test_analysis.py


def study(runs: list[dict], seeds: tuple[int, ...], iterations: tuple[int, ...], metrics: Callable) -> pd.DataFrame:
    """A row per run × seed × iteration: a run's identity and config columns, then the metric
    columns ``metrics(run, seed, iteration)`` returns."""
    rows = [
        {**run, "seed": seed, "iteration": iteration, "status": "ok", **metrics(run, seed, iteration)}
        for run in runs
        for seed in seeds
        for iteration in iterations
    ]
    return pd.DataFrame(rows)


def last(df: pd.DataFrame) -> pd.DataFrame:
    """Each run's (trial_id, seed) last report."""
    return df[df["iteration"] == df.groupby(["trial_id", "seed"])["iteration"].transform("max")]


def mean(df: pd.DataFrame, column: str, **where: object) -> float:
    """The mean of ``column`` over the rows whose columns equal ``where`` (NaN matches NaN)."""
    rows = df
    for key, value in where.items():
        rows = rows[rows[key].isna()] if value is None else rows[rows[key] == value]
    assert len(rows), f"no rows where {where}"
    return float(rows[column].mean())


# --- the cases, one per figure module ---------------------------------------------------------------


def generic() -> Case:
    runs = [{"trial_id": "t0", "method": "syre", "sigma0": 0.1}, {"trial_id": "t1", "method": "weight_decay"}]

    def metrics(run: dict, seed: int, iteration: int) -> dict:
        shift = 0.1 * (run["method"] == "syre") + 0.013 * seed + iteration / 1000
        return {"metric.train_loss": 1 - shift, "metric.test_accuracy": 0.5 + shift}

    df = study(runs, (0, 1, 2), (10, 20), metrics)
    df["metric.test_loss"] = 2 - df["metric.test_accuracy"]  # after train_loss in the columns, before it in the lines
    df["metric.grad_norm"] = 1.0  # a fourth metric: past the three lines
    end = last(df)
    expected = []
    for metric in ("test_accuracy", "test_loss", "train_loss"):  # test metrics first
        values = ", ".join(f"{m} {mean(end, f'metric.{metric}', method=m):.4g}" for m in ("syre", "weight_decay"))
        expected.append([f"{metric} at the last iteration, mean over seeds: {values} (3 runs each)"])
    return df, expected


def continual_permuted() -> Case:
    runs = [{"trial_id": f"t{i}", "method": m, "sigma0": None} for i, m in enumerate(("syre", "weight_decay"))]

    def metrics(run: dict, seed: int, iteration: int) -> dict:
        task = (iteration - 1) // 10
        keep = 1.0 if run["method"] == "syre" else 0.5**task  # weight decay loses rank task by task
        return {
            "config.steps_per_task": 10,
            "metric.task": float(task),
            "metric.task_accuracy": 0.9 * keep + 0.01 * seed + iteration / 1000,
            "metric.mean_accuracy": 0.8 * keep,
            "metric.conv_rank": 300 * keep - seed,
        }

    df = study(runs, (0, 1), (5, 10, 15, 20, 25, 30), metrics)
    end = df[df["iteration"] == 30]  # the last task's (task 2) end
    lines = []
    for metric in ("conv_rank", "task_accuracy"):
        syre, decay = (mean(end, f"metric.{metric}", method=m) for m in ("syre", "weight_decay"))
        verdict = "yes" if syre > decay else "no"
        lines.append([f"last task {metric}: syre {syre:.4g} vs weight_decay {decay:.4g}; syre higher: {verdict}"])
    return df, lines


def collapse_lines(
    end: pd.DataFrame, layer: str, wheres: tuple, points: list[tuple[float, float]]
) -> tuple[list[list[str]], int]:
    """fcn_collapse's and vit_cifar's expected lines at the largest γ and the smallest α (``wheres``:
    text, γ, α), syre against weight decay, and at how many of ``points`` syre's rank is higher."""

    def at(measure: str, method: str, gamma: float, scale: float) -> float:
        return mean(end, f"metric.{measure}", method=method, gamma=gamma, **{"config.input_scale": scale})

    lines = []
    for where, gamma, scale in wheres:
        rank = [at("rank", m, gamma, scale) for m in ("syre", "weight_decay")]
        accuracy = [at("test_accuracy", m, gamma, scale) for m in ("syre", "weight_decay")]
        lines.append(
            [
                f"at {where}: {layer} rank syre {rank[0]:.4g} vs weight_decay {rank[1]:.4g}",
                f"test accuracy {accuracy[0]:.3g} vs {accuracy[1]:.3g}",
            ]
        )
    higher = sum(at("rank", "syre", g, a) > at("rank", "weight_decay", g, a) for g, a in points)
    return lines, higher


def fcn_collapse() -> Case:
    points = [(0.01, 1.0), (0.1, 1.0), (0.01, 0.1)]  # (γ, α): both sweeps share (0.01, 1)
    runs = [
        {"trial_id": f"{m}-{g}-{a}", "method": m, "gamma": g, "config.input_scale": a}
        for m in ("syre", "weight_decay")
        for g, a in points
    ]

    def metrics(run: dict, seed: int, iteration: int) -> dict:
        collapse = (run["method"] == "weight_decay") * (100 * run["gamma"] + 0.5 / run["config.input_scale"])
        return {
            "metric.train_accuracy": 0.9,
            "metric.test_accuracy": 0.95 - collapse / 50 + 0.003 * seed,
            "metric.rank": 40.0 - collapse + seed + iteration,
            "metric.rank_post": 20.0,
            "metric.eigen_index": np.nan,
            "metric.eigenvalue": np.nan,
        }

    df = study(runs, (0, 1, 2), (0, 5), metrics)
    spectrum = df[df["iteration"] == 5].assign(iteration=6, **{"metric.eigen_index": 0.0, "metric.eigenvalue": 1.0})
    spectrum[["metric.rank", "metric.test_accuracy"]] = np.nan  # Fig. 8's reports: not training reports
    df = pd.concat([df, spectrum], ignore_index=True)
    wheres = (("the largest γ = 0.1 (α = 1)", 0.1, 1.0), ("the smallest α = 0.1 (γ = 0.01)", 0.01, 0.1))
    lines, higher = collapse_lines(df[df["iteration"] == 5], "first-layer", wheres, points)
    lines.append([f"higher first-layer rank than weight_decay at {higher} of 3 (γ, α) points", "(3 seeds each)"])
    return df, lines


def low_capacity_init() -> Case:
    runs = [
        {"trial_id": f"{o}-{m}-{f}", "method": m, "config.optimizer": o, "config.collapsed_fraction": f}
        for o in ("adam", "sgd")
        for m in ("syre", "vanilla")
        for f in (0.0, 0.5, 0.9)
    ]

    def metrics(run: dict, seed: int, iteration: int) -> dict:
        trapped = run["config.collapsed_fraction"] * (run["method"] == "vanilla")
        return {
            "metric.train_loss": (0.05 + trapped) * (1 + seed) / (1 + iteration),
            "metric.distinct_neurons": 64 - 60 * trapped - seed,
            "metric.rank": 30.0,
        }

    df = study(runs, (0, 1), (0, 10), metrics)
    end = last(df)
    lines = []
    for optimizer in ("adam", "sgd"):
        rows = end[end["config.optimizer"] == optimizer]
        loss = {
            (m, f): mean(rows, "metric.train_loss", method=m, **{"config.collapsed_fraction": f})
            for m in ("vanilla", "syre")
            for f in (0.0, 0.9)
        }
        values = ", ".join(f"{m} {loss[(m, 0.0)]:.3g} → {loss[(m, 0.9)]:.3g}" for m in ("vanilla", "syre"))
        lines.append([f"final train loss ({optimizer}), collapsed fraction 0 → 0.9: {values} (2 seeds)"])
    most = end[end["config.collapsed_fraction"] == 0.9]
    distinct = "; ".join(
        f"{o}: "
        + ", ".join(
            f"{m} {mean(most, 'metric.distinct_neurons', method=m, **{'config.optimizer': o}):.3g}"
            for m in ("vanilla", "syre")
        )
        for o in ("adam", "sgd")
    )
    lines.append([f"distinct neurons at the end, collapsed fraction 0.9: {distinct}"])
    return df, lines


def mode_connectivity() -> Case:
    lambdas = (0.0, 0.25, 0.5, 0.75, 1.0)
    rows = []
    for method, trial, height in (("syre", "a", 0.1), ("vanilla", "b", 0.6), ("w_fix", "c", 0.2)):
        for seed in (0, 1, 2):
            base = {"trial_id": trial, "status": "ok", "method": method, "sigma0": None, "sigma_d": None}
            base |= {"gamma": None, "seed": seed, "config.phi": 0.0}
            barrier = height + seed / 10
            rows.append(base | {"iteration": 10, "metric.lam": np.nan, "metric.test_loss": 0.2})
            rows[-1] |= {"metric.barrier": np.nan, "metric.test_accuracy": 0.95}
            for index, lam in enumerate(lambdas):
                loss = 0.1 + barrier * 4 * lam * (1 - lam)
                rows.append(base | {"iteration": 11 + index, "metric.lam": lam, "metric.test_loss": loss})
                rows[-1] |= {"metric.test_accuracy": 1 - loss, "metric.barrier": barrier}
    df = pd.DataFrame(rows)
    points = df[df["metric.lam"].notna()]
    barrier = {
        m: mean(points.drop_duplicates(["method", "seed"]), "metric.barrier", method=m)
        for m in "syre vanilla w_fix".split()
    }
    order = sorted(barrier, key=barrier.get)
    middle = points[points["metric.lam"] == 0.5]
    accuracy = ", ".join(f"{m} {mean(middle, 'metric.test_accuracy', method=m):.3g}" for m in order)
    return df, [
        ["(mean over 3 pairs): " + ", ".join(f"{m} {barrier[m]:.4g}" for m in order)],
        [f"test accuracy halfway along the path (λ = 0.5): {accuracy}"],
        [f"syre barrier <= vanilla barrier: {'yes' if barrier['syre'] <= barrier['vanilla'] else 'no'}"],
    ]


def ntk_rank() -> Case:
    rows = []
    for method, extra in (("vanilla", 0.0), ("syre", 150.0)):
        for seed in (0, 1):
            for i, n in enumerate((0, 5, 10)):
                bound = 1280.0 - 20 * n
                rows.append(
                    {"trial_id": method, "method": method, "seed": seed, "iteration": i + 1}
                    | {"metric.collapsed": float(n), "metric.bound": bound}
                    | {"metric.ntk_rank_start": bound - 100 - seed + extra, "metric.grad_rank_start": bound - 100}
                    | {"metric.ntk_rank_end": bound - 128 + 2 * n + seed + extra, "metric.grad_rank_end": bound - 128}
                )
    df = pd.DataFrame(rows)
    at_ten = df[df["metric.collapsed"] == 10]
    end, start = (
        ", ".join(f"{m} {mean(at_ten, column, method=m):.6g}" for m in ("vanilla", "syre"))
        for column in ("metric.ntk_rank_end", "metric.ntk_rank_start")
    )
    ranks = df.filter(like="rank").max(axis=1)
    within = ", ".join(
        f"{m} {'yes' if (ranks <= df['metric.bound'])[df['method'] == m].all() else 'no'}" for m in ("vanilla", "syre")
    )
    return df, [
        [f"NTK rank at the end of training, n = 10 neurons symmetric (bound 1080): {end}"],
        [f"NTK rank at the start of training, n = 10: {start} (2 seeds)"],
        [f"within the bound 1280 − 20n at every n (Prop. 2-3): {within}"],
    ]


def reparam_regression() -> Case:
    runs = [
        {"trial_id": "wd", "method": "weight_decay", "sigma0": None, "gamma": 0.05},
        {"trial_id": "fix", "method": "w_fix", "sigma0": None, "gamma": None},
        {"trial_id": "syre", "method": "syre", "sigma0": 1.0, "gamma": 0.05},
    ]
    dead = {"weight_decay": 12.0, "w_fix": 7.0, "syre": 0.0}

    def metrics(run: dict, seed: int, iteration: int) -> dict:
        return {
            "config.dim": 200,
            "metric.dead_units": dead[run["method"]] * iteration / 50 + seed,
            "metric.test_loss": 0.5 + dead[run["method"]] / 10 + seed / 7,
            "metric.train_loss": 0.4,
        }

    df = study(runs, (0, 1, 2), (0, 50), metrics)
    end = last(df)
    units = {m: mean(end, "metric.dead_units", method=m) for m in dead}
    order = sorted(units, key=units.get)  # fewest dead units first
    fewest = "yes" if units["syre"] == min(units.values()) else "no"
    losses = ", ".join(f"{m} {mean(end, 'metric.test_loss', method=m):.4g}" for m in order)
    return df, [
        [
            "dead units (u_i = w_i = 0) of 200 at the end, mean over 3 seeds: "
            + ", ".join(f"{m} {units[m]:.3g}" for m in order)
        ],
        [f"test loss at the end: {losses}"],
        [f"syre has the fewest dead units: {fewest}"],
    ]


def resnet_cifar() -> Case:
    from scipy import stats

    finals = {
        ("weight_decay", None): [0.90, 0.92, 0.95],
        ("vanilla", None): [0.80, 0.85],
        ("syre", 0.01): [0.91, 0.93, 0.92],
        ("syre", 0.1): [0.89, 0.94, 0.90],
        ("syre", 0.5): [0.70, 0.72, 0.71],
    }
    rows = []
    for trial, ((method, sigma0), values) in enumerate(finals.items()):
        for seed, value in enumerate(values):
            for iteration, accuracy in ((10, 0.1), (20, value)):
                rows.append(
                    {"trial_id": f"t{trial}", "method": method, "seed": seed, "iteration": iteration, "sigma0": sigma0}
                    | {"config.width": 8, "config.dataset": "synthetic_cifar10", "metric.test_accuracy": accuracy}
                    | {"metric.test_loss": 1 - accuracy, "metric.train_loss": 2 - accuracy}
                )
    df = pd.DataFrame(rows)
    decay, vanilla = np.array(finals[("weight_decay", None)]), np.array(finals[("vanilla", None)])
    same = all(
        stats.ttest_ind(finals[("syre", s)], decay, equal_var=False).pvalue >= 0.05 for s in (0.01, 0.1)
    )  # the σ0 below 0.2
    verdict = "yes" if same else "no"
    return df, [
        [
            f"final test accuracy, mean ± std: weight_decay {decay.mean():.4f} ± {decay.std(ddof=1):.4f} (3 seeds), "
            f"vanilla {vanilla.mean():.4f} ± {vanilla.std(ddof=1):.4f} (2 seeds)"
        ],
        [
            f"syre final test accuracy: {np.mean(finals[('syre', 0.01)]):.4f} at σ0 = 0.01 to "
            f"{np.mean(finals[('syre', 0.5)]):.4f} at σ0 = 0.5 (3 values of σ0, 3 seeds each)"
        ],
        [f"not significantly different from weight_decay at every σ0 < 0.2 (Welch, p ≥ 0.05): {verdict}"],
    ]


def ridge() -> Case:
    runs = [
        {"trial_id": f"{m}-{d}", "method": m, "sigma0": 0.1 if m == "syre" else None, "config.dim": d}
        for m in ("syre", "vanilla", "weight_decay")
        for d in (10, 20, 40)
    ]
    peak = {"vanilla": 5.0, "weight_decay": 0.2, "syre": 0.25}

    def metrics(run: dict, seed: int, iteration: int) -> dict:
        ratio = run["config.dim"] / 20
        height = peak[run["method"]] * (1 if ratio == 1 else 0.3) + 0.5 * ratio
        return {"config.train_size": 20, "metric.test_loss": height + seed / 10 + iteration, "metric.train_loss": 0.1}

    df = study(runs, (0, 1), (0, 1), metrics)
    end = last(df).assign(ratio=lambda d: d["config.dim"] / d["config.train_size"])
    lines = []
    for method in ("vanilla", "weight_decay", "syre"):  # the paper's order, whatever the names' order
        curve = end[end["method"] == method].groupby("ratio")["metric.test_loss"].mean()
        lines.append([f"{method}: peak test loss {curve.max():.4g} at d/N = {curve.idxmax():.3g}"])
    return df, lines


def simclr() -> Case:
    rows = []
    runs = [  # trial, method, sigma0, params, per seed: (low_last, low_penult, acc_penult, acc_last)
        ("t0", "vanilla", None, '["head.*"]', [(0.7, 0.1, 0.46, 0.22), (0.5, 0.3, 0.48, 0.25)]),
        ("t1", "syre", 0.1, '["head.*"]', [(0.0, 0.0, 0.46, 0.30), (0.1, 0.0, 0.46, 0.33)]),
        ("t2", "syre", 0.01, '["head.*"]', [(0.0, 0.0, 0.45, 0.31), (0.2, 0.0, 0.47, 0.36)]),
        ("t3", "syre", 0.1, None, [(0.8, 0.2, 0.44, 0.20), (0.6, 0.2, 0.44, 0.21)]),
    ]
    values = ("low_rankness_last", "low_rankness_penultimate", "probe_accuracy_penultimate", "probe_accuracy_last")
    for trial, method, sigma0, params, seeds in runs:
        for seed, measured in enumerate(seeds):
            for iteration, scale in ((5, 0.5), (10, 1.0)):  # the earlier report must not count
                row = {"trial_id": trial, "method": method, "seed": seed, "iteration": iteration}
                row |= {"sigma0": sigma0, "config.params": params, "config.dataset": "synthetic_cifar100"}
                row |= {f"metric.{v}": scale * x for v, x in zip(values, measured)}
                rows.append(row)
    df = pd.DataFrame(rows)
    end = last(df)

    def line(name: str, trial: str) -> str:
        def at(value: str) -> float:
            return mean(end, f"metric.{value}", trial_id=trial)

        return (
            f"{name}: last-layer low-rankness {at('low_rankness_last'):.3g}; probe accuracy last "
            f"{at('probe_accuracy_last'):.3g} / penultimate {at('probe_accuracy_penultimate'):.3g} (2 seeds)"
        )

    per_trial = end.groupby("trial_id")[["metric.low_rankness_last", "metric.probe_accuracy_last"]].mean()
    syre, base = per_trial.drop(index="t0"), per_trial.loc["t0"]
    lower = int((syre["metric.low_rankness_last"] < base["metric.low_rankness_last"]).sum())
    higher = int((syre["metric.probe_accuracy_last"] > base["metric.probe_accuracy_last"]).sum())
    best = syre["metric.probe_accuracy_last"].idxmax()
    assert best == "t2"  # σ0 = 0.01 on the head: 0.335
    return df, [
        [line("vanilla", "t0")],
        [line("syre σ0 = 0.01", best)],
        [f"below vanilla's last-layer low-rankness: {lower} of 3; above its last-layer probe accuracy: {higher} of 3"],
    ]


def slippery_ant() -> Case:
    runs = [
        {"trial_id": "t0", "method": "syre", "sigma0": 1.0},
        {"trial_id": "t1", "method": "vanilla", "sigma0": None},
        {"trial_id": "t2", "method": "l2_init", "sigma0": None},
    ]
    level = {"syre": (200.0, 60.0), "vanilla": (50.0, 15.0), "l2_init": (120.0, 40.0)}

    def metrics(run: dict, seed: int, iteration: int) -> dict:
        ret, rank = level[run["method"]]
        return {
            "config.change_every_steps": 30,
            "metric.friction": 1.0 if iteration < 40 else 0.5,  # one change, seen at the report at 40
            "metric.episodic_return": ret + iteration + 7 * seed,
            "metric.effective_rank": rank - iteration / 10 + seed,
        }

    df = study(runs, (0, 1), (10, 20, 30, 40, 50, 60), metrics)
    period = df[df["iteration"] >= 40]  # the last friction period, the same for every run here
    lines, verdicts = [], []
    for metric in ("effective_rank", "episodic_return"):
        per_run = period.groupby(["method", "trial_id", "seed"])[f"metric.{metric}"].mean()
        value = per_run.groupby("method").mean()
        verdicts.append(f"{metric.replace('_', ' ')} {'yes' if value['syre'] > value['vanilla'] else 'no'}")
        lines.append(
            [
                f"last friction period, mean {metric.replace('_', ' ')}: syre {value['syre']:.4g}, "
                f"vanilla {value['vanilla']:.4g}, best other l2_init {value['l2_init']:.4g}"
            ]
        )
    lines[0].append("(6 runs)")
    lines.append([f"syre higher than vanilla in the last period: {', '.join(verdicts)}"])
    return df, lines


def teacher_student() -> Case:
    runs = [
        {"trial_id": f"{m}-{d}", "method": m, "sigma0": 1.0 if m == "syre" else None, "gamma": 0.005}
        | {"config.input_dim": d, "config.label_noise": 0.0}
        for m in ("weight_decay", "syre")
        for d in (10, 100, 1000)
    ]

    def metrics(run: dict, seed: int, iteration: int) -> dict:
        grows = 0.3 if run["method"] == "syre" else 0.01
        return {
            "metric.rank": 20 + grows * run["config.input_dim"] + seed + iteration,
            "metric.test_loss": 1.0,
            "metric.train_loss": 0.5,
            "metric.test_accuracy": 0.8 + 0.01 * seed + 0.05 * (run["method"] == "syre"),
        }

    df = study(runs, (0, 1), (0, 5), metrics)
    end = last(df)

    def rank(method: str, dim: int) -> float:
        return mean(end, "metric.rank", method=method, **{"config.input_dim": dim})

    higher = all(rank("syre", d) >= rank("weight_decay", d) for d in (10, 100, 1000))
    widest = {"config.input_dim": 1000}
    accuracy = ", ".join(
        f"{m} {mean(end, 'metric.test_accuracy', method=m, **widest):.3g}" for m in ("syre", "weight_decay")
    )
    return df, [
        [
            f"first-layer rank, input_dim 10 → 1000: syre {rank('syre', 10):.1f} → {rank('syre', 1000):.1f}, "
            f"weight_decay {rank('weight_decay', 10):.1f} → {rank('weight_decay', 1000):.1f}; syre ≥ weight_decay: "
            + ("yes" if higher else "no")
        ],
        [f"test accuracy at input_dim = 1000: {accuracy} (2 seeds)"],
    ]


def vae_posterior_collapse() -> Case:
    rows = []
    runs = [("s", "syre", 1000.0), ("w", "weight_decay", 1000.0), ("v", "vanilla", None)]
    for trial, method, gamma in runs:
        for beta in (1.0, 10.0):
            for seed in (3, 4):
                base = {"trial_id": f"{trial}{beta:g}", "method": method, "seed": seed, "gamma": gamma}
                base |= {"config.beta": beta}
                kept = {"syre": 40.0, "weight_decay": 4.0, "vanilla": 12.0}[method] / beta
                training = {"metric.rank": kept + seed, "metric.recon_loss": 20 - kept}
                training |= {"metric.test_recon_loss": 21 - kept + seed / 4, "metric.kl": 1.0}
                recon = dict.fromkeys(["metric.recon_image", "metric.recon_pixel"], np.nan)
                recon |= dict.fromkeys(["metric.recon_input", "metric.recon_output"], np.nan)
                rows.append(base | {"iteration": 5, **dict.fromkeys(training, 0.0), **recon})
                rows.append(base | {"iteration": 10, **training, **recon})
                for pixel in range(4):  # Fig. 10's rows after training: not training reports
                    picture = {"metric.recon_image": 0.0, "metric.recon_pixel": float(pixel)}
                    picture |= {"metric.recon_input": 0.5, "metric.recon_output": 0.4}
                    rows.append(base | {"iteration": 11 + pixel, **training, "metric.rank": -1.0, **picture})
    df = pd.DataFrame(rows)
    end = df[(df["iteration"] == 10) & (df["config.beta"] == 10.0)]
    order = ("syre", "weight_decay", "vanilla")
    names = {"syre": "syre (γ = 1000)", "weight_decay": "weight_decay (γ = 1000)", "vanilla": "vanilla"}
    rank = {m: mean(end, "metric.rank", method=m) for m in order}
    ranks = ", ".join(f"{names[m]} {rank[m]:.4g}" for m in order)
    losses = ", ".join(f"{names[m]} {mean(end, 'metric.test_recon_loss', method=m):.4g}" for m in order)
    return df, [
        [f"encoder rank at the largest β = 10: {ranks} (2 seeds)"],
        [f"test reconstruction loss at β = 10: {losses}"],
        [f"higher encoder rank than weight_decay at β = 10: {'yes' if rank['syre'] > rank['weight_decay'] else 'no'}"],
    ]


def vit_cifar() -> Case:
    points = [(1e-4, 1.0), (0.1, 1.0), (1e-4, 0.1)]
    runs = [
        {"trial_id": f"{m}-{g}-{a}", "method": m, "gamma": g, "config.input_scale": a}
        for m in ("syre", "weight_decay")
        for g, a in points
    ]
    runs.append({"trial_id": "asym", "method": "sigma_asym", "gamma": None, "config.input_scale": 1.0})
    size = {"config.dataset": "synthetic_cifar10 (generated)", "config.depth": 2, "config.dim": 32, "config.patch": 8}

    def metrics(run: dict, seed: int, iteration: int) -> dict:
        gamma = run["gamma"] or 0.0
        collapse = (run["method"] != "syre") * (100 * gamma + 0.3 / run["config.input_scale"])
        return size | {
            "metric.test_accuracy": 0.7 - collapse / 40 + 0.01 * seed,
            "metric.rank": 30.0 - collapse + 2 * seed + iteration,
        }

    df = study(runs, (0, 1), (0, 5), metrics)
    wheres = (("the largest γ = 0.1 (α = 1)", 0.1, 1.0), ("the smallest α = 0.1 (γ = 0.0001)", 1e-4, 0.1))
    lines, higher = collapse_lines(df[df["iteration"] == 5], "last-layer", wheres, points)
    lines.append([f"higher last-layer rank than weight_decay at {higher} of 3 (γ, α) points both ran (2 seeds each)"])
    return df, lines


CASES: dict[str, Callable[[], Case]] = {
    "_generic": generic,
    "continual_permuted": continual_permuted,
    "fcn_collapse": fcn_collapse,
    "low_capacity_init": low_capacity_init,
    "mode_connectivity": mode_connectivity,
    "ntk_rank": ntk_rank,
    "reparam_regression": reparam_regression,
    "resnet_cifar": resnet_cifar,
    "ridge": ridge,
    "simclr": simclr,
    "slippery_ant": slippery_ant,
    "teacher_student": teacher_student,
    "vae_posterior_collapse": vae_posterior_collapse,
    "vit_cifar": vit_cifar,
}


def test_every_figure_module_has_a_headline_case() -> None:
    modules = {m.name for m in pkgutil.iter_modules(figures.__path__) if not m.name.startswith("_")}
    assert set(CASES) == (modules - ELSEWHERE) | {"_generic"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_headline_states_the_main_result_with_the_data_steps_numbers(name: str) -> None:
    module = importlib.import_module(f"syre_tune.analysis.figures.{name}")
    df, expected = CASES[name]()
    if module.COLUMNS is not None:
        df = df[list(module.COLUMNS)]  # what analyze passes: the columns the module asks for
    lines = module.summary(df)
    headline = lines[:HEADLINE]
    assert len(expected) <= len(headline), lines
    for line, fragments in zip(headline, expected):
        for fragment in fragments:
            assert fragment in line, f"{fragment!r} not in {line!r}"
    assert all(isinstance(line, str) and line.strip() for line in lines), lines
    too_wide = [line for line in headline if len(line) > MAX_WIDTH]
    assert not too_wide, too_wide
