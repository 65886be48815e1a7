"""SlipperyAnt (syre_tune/envs): registration, gymnasium's checks, the friction schedule, checkpoints.

References are plain: numpy's log-uniform draw for the schedule, counters kept by the test for the timing of
friction changes, pybullet's own read-back and a hand-modified AntBulletEnv for the friction, and the env that
was not checkpointed for a resumed one.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from syre_tune.envs import SLIPPERY_ANT
from syre_tune.envs.slippery_ant import SlipperyAnt, friction_schedule

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.filterwarnings("ignore:.*Box observation space (minimum|maximum) value")  # Ant's ±inf


def random_actions(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, 8)).astype(np.float32)


def play(env: SlipperyAnt, actions: np.ndarray) -> list[tuple]:
    """Step through ``actions``, resetting (unseeded) whenever no episode runs; one record per call."""
    records: list[tuple] = []
    running = env.episode_running
    for action in actions:
        if not running:
            obs, info = env.reset()
            records.append(("reset", obs, info))
        obs, reward, terminated, truncated, info = env.step(action)
        records.append(("step", obs, reward, terminated, truncated, info))
        running = not (terminated or truncated)
    return records


def assert_identical(got: list[tuple], expected: list[tuple]) -> None:
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a[0] == b[0], f"record {i}: {a[0]} vs {b[0]}"
        assert a[1].dtype == b[1].dtype and np.array_equal(a[1], b[1]), f"record {i} ({a[0]}): observations differ"
        assert a[2:] == b[2:], f"record {i} ({a[0]}): {a[2:]} vs {b[2:]}"


def steps_of(records: list[tuple]) -> list[tuple]:
    return [r for r in records if r[0] == "step"]


# -- registration --------------------------------------------------------------------------------------------------


def test_import_registers_the_env_without_loading_pybullet() -> None:
    code = """
import importlib, sys, warnings
import gymnasium
import syre_tune.envs
from syre_tune.envs import friction_schedule
friction_schedule(0, 3)
with warnings.catch_warnings():
    warnings.simplefilter("error")   # gymnasium warns when an id is registered a second time
    importlib.reload(syre_tune.envs)
    import syre_tune.envs
spec = gymnasium.spec("syre_tune/SlipperyAnt-v0")
assert spec.entry_point == "syre_tune.envs.slippery_ant:SlipperyAnt", spec.entry_point
assert spec.max_episode_steps is None, spec.max_episode_steps   # the env truncates itself
loaded = sorted(m for m in sys.modules if m.split(".")[0].startswith("pybullet"))
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_made_env_passes_gymnasium_check_env(render_mode: str | None) -> None:
    env = gymnasium.make(SLIPPERY_ANT, change_every_steps=50, schedule_seed=4, render_mode=render_mode)
    assert isinstance(env.unwrapped, SlipperyAnt)
    assert (env.unwrapped.change_every_steps, env.unwrapped.schedule_seed) == (50, 4)
    assert not any(isinstance(w, gymnasium.wrappers.TimeLimit) for w in _wrappers(env))
    check_env(env.unwrapped)
    env.close()


def _wrappers(env: gymnasium.Env) -> list[gymnasium.Env]:
    chain = []
    while isinstance(env, gymnasium.Wrapper):
        chain.append(env)
        env = env.env
    return chain


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"change_every_steps": 0}, "change_every_steps"),
        ({"change_every_steps": 2.5}, "change_every_steps"),
        ({"change_every_steps": True}, "change_every_steps"),
        ({"friction_low": 0.0}, "friction_low"),
        ({"friction_low": float("nan")}, "friction_low"),
        ({"friction_low": 3.0}, "friction_low"),  # above friction_high
        ({"friction_high": float("inf")}, "friction_high"),
        ({"friction_high": "2"}, "friction_high"),
        ({"schedule_seed": -1}, "schedule_seed"),
        ({"max_episode_steps": 0}, "max_episode_steps"),
        ({"render_mode": "human"}, "render_mode"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        SlipperyAnt(**kwargs)


def test_step_needs_a_running_episode() -> None:
    env = SlipperyAnt(max_episode_steps=2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(8, np.float32))
    env.reset(seed=0)
    env.step(np.zeros(8, np.float32))
    _, _, _, truncated, _ = env.step(np.zeros(8, np.float32))
    assert truncated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(8, np.float32))


# -- determinism ---------------------------------------------------------------------------------------------------


def test_same_seed_and_actions_give_bit_identical_runs() -> None:
    actions = random_actions(300, seed=1)
    env = SlipperyAnt(change_every_steps=50, max_episode_steps=40)
    first = [("reset", *env.reset(seed=5))] + play(env, actions)
    again = [("reset", *env.reset(seed=5))] + play(env, actions)  # a seeded reset starts the env over
    other = SlipperyAnt(change_every_steps=50, max_episode_steps=40)
    fresh = [("reset", *other.reset(seed=5))] + play(other, actions)
    assert max(r[-1]["friction_period"] for r in first) >= 4  # the runs cross friction changes
    assert_identical(again, first)
    assert_identical(fresh, first)
    obs, _ = other.reset(seed=6)
    assert not np.array_equal(obs, first[0][1])  # the reset noise does depend on the seed


# -- the friction schedule -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "low", "high"), [(0, 0.02, 2.0), (1, 0.02, 2.0), (12345, 0.5, 0.7)])
def test_friction_schedule_is_log_uniform_from_numpy(seed: int, low: float, high: float) -> None:
    got = friction_schedule(seed, 2000, low, high)
    reference = np.exp(np.random.default_rng(seed).uniform(np.log(low), np.log(high), 2000))
    np.testing.assert_allclose(got, reference, rtol=1e-12, atol=0)
    assert got.shape == (2000,) and got.dtype == np.float64
    assert low <= got.min() and got.max() < high
    # A longer schedule extends a shorter one: period p's value does not depend on how many are drawn.
    np.testing.assert_array_equal(friction_schedule(seed, 7, low, high), got[:7])


def test_friction_schedule_depends_on_its_seed() -> None:
    assert not np.array_equal(friction_schedule(0, 10), friction_schedule(1, 10))
    for bad in ({"seed": -1}, {"periods": -1}, {"low": 2.0, "high": 1.0}, {"low": 0.0}):
        with pytest.raises(ValueError):
            friction_schedule(**{"seed": 0, "periods": 3, **bad})


@pytest.mark.parametrize(("every", "episode", "reset_seed"), [(50, 30, 0), (50, 30, 1), (10, 35, 0)])
def test_friction_changes_at_the_first_reset_after_each_threshold(every: int, episode: int, reset_seed: int) -> None:
    schedule = friction_schedule(9, 100, 0.02, 2.0)
    env = SlipperyAnt(change_every_steps=every, max_episode_steps=episode, schedule_seed=9)
    obs, info = env.reset(seed=reset_seed)
    total, episode_steps, period = 0, 0, 0  # the test's own counters
    assert info == {"friction": schedule[0], "friction_period": 0, "total_steps": 0}
    crossed_mid_episode = jumped = ended = False
    for action in random_actions(240, seed=reset_seed):
        if ended:
            obs, info = env.reset()
            new_period = total // every
            jumped |= new_period > period + 1
            period, episode_steps = new_period, 0
            assert info == {"friction": schedule[period], "friction_period": period, "total_steps": total}
        obs, reward, terminated, truncated, info = env.step(action)
        total, episode_steps = total + 1, episode_steps + 1
        crossed_mid_episode |= total % every == 0 and not (terminated or truncated)
        assert truncated == (episode_steps == episode)
        # Friction in force all episode long is the one chosen at its reset, whatever total_steps has reached.
        assert info == {"friction": schedule[period], "friction_period": period, "total_steps": total}
        ended = terminated or truncated
    assert period >= 4 and crossed_mid_episode
    assert jumped == (every < episode)  # several thresholds in one episode jump straight to the right period


def test_logged_friction_is_what_the_simulator_holds() -> None:
    env = SlipperyAnt(change_every_steps=30, max_episode_steps=20, schedule_seed=2)
    records = [("reset", *env.reset(seed=0))]
    floor, foot = env.simulator_friction()
    assert (floor, foot) == (records[0][-1]["friction"], 1.0)
    ant = env._ant  # every Ant link is at 1.0, so floor × link = the scheduled friction for any part that touches
    for body in ant.robot.objects:
        for link in range(-1, ant._p.getNumJoints(body)):
            assert ant._p.getDynamicsInfo(body, link)[1] == 1.0
    unchanged_resets = 0
    for action in random_actions(150, seed=2):
        new = play(env, action[None])
        for record in new:
            assert env.simulator_friction() == (record[-1]["friction"], 1.0)
        if new[0][0] == "reset":
            unchanged_resets += new[0][-1]["friction_period"] == records[-1][-1]["friction_period"]
        records += new
    assert len({r[-1]["friction_period"] for r in records}) >= 4
    assert unchanged_resets >= 1  # the friction written at a change survives the wrapped env's restoreState reset


def test_physics_is_ant_bullet_env_with_friction_floor_times_link() -> None:
    """Our env against AntBulletEnv whose friction the test sets itself: identical; and the value matters."""
    from pybullet_envs_gymnasium.gym_locomotion_envs import AntBulletEnv

    actions = random_actions(120, seed=3)
    runs = {}
    for friction in (0.05, 2.0):
        env = SlipperyAnt(friction_low=friction, friction_high=friction * (1 + 1e-9), max_episode_steps=1000)
        obs, _ = env.reset(seed=7)
        ours = [obs] + [env.step(a)[0] for a in actions]
        reference = AntBulletEnv()
        reference.reset(seed=0)  # its first start differs from later ones (slippery_ant.py, SlipperyAnt.reset)
        obs, _ = reference.reset(seed=7)
        p = reference._p
        for body in reference.robot.objects:
            for link in range(-1, p.getNumJoints(body)):
                p.changeDynamics(body, link, lateralFriction=1.0)
        p.changeDynamics(reference.stadium_scene.ground_plane_mjcf[0], -1, lateralFriction=env.friction)
        theirs = [obs] + [reference.step(a)[0] for a in actions]
        np.testing.assert_array_equal(np.array(ours), np.array(theirs))
        runs[friction] = np.array(ours)
        reference.close()
    assert np.abs(runs[0.05] - runs[2.0]).max() > 0.1


# -- checkpoint ----------------------------------------------------------------------------------------------------


def round_trip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("at", ["mid_episode", "episode_end"])
def test_checkpoint_resumes_bit_exactly_across_friction_changes(at: str) -> None:
    kwargs = {"change_every_steps": 100, "max_episode_steps": 60, "schedule_seed": 1}
    actions = random_actions(250, seed=4)
    a = SlipperyAnt(**kwargs)
    a.reset(seed=3)
    before = play(a, actions[:150])  # episode ends at steps 60 and 120 (and where the Ant falls); period 1 from 120
    if at == "episode_end":
        while not (before[-1][3] or before[-1][4]):
            before += play(a, actions[len(steps_of(before)) : len(steps_of(before)) + 1])
    done = len(steps_of(before))
    state = round_trip(a.state_dict())
    expected = play(a, actions[done : done + 100])
    untouched = SlipperyAnt(**kwargs)  # taking the state does not perturb the run (saveBullet has no side effect)
    untouched.reset(seed=3)
    assert_identical(play(untouched, actions[: done + 100])[-len(expected) :], expected)

    b = SlipperyAnt(**kwargs)
    if at == "episode_end":  # a used env: other seed, other steps
        b.reset(seed=99)
        play(b, actions[:7])
    b.load_state_dict(state)
    if at == "episode_end":
        with pytest.raises(RuntimeError, match="reset"):
            b.step(actions[done])
    assert np.array_equal(b.observation, before[-1][1]) and b.episode_running == (at == "mid_episode")
    got = play(b, actions[done : done + 100])
    assert_identical(got, expected)

    # Dohare's bug: the schedule must continue, not restart, while the step counter is restored.
    assert state["friction_period"] == 1 and got[0][-1]["total_steps"] == done + (at == "mid_episode")
    assert [r[-1]["friction_period"] for r in got][0] == 1 and got[-1][-1]["friction_period"] == 2
    assert got[-1][-1]["friction"] == friction_schedule(1, 3)[2]


def test_checkpoint_refuses_another_configuration() -> None:
    a = SlipperyAnt(change_every_steps=100)
    a.reset(seed=0)
    with pytest.raises(ValueError, match="change_every_steps"):
        SlipperyAnt(change_every_steps=200).load_state_dict(a.state_dict())


# -- bench ---------------------------------------------------------------------------------------------------------


def test_bench_smoke() -> None:
    command = [sys.executable, "bench/ant_env.py", "--steps", "50", "--rounds", "1", "--warmup", "10"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "| SlipperyAnt f=1.2 |" in done.stdout and "target" in done.stdout
