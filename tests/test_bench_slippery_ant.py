"""PPO on Slippery Ant: GAE and the clipped loss against plain references, PPO learning a task where
that shows in seconds, exact kill/resume, and bad configs refused."""

from __future__ import annotations

import io
import math

import gymnasium
import numpy as np
import pytest
import torch

from syre_tune.benchmarks import slippery_ant as sa
from syre_tune.benchmarks._common import ConfigError, build_config


# ------------------------------------------------------------------ GAE and the clipped surrogate
def reference_gae(rewards, values, ends, next_value, discount, lam):
    """GAE for one environment written as the textbook recursion, in plain Python floats."""
    T = len(rewards)
    advantages = [0.0] * T
    following_advantage = 0.0
    for t in reversed(range(T)):
        following_value = next_value if t == T - 1 else values[t + 1]
        if ends[t]:  # the episode ended at t: nothing follows it
            delta = rewards[t] - values[t]
            following_advantage = 0.0
        else:
            delta = rewards[t] + discount * following_value - values[t]
        following_advantage = delta + discount * lam * following_advantage
        advantages[t] = following_advantage
    return advantages


def test_gae_matches_the_textbook_recursion_per_environment() -> None:
    gen = torch.Generator().manual_seed(0)
    T, N = 13, 3
    rewards, values = torch.randn(T, N, generator=gen), torch.randn(T, N, generator=gen)
    ends = (torch.rand(T, N, generator=gen) < 0.2).float()
    ends[5, 1] = 1.0
    next_value = torch.randn(N, generator=gen)
    advantages, returns = sa.gae(rewards, values, ends, next_value, discount=0.9, lam=0.8)
    for n in range(N):
        want = reference_gae(
            rewards[:, n].tolist(), values[:, n].tolist(), ends[:, n].tolist(), float(next_value[n]), 0.9, 0.8
        )
        torch.testing.assert_close(advantages[:, n], torch.tensor(want), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(returns, advantages + values)


def test_gae_with_lambda_one_is_the_discounted_return_minus_the_value() -> None:
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [0.25], [0.125]])
    ends = torch.tensor([[0.0], [0.0], [0.0]])
    advantages, _ = sa.gae(rewards, values, ends, torch.tensor([4.0]), discount=0.5, lam=1.0)
    # G_0 = 1 + 0.5·2 + 0.25·3 + 0.125·4 = 3.25
    assert advantages[0, 0].item() == pytest.approx(3.25 - 0.5)


def test_clipped_surrogate_by_hand() -> None:
    old = torch.zeros(4)
    new = torch.log(torch.tensor([1.5, 0.5, 1.1, 0.7]))  # ratios 1.5, 0.5, 1.1, 0.7
    adv = torch.tensor([1.0, 1.0, -2.0, -1.0])
    # per sample max(−Aρ, −A·clip(ρ, 0.8, 1.2)): max(−1.5, −1.2) = −1.2; max(−0.5, −0.8) = −0.5;
    # max(2.2, 2.2) = 2.2; max(0.7, 0.8) = 0.8  → mean 0.325
    assert sa.clipped_surrogate(new, old, adv, 0.2).item() == pytest.approx(0.325)


def test_lecun_uniform_init_and_the_named_hidden_layers() -> None:
    from syre_tune.benchmarks._methods import Parts, seeded_init
    from syre_tune.plasticity import hidden_units

    with seeded_init(0):
        model = sa.ActorCritic(Parts("redo", seed=0), 28, 8, (256, 256))
    first = model.policy[0]
    assert first.weight.abs().max() <= math.sqrt(3 / 28) and first.weight.std().item() == pytest.approx(
        math.sqrt(1 / 28), rel=0.05
    )
    assert (first.bias == 0).all() and (model.log_std == 0).all()
    assert [(u.incoming, u.outgoing) for u in hidden_units(model)] == [
        ("policy.0", "policy.2"),
        ("policy.2", "policy.4"),
        ("value.0", "value.2"),
        ("value.2", "value.4"),
    ]
    assert model.features == "policy.3"


# ------------------------------------------------------------------ PPO learns where it can show
class Target(gymnasium.Env):
    """Reward −‖a − x‖² for a target x ~ U[−0.5, 0.5]² shown as the observation; 16-step episodes.
    A random policy (std 1, clipped to [−1, 1]) scores about −16·2·(0.59 + 0.08) ≈ −21; the optimum is 0."""

    def __init__(self) -> None:
        self.observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.x = 0, self.np_random.uniform(-0.5, 0.5, 2).astype(np.float32)
        return self.x, {}

    def step(self, action):
        reward = -float(np.square(action - self.x).sum())
        self.t += 1
        self.x = self.np_random.uniform(-0.5, 0.5, 2).astype(np.float32)
        return self.x, reward, False, self.t >= 16, {}


def test_ppo_return_rises_on_a_task_it_can_learn_in_seconds() -> None:
    if "syre_test/Target-v0" not in gymnasium.registry:
        gymnasium.register("syre_test/Target-v0", entry_point=Target)
    cfg = sa.Config(
        env="syre_test/Target-v0", method="vanilla", total_steps=12_288, rollout_steps=512, minibatches=8,
        epochs=10, lr=3e-3, hidden=(32, 32), report_every_steps=512, num_envs=2,
    )  # fmt: skip
    rows = []
    sa.run(cfg, lambda iteration, metrics, state=None: rows.append({k: float(v[0]) for k, v in metrics.items()}))
    returns = [row["episodic_return"] for row in rows]
    assert math.isnan(rows[0]["friction"])  # not Slippery Ant: no friction
    assert returns[0] < -15 and np.mean(returns[-3:]) > returns[0] + 10, returns


# ------------------------------------------------------------------ Slippery Ant: kill and resume
def tiny(method: str) -> sa.Config:
    return sa.Config(
        method=method, total_steps=3 * 256, rollout_steps=256, minibatches=4, epochs=2, hidden=(16, 16),
        report_every_steps=256, change_every_steps=300, max_episode_steps=150, redo_every=3, redo_tau=0.5, seeds=(4,),
    )  # fmt: skip


@pytest.mark.parametrize("method", ["syre", "shrink_perturb", "redo"])
def test_a_killed_run_resumes_with_the_same_rows(method: str) -> None:
    cfg = tiny(method)
    whole, saved = [], []

    def keep(iteration, metrics, state=None):
        whole.append((iteration, {k: v.tolist() for k, v in metrics.items()}))
        if iteration == 256:  # the runner's checkpoint, through torch.save / weights_only load
            buffer = io.BytesIO()
            torch.save(state() if callable(state) else state, buffer)
            buffer.seek(0)
            saved.append(torch.load(buffer, weights_only=True))

    sa.run(cfg, keep)
    resumed = []
    sa.run(
        cfg, lambda it, metrics, state=None: resumed.append((it, {k: v.tolist() for k, v in metrics.items()})), saved[0]
    )
    assert [it for it, _ in whole] == [256, 512, 768]
    np.testing.assert_equal(resumed, whole[1:])  # NaN == NaN here (a report with no finished episode)
    periods = [row["friction_period"][0] for _, row in whole]
    assert periods[-1] >= 1  # the friction changed during the run, and the resumed run agrees on when


def test_the_friction_in_the_rows_is_the_schedules() -> None:
    from syre_tune.envs import friction_schedule

    rows = []
    sa.run(tiny("vanilla"), lambda it, metrics, state=None: rows.append({k: float(v[0]) for k, v in metrics.items()}))
    schedule = friction_schedule(4, 10, 0.02, 2.0)
    for row in rows:
        assert row["friction"] == pytest.approx(schedule[int(row["friction_period"])])


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"change_every_steps": 0}, "change_every_steps: expected an integer >= 1"),
        ({"friction_low": 2.0, "friction_high": 1.0}, "0 < friction_low < friction_high"),
        ({"friction_low": 0.0}, "0 < friction_low < friction_high"),
        ({"shrink": -0.1, "method": "shrink_perturb"}, "shrink: expected a number in [0, 1)"),
        ({"rollout_steps": 2048, "minibatches": 3}, "minibatches: expected a divisor"),
    ],
)
def test_bad_configs_are_refused_naming_the_key(values: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as error:
        build_config(sa.Config, values)
    assert needle in str(error.value)


def test_without_the_rl_extra_a_study_is_one_line_naming_it(tmp_path) -> None:
    """gymnasium and PyBullet are the [rl] extra: without them the benchmark still imports and a
    Slippery Ant study fails to load with one line that says how to install them."""
    import subprocess
    import sys

    study = tmp_path / "ant.yaml"
    study.write_text("benchmark: slippery_ant\nseeds: 1\n")
    probe = (
        "import sys\n"
        "for name in ('gymnasium', 'pybullet', 'pybullet_envs_gymnasium'):\n"
        "    sys.modules[name] = None  # as if not installed: importing it raises ImportError\n"
        "import importlib.util\n"
        "find = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name.split('.')[0] in sys.modules and "
        "sys.modules[name.split('.')[0]] is None else find(name, *a)\n"
        "from syre_tune import study\n"
        "try:\n"
        "    study.load(sys.argv[1])\n"
        "except study.StudyError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(study)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines() == [
        f"{study}: config.env: expected gymnasium, pybullet, pybullet_envs_gymnasium installed: "
        "pip install 'syre-tune[rl]' (an extra), got 'syre_tune/SlipperyAnt-v0'"
    ]
