"""Slippery Ant: PyBullet's Ant on a floor whose friction changes now and then (Dohare et al. 2024, continual RL).

    env = SlipperyAnt(change_every_steps=2_000_000, schedule_seed=0)
    obs, info = env.reset(seed=0)           # info["friction"], info["friction_period"], info["total_steps"]
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    torch.save(env.state_dict(), path)      # tensors / numbers / lists: loads with weights_only=True
    env = SlipperyAnt(...); env.load_state_dict(torch.load(path, weights_only=True))   # continues exactly

The task is `AntBulletEnv` of ``pybullet_envs_gymnasium`` unchanged: 28-D observation, 8-D action in [-1, 1],
reward = alive bonus + progress + electricity cost + joints-at-limit cost (+ a foot-collision term that is 0),
termination when the torso falls (z <= 0.26), headless (pybullet DIRECT). What this module adds:

- **Friction schedule.** Period p has friction ``friction_schedule(schedule_seed, p + 1, low, high)[p]``,
  log-uniform in [low, high]; it depends on ``schedule_seed`` only, never on the reset seed. The env counts its
  own steps across episodes (``total_steps``); the first reset after ``total_steps`` reaches
  k · ``change_every_steps`` switches to period ``total_steps // change_every_steps`` (several thresholds
  crossed in one long episode jump straight to the right period). Friction never changes mid-episode.
- **Friction semantics.** Bullet combines the lateral friction of two touching bodies by multiplication
  (``btManifoldResult::calculateCombinedFriction``). The MJCF Ant's links have 1.5 and the floor 0.8 (combined
  1.2). Every Ant link is set to 1.0 once and the floor to f, so every Ant–floor contact (feet, and the torso
  when it falls) has friction exactly f, and reading the floor back gives f. Side effect, constant across periods:
  the Ant's self-contacts (leg on leg) have friction 1.0 instead of 2.25. (Dohare's MuJoCo version rewrites every
  geom's friction, self-contacts included, MuJoCo taking the max of the pair.) ``changeDynamics`` survives the
  wrapped env's ``restoreState`` reset, so the friction is written only when the period changes and on load.
- **Every episode starts alike.** The wrapped env's very first reset differs slightly from all its later ones
  (see ``reset``); a throwaway first reset makes episode 1 start like every other.
- **Truncation owned here** (``max_episode_steps``, default 1000, as ``AntBulletEnv-v0``'s registration), so that
  the episode's elapsed steps are part of the checkpoint; the registered env has no ``TimeLimit`` wrapper.
- **Checkpoint.** ``state_dict()`` holds the simulator (``saveBullet`` bytes, which include the contact points
  that warm-start the solver), the wrapped env's Python-side state that later steps read (potential, the robot's
  ``initial_z`` and ``feet_contact``, ...), the robot's reset-noise generator, the step counters and the friction
  period. ``load_state_dict`` on a freshly made env continues bit for bit (tests/test_envs.py).

Composition, not subclassing: ``SlipperyAnt`` holds an unmodified ``AntBulletEnv`` and calls its ``reset`` and
``step``. None of the wrapped env's methods is overridden, so the physics and the reward are exactly
``AntBulletEnv-v0``'s, and our state (counters, period, friction) lives apart from its many untyped attributes
(``frame``, ``reward``, ``done``, ``stateId``, ...) that a subclass could clash with. The few of those a checkpoint
needs are named once, in ``_ANT_STATE`` and ``_ROBOT_STATE``. One Python call per step is the whole overhead
(bench/ant_env.py measures it).

Seeding: ``reset(seed=s)`` seeds ``self.np_random``, which is also the generator the robot draws its reset noise
from, and **starts the env over**: step counter 0, friction period 0, as if newly made. That is what makes a seed
reproduce a whole run (gymnasium's ``check_env`` asks the same), so seed only the first reset; to resume, load a
state and call ``reset()`` without a seed (or just keep stepping when the state was saved mid-episode).

With ``gymnasium.make``, note that ``max_episode_steps=`` is taken by ``make`` itself (a ``TimeLimit`` wrapper,
whose counter no checkpoint holds); construct ``SlipperyAnt(max_episode_steps=...)`` directly to change it.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from typing import Any

import gymnasium
import numpy as np
import torch

__all__ = ["STATE_VERSION", "SlipperyAnt", "friction_schedule"]

STATE_VERSION = 1
ANT_LINK_FRICTION = 1.0  # every Ant link; the floor then carries the scheduled value itself (combined = 1.0 * f)

# Python-side state of the wrapped AntBulletEnv / its robot that a checkpoint carries, with the type each attribute
# has there. Types matter: under NumPy 2's promotion rules float32 + float differs from float32 + float64, and the
# alive check adds the float32 observation to robot.initial_z.
_ANT_STATE = {"potential": "float64", "frame": "int", "_alive": "float", "reward": "float", "rewards": "floats"}
_ROBOT_STATE = {
    "initial_z": "float64",
    "feet_contact": "array",
    "joint_speeds": "array",
    "joints_at_limit": "int",
    "body_xyz": "float64_tuple",
    "body_real_xyz": "array",
    "body_rpy": "floats_tuple",
    "walk_target_x": "float",
    "walk_target_y": "float",
    "walk_target_theta": "float64",
    "walk_target_dist": "float64",
}


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return int(value)


def _check_friction_range(low: object, high: object) -> tuple[float, float]:
    for name, value in (("friction_low", low), ("friction_high", high)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {name}={value!r}")
    if not 0 < low < high:
        raise ValueError(f"need 0 < friction_low < friction_high, got friction_low={low!r}, friction_high={high!r}")
    return float(low), float(high)


def friction_schedule(seed: int, periods: int, low: float = 0.02, high: float = 2.0) -> np.ndarray:
    """Friction of periods 0 .. periods-1, log-uniform in [low, high): ``low * (high / low) ** u``, u ~ U[0, 1).

    ``u`` comes from ``np.random.default_rng(seed).random(periods)``, one draw per period in order, so a longer
    schedule extends a shorter one (period p's value never depends on how many periods are asked for).
    Shape (periods,), float64.
    """
    seed = _check_int("seed", seed, 0)
    periods = _check_int("periods", periods, 0)
    low, high = _check_friction_range(low, high)
    u = np.random.default_rng(seed).random(periods)
    return low * (high / low) ** u


class SlipperyAnt(gymnasium.Env):
    """PyBullet's Ant whose floor friction follows ``friction_schedule``, switching at episode ends (module doc)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 60}

    def __init__(
        self,
        *,
        change_every_steps: int = 2_000_000,
        friction_low: float = 0.02,
        friction_high: float = 2.0,
        schedule_seed: int = 0,
        max_episode_steps: int = 1000,
        render_mode: str | None = None,
    ) -> None:
        self.change_every_steps = _check_int("change_every_steps", change_every_steps, 1)
        self.friction_low, self.friction_high = _check_friction_range(friction_low, friction_high)
        self.schedule_seed = _check_int("schedule_seed", schedule_seed, 0)
        self.max_episode_steps = _check_int("max_episode_steps", max_episode_steps, 1)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode=}")
        self.render_mode = render_mode

        # Deferred so that importing syre_tune.envs (and this module) does not load pybullet.
        from pybullet_envs_gymnasium.gym_locomotion_envs import AntBulletEnv

        self._ant = AntBulletEnv(render_mode=render_mode)  # connects to pybullet (DIRECT) on its first reset
        self.action_space = self._ant.action_space
        self.observation_space = self._ant.observation_space

        self._connected = False  # the wrapped env has been reset once (simulator, robot and floor exist)
        self._total_steps = 0  # env steps since made or since the last seeded reset, across episodes
        self._episode_steps = 0
        self._episode_running = False
        self._observation: np.ndarray | None = None  # the last one returned, for a resumed loop to continue from
        self._period = 0
        self._friction = self._friction_of(0)

    # -- the schedule -------------------------------------------------------------------------------------------

    @property
    def total_steps(self) -> int:
        return self._total_steps

    @property
    def friction(self) -> float:
        """The friction in force (combined Ant–floor lateral friction)."""
        return self._friction

    @property
    def friction_period(self) -> int:
        return self._period

    @property
    def episode_running(self) -> bool:
        """False before the first reset and once an episode terminated or was truncated: call reset()."""
        return self._episode_running

    @property
    def observation(self) -> np.ndarray:
        """A copy of the observation last returned by reset() or step() (also after load_state_dict)."""
        if self._observation is None:
            raise RuntimeError("no observation yet: call reset() first")
        return self._observation.copy()

    def _friction_of(self, period: int) -> float:
        return float(friction_schedule(self.schedule_seed, period + 1, self.friction_low, self.friction_high)[period])

    def _write_friction(self) -> None:
        """Set the floor's lateral friction to the period's value (the Ant's links are at 1.0)."""
        p = self._ant._p
        for body in self._ant.stadium_scene.ground_plane_mjcf:
            for link in range(-1, p.getNumJoints(body)):
                p.changeDynamics(body, link, lateralFriction=self._friction)

    def _write_ant_friction(self) -> None:
        p = self._ant._p
        for body in self._ant.robot.objects:
            for link in range(-1, p.getNumJoints(body)):
                p.changeDynamics(body, link, lateralFriction=ANT_LINK_FRICTION)

    def simulator_friction(self) -> tuple[float, float]:
        """(floor, front-left foot) lateral friction as pybullet holds them; their product is the contact friction."""
        if not self._connected:
            raise RuntimeError("simulator_friction() needs the simulator: call reset() first")
        p = self._ant._p
        floor = self._ant.stadium_scene.ground_plane_mjcf[0]
        foot = self._ant.robot.parts["front_left_foot"]
        return (
            float(p.getDynamicsInfo(floor, -1)[1]),
            float(p.getDynamicsInfo(foot.bodies[foot.bodyIndex], foot.bodyPartIndex)[1]),
        )

    def _info(self) -> dict[str, Any]:
        return {"friction": self._friction, "friction_period": self._period, "total_steps": self._total_steps}

    # -- gymnasium API -----------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:  # a seeded reset starts the env over (module doc, "Seeding")
            self._total_steps = 0
        if not self._connected:
            # The wrapped env's very first reset computes its observation before the floor joins robot.parts, whose
            # mean position is body_xyz: that start differs from every later one (obs[1:3] by ~1e-7, potential by
            # ~0.016, so the first step's progress reward). One throwaway reset (its own generator) loads the scene,
            # and all our episodes, the first too, start like the wrapped env's later ones.
            self._ant.reset(seed=0)
        # One generator: ours, which the robot's reset noise (uniform joint angles in [-0.1, 0.1]) draws from.
        self._ant.np_random = self._ant.robot.np_random = self.np_random
        obs, _ = self._ant.reset()
        period = self._total_steps // self.change_every_steps
        if not self._connected:
            self._connected = True
            self._write_ant_friction()
            self._period, self._friction = period, self._friction_of(period)
            self._write_friction()
        elif period != self._period:
            self._period, self._friction = period, self._friction_of(period)
            self._write_friction()
        self._episode_steps = 0
        self._episode_running = True
        self._observation = obs.copy()
        return obs, self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self._episode_running:
            raise RuntimeError("no episode is running (not reset yet, or it terminated or was truncated): call reset()")
        obs, reward, terminated, _, _ = self._ant.step(action)
        self._total_steps += 1
        self._episode_steps += 1
        truncated = self._episode_steps >= self.max_episode_steps
        self._episode_running = not (terminated or truncated)
        self._observation = obs.copy()
        return obs, reward, terminated, truncated, self._info()

    def render(self) -> np.ndarray | None:
        return self._ant.render()

    def close(self) -> None:
        self._ant.close()
        self._connected = False
        self._episode_running = False

    # -- checkpoint --------------------------------------------------------------------------------------------

    def _config(self) -> dict[str, int | float]:
        """The constructor arguments a checkpoint must agree with."""
        names = ("change_every_steps", "friction_low", "friction_high", "schedule_seed", "max_episode_steps")
        return {name: getattr(self, name) for name in names}

    def state_dict(self) -> dict[str, torch.Tensor | int | float | list]:
        """Everything needed to continue exactly, as tensors, numbers and lists (``torch.load(weights_only=True)``)."""
        if not self._connected:
            raise RuntimeError("state_dict() needs the simulator: call reset() first")
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "state.bullet")
            self._ant._p.saveBullet(path)
            with open(path, "rb") as file:
                bullet = torch.frombuffer(bytearray(file.read()), dtype=torch.uint8)
        generator = self.np_random.bit_generator.state
        if generator["bit_generator"] != "PCG64":
            raise RuntimeError(f"expected gymnasium's PCG64 generator, got {generator['bit_generator']}")
        state: dict[str, torch.Tensor | int | float | list] = {
            "version": STATE_VERSION,
            **{f"config.{name}": value for name, value in self._config().items()},
            "total_steps": self._total_steps,
            "episode_steps": self._episode_steps,
            "episode_running": int(self._episode_running),
            "friction_period": self._period,
            "friction": self._friction,
            "observation": torch.from_numpy(self._observation.copy()),
            # PCG64: 128-bit state and increment as Python ints, then the buffered 32-bit half.
            "np_random": [
                int(generator["state"]["state"]),
                int(generator["state"]["inc"]),
                int(generator["has_uint32"]),
                int(generator["uinteger"]),
            ],
            "bullet": bullet,
        }
        for owner, prefix, table in ((self._ant, "ant.", _ANT_STATE), (self._ant.robot, "robot.", _ROBOT_STATE)):
            for name, kind in table.items():
                state[prefix + name] = _save(getattr(owner, name, None), kind)  # None: not set yet
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``'s output; resets this env once first if it never was."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"state version must be {STATE_VERSION}, got {state.get('version')!r}")
        ours = self._config()
        saved = {name: state.get(f"config.{name}") for name in ours}
        if saved != ours:
            raise ValueError(f"state was saved by an env made with {saved}, this env has {ours}")
        if not self._connected:
            self.reset()
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "state.bullet")
            with open(path, "wb") as file:
                file.write(state["bullet"].numpy().tobytes())
            self._ant._p.restoreState(fileName=path)
        for owner, prefix, table in ((self._ant, "ant.", _ANT_STATE), (self._ant.robot, "robot.", _ROBOT_STATE)):
            for name, kind in table.items():
                setattr(owner, name, _load(state[prefix + name], kind))
        pcg_state, inc, has_uint32, uinteger = state["np_random"]
        self.np_random.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": pcg_state, "inc": inc},
            "has_uint32": has_uint32,
            "uinteger": uinteger,
        }
        self._ant.np_random = self._ant.robot.np_random = self.np_random
        self._total_steps = int(state["total_steps"])
        self._episode_steps = int(state["episode_steps"])
        self._episode_running = bool(state["episode_running"])
        self._period = int(state["friction_period"])
        self._friction = float(state["friction"])
        self._observation = state["observation"].numpy().copy()
        self._write_friction()


def _save(value: Any, kind: str) -> torch.Tensor | int | float | list | None:
    if value is None:  # the wrapped env sets _alive and rewards at its first step
        return None
    if kind == "array":
        return torch.from_numpy(np.array(value, copy=True))
    if kind == "int":
        return int(value)
    if kind in ("float", "float64"):
        return float(value)
    return [float(v) for v in value]  # floats, floats_tuple, float64_tuple


def _load(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "array":
        return value.numpy().copy()
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "float64":
        return np.float64(value)
    if kind == "floats":
        return [float(v) for v in value]
    if kind == "floats_tuple":
        return tuple(float(v) for v in value)
    return tuple(np.float64(v) for v in value)  # float64_tuple
