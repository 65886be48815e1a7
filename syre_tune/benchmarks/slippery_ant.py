"""Loss of plasticity in continual RL: PPO on Slippery Ant (paper §6.6, Fig. 6; Dohare et al. 2024).

The task (``syre_tune/SlipperyAnt-v0``, :mod:`syre_tune.envs.slippery_ant`): PyBullet's Ant whose floor
friction jumps, at the first episode end after every ``change_every_steps`` steps, to a new value drawn
log-uniformly in [friction_low, friction_high] from a schedule fixed by the seed (the same schedule for
every method of a seed). The agent is never reset, so it must keep learning: plain PPO loses plasticity
(the effective rank of its policy's features and its return fall), PPO with weight decay less so, PPO
with syre keeps both (Fig. 6).

PPO is written out here in the CleanRL manner (``ppo_continuous_action.py``) with Dohare et al.'s
settings as defaults: rollouts of 2048 steps, 10 epochs × 16 minibatches, Adam lr 1e-4, discount 0.99,
GAE λ 0.95, clip 0.2, normalised advantages, value loss ½(V − R)² with coefficient 1, no entropy bonus,
no observation or reward normalisation (a running normaliser is itself non-stationary); separate
policy and value MLPs [256, 256] ReLU with LeCun-uniform weights and zero biases, and a
state-independent learned log-std (initialised at 0). The discount is ``discount``, not ``gamma``:
``gamma`` is the method's decay γ everywhere in this project. An episode cut at 1,000 steps is not a
failure: its last reward is bootstrapped with discount · V(final observation).

Methods, on the policy and value networks (``params``: both, policy or value; the log-std is never
touched): vanilla; weight_decay (γ‖θ‖², the paper's 0.002); syre (γ‖θ‖²_D around θ0, σ0 swept, γ =
0.002); l2_init (γ‖θ − θ_init‖², Kumar et al. 2023); shrink_perturb (θ ← (1 − shrink)θ + perturb·ε
after every Adam step); redo (every ``redo_every`` Adam steps, the τ-dormant units of both hidden
layers, scored on the current minibatch, are recycled; Sokar et al. 2023).

Reported at the end of the first update after every ``report_every_steps`` environment steps, with
``iteration`` = environment steps done (summed over the trial's environments):

- ``episodic_return``: mean return of the episodes that ended since the last report (NaN if none);
- ``episodes``: how many ended;
- ``friction``: the friction in force in environment 0 at the report (its period: ``friction_period``);
- ``effective_rank``, ``approximate_rank`` (99 % of the squared singular values, Dohare et al.'s
  "stable rank"), ``dead_units`` (units active on at most 1 % of the states), ``dormant`` (share of
  units with ReDo score <= ``dormant_tau``): of the policy's last hidden layer (after its ReLU) on the
  states of the last rollout;
- ``weight_magnitude``: mean |θ| over the policy and value networks.

Several seeds in a trial run side by side, each with its own environments, networks and optimizer;
one seed per trial is the usual cluster layout. Resume restores everything: networks, optimizer, the
method's generators, the action and minibatch generators, each environment's simulator and friction
schedule position (:meth:`SlipperyAnt.state_dict`), the observations in hand and the running
episode statistics; a killed run resumes with the same rows (tests/test_bench_slippery_ant.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from syre_tune import metrics
from syre_tune._random import generator
from syre_tune.benchmarks._common import Common, ConfigError, Report, at_least
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._methods import Parts, prepare
from syre_tune.envs import SLIPPERY_ANT

NAME = "slippery_ant"
METRICS = (
    "episodic_return",
    "episodes",
    "friction",
    "friction_period",
    "effective_rank",
    "approximate_rank",
    "dead_units",
    "dormant",
    "weight_magnitude",
)
LOSS = "weight_magnitude"  # NaN only when the networks diverged (a report with no finished episode has a NaN return)
METHODS = ("vanilla", "weight_decay", "syre", "l2_init", "shrink_perturb", "redo")

NETWORKS = {"both": ["policy.*", "value.*"], "policy": ["policy.*"], "value": ["value.*"]}


@dataclass(frozen=True)
class Config(Common):
    # --- method defaults of the paper (§6.6: "a weight decay of 0.002 for both PPO with weight decay and with syre")
    gamma: float = 0.002
    """Weight decay γ of the penalty γ‖θ‖²_D (syre, weight_decay; l2_init's λ); the paper: 0.002."""
    sigma0: float = 1.0
    """Scale of the static bias θ0 (syre), in units of 1/√fan_in."""
    params: Literal["both", "policy", "value"] = "both"
    """The networks the method acts on: both, the policy or the value network (never the log-std)."""

    # --- environment
    env: str = SLIPPERY_ANT
    """Gymnasium id; the friction keys apply to Slippery Ant only (another env reports friction NaN)."""
    total_steps: int = 20_000_000
    """Environment steps in all (summed over the environments)."""
    change_every_steps: int = 2_000_000
    """The friction changes at the first episode end after every this many steps (Dohare et al.: 2M; the paper: 5M)."""
    friction_low: float = 0.02
    """Lower end of the log-uniform friction range."""
    friction_high: float = 2.0
    """Upper end of the log-uniform friction range."""
    max_episode_steps: int = 1000
    """Slippery Ant's episodes are cut after this many steps (the Ant's usual 1,000)."""
    num_envs: int = 1
    """Environments stepped together (gymnasium's SyncVectorEnv); each counts change_every_steps / num_envs."""

    # --- PPO (Dohare et al.'s settings)
    rollout_steps: int = 2048
    """Steps collected per update, summed over the environments."""
    epochs: int = 10
    """Passes over each rollout."""
    minibatches: int = 16
    """Minibatches per pass (2048 / 16 = 128 states each)."""
    lr: float = 1e-4
    """Adam learning rate."""
    discount: float = 0.99
    """Discount factor of the return (not the method's γ)."""
    gae_lambda: float = 0.95
    """λ of generalised advantage estimation."""
    clip: float = 0.2
    """Clipping range of the probability ratio."""
    value_coef: float = 1.0
    """Weight of the value loss ½(V − R)²."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of the policy and of the value MLP."""

    # --- measurement
    report_every_steps: int = 10_000
    """Report after the first update that completes every this many environment steps."""
    dormant_tau: float = 0.1
    """A unit counts as dormant when its score E|h_i| / mean_j E|h_j| is <= this (the dormant metric)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(
            self, 1, "total_steps", "change_every_steps", "max_episode_steps", "num_envs", "rollout_steps", "epochs",
            "minibatches", "report_every_steps",
        )  # fmt: skip
        if not 0 < self.friction_low < self.friction_high:
            raise ConfigError(
                "friction_low", (self.friction_low, self.friction_high), "0 < friction_low < friction_high"
            )
        if self.rollout_steps % self.num_envs:
            raise ConfigError("rollout_steps", self.rollout_steps, f"a multiple of num_envs ({self.num_envs})")
        if self.rollout_steps % self.minibatches:
            raise ConfigError("minibatches", self.minibatches, f"a divisor of rollout_steps ({self.rollout_steps})")
        if self.lr <= 0:
            raise ConfigError("lr", self.lr, "a number > 0")
        for key in ("discount", "gae_lambda"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(key, getattr(self, key), "a number in [0, 1]")
        if self.clip <= 0:
            raise ConfigError("clip", self.clip, "a number > 0")
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError("hidden", self.hidden, "a non-empty list of widths >= 1")

    @property
    def updates(self) -> int:
        return math.ceil(self.total_steps / self.rollout_steps)


def check(cfg: Config) -> None:
    """Before any trial: the environment exists (pybullet and its Ant installed, the id registered)."""
    import importlib.util

    needed = ("gymnasium", "pybullet", "pybullet_envs_gymnasium") if cfg.env == SLIPPERY_ANT else ("gymnasium",)
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError("env", cfg.env, f"{', '.join(missing)} installed: pip install 'syre-tune[rl]' (an extra)")
    import gymnasium

    try:
        gymnasium.spec(cfg.env)
    except gymnasium.error.Error as error:
        raise ConfigError("env", cfg.env, f"a registered gymnasium id ({error})") from error


# ----------------------------------------------------------------------------------------- the agent
def lecun_uniform_(layer: nn.Linear) -> None:
    """LeCun-uniform weights U(−√(3/fan_in), √(3/fan_in)) and zero biases (Dohare et al.'s init)."""
    bound = math.sqrt(3.0 / layer.in_features)
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.zeros_(layer.bias)


def mlp(parts: Parts, prefix: str, sizes: list[int]) -> nn.Sequential:
    """Linear → ReLU → ... → Linear; the ReLUs come from ``parts`` named after the layer they gate
    (``f"{prefix}.{index}"``), which is what ReDo and the rank measurement find them by."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layer = nn.Linear(fan_in, fan_out)
        lecun_uniform_(layer)
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(parts.activation("relu", fan_out, f"{prefix}.{len(layers) - 1}"))
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate policy and value MLPs and a state-independent log-std. ``forward(obs)`` returns the
    action mean (B, actions) and the value (B,)."""

    def __init__(self, parts: Parts, observations: int, actions: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.policy = mlp(parts, "policy", [observations, *hidden, actions])
        self.value = mlp(parts, "value", [observations, *hidden, 1])
        self.log_std = nn.Parameter(torch.zeros(actions))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.policy(obs), self.value(obs).squeeze(-1)

    def distribution(self, obs: torch.Tensor) -> tuple[torch.distributions.Normal, torch.Tensor]:
        mean, value = self(obs)
        return torch.distributions.Normal(mean, self.log_std.exp().expand_as(mean)), value

    @property
    def features(self) -> str:
        """The policy's last hidden nonlinearity (its output is what the ranks are measured on)."""
        return f"policy.{len(self.policy) - 2}"


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    ends: torch.Tensor,
    next_value: torch.Tensor,
    *,
    discount: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over a rollout (Schulman et al. 2016).

    ``rewards``, ``values``, ``ends`` (1.0 where the episode ended at that step): (T, N);
    ``next_value``: (N,), the value of the observation after the last step. With V(s_T) = next_value,
    δ_t = r_t + discount·V(s_{t+1})·(1 − end_t) − V(s_t) and A_t = δ_t + discount·λ·(1 − end_t)·A_{t+1}.
    Returns (advantages, returns = advantages + values)."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(next_value)
    following = next_value
    for t in reversed(range(rewards.shape[0])):
        alive = 1.0 - ends[t]
        delta = rewards[t] + discount * following * alive - values[t]
        running = delta + discount * lam * alive * running
        advantages[t] = running
        following = values[t]
    return advantages, advantages + values


def clipped_surrogate(
    log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip: float
) -> torch.Tensor:
    """PPO's policy loss: mean of max(−A·ρ, −A·clip(ρ, 1 − clip, 1 + clip)), ρ = π/π_old."""
    ratio = (log_prob - old_log_prob).exp()
    return torch.max(-advantages * ratio, -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)).mean()


class Agent:
    """One seed: its environments, networks (with the method applied), optimizer and generators."""

    def __init__(self, cfg: Config, seed: int) -> None:
        import gymnasium
        from gymnasium.vector import AutoresetMode, SyncVectorEnv

        self.cfg, self.seed = cfg, seed

        def make() -> gymnasium.Env:
            if cfg.env != SLIPPERY_ANT:
                return gymnasium.make(cfg.env, disable_env_checker=True)
            from syre_tune.envs import SlipperyAnt  # made directly: gymnasium.make takes max_episode_steps itself

            return SlipperyAnt(  # every env of a seed follows the seed's schedule, counting its own steps
                change_every_steps=max(1, cfg.change_every_steps // cfg.num_envs),
                friction_low=cfg.friction_low,
                friction_high=cfg.friction_high,
                schedule_seed=seed,
                max_episode_steps=cfg.max_episode_steps,
            )

        self.envs = SyncVectorEnv([make] * cfg.num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
        reset_seeds = [int(generator(seed, f"env{i}", "reset").initial_seed() % 2**31) for i in range(cfg.num_envs)]
        obs, info = self.envs.reset(seed=reset_seeds)
        self.obs = torch.as_tensor(obs, dtype=torch.float32, device=cfg.device)  # (N, observations)
        self.friction = self._friction(info)
        observations = int(np.prod(self.envs.single_observation_space.shape))
        actions = int(np.prod(self.envs.single_action_space.shape))

        def build(parts: Parts) -> nn.Module:
            return ActorCritic(parts, observations, actions, cfg.hidden)

        self.prepared = prepare(cfg, build, seed=seed, params=NETWORKS[cfg.params])
        self.model: ActorCritic = self.prepared.model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, **self.prepared.optimizer_kwargs)
        self.actions_gen = generator(seed, "ppo", "actions")  # CPU: the same draws on every device
        self.minibatch_gen = generator(seed, "ppo", "minibatches")
        self.running_return = torch.zeros(cfg.num_envs, dtype=torch.float64)
        self.finished: list[float] = []  # returns of the episodes ended since the last report
        self.states = self.obs  # the last rollout's observations (the rank measurement's states)

    @staticmethod
    def _friction(info: dict[str, Any]) -> tuple[float, float]:
        if "friction" not in info:
            return math.nan, math.nan
        return float(info["friction"][0]), float(info["friction_period"][0])

    def _act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            dist, value = self.model.distribution(obs)
            noise = torch.randn(dist.mean.shape, generator=self.actions_gen).to(obs.device)
            action = dist.mean + dist.stddev * noise
            return action, dist.log_prob(action).sum(-1), value

    def collect(self) -> dict[str, torch.Tensor]:
        """One rollout of rollout_steps / num_envs steps of every environment."""
        cfg, n = self.cfg, self.cfg.num_envs
        steps = cfg.rollout_steps // n
        buffer = {
            "obs": torch.zeros(steps, n, self.obs.shape[-1], device=cfg.device),
            "actions": torch.zeros(steps, n, *self.envs.single_action_space.shape, device=cfg.device),
            "log_probs": torch.zeros(steps, n, device=cfg.device),
            "values": torch.zeros(steps, n, device=cfg.device),
            "rewards": torch.zeros(steps, n, device=cfg.device),
            "ends": torch.zeros(steps, n, device=cfg.device),
        }
        low, high = self.envs.single_action_space.low, self.envs.single_action_space.high
        for t in range(steps):
            action, log_prob, value = self._act(self.obs)
            obs, reward, terminated, truncated, info = self.envs.step(np.clip(action.cpu().numpy(), low, high))
            reward_t = torch.as_tensor(reward, dtype=torch.float32, device=cfg.device)
            cut = torch.as_tensor(truncated & ~terminated, device=cfg.device)
            if cut.any():  # a time limit is not a failure: bootstrap from the final observation
                final = torch.as_tensor(np.stack(info["final_obs"][truncated & ~terminated]), dtype=torch.float32)
                with torch.no_grad():
                    reward_t[cut] += cfg.discount * self.model(final.to(cfg.device))[1]
            buffer["obs"][t], buffer["actions"][t], buffer["log_probs"][t] = self.obs, action, log_prob
            buffer["values"][t], buffer["rewards"][t] = value, reward_t
            buffer["ends"][t] = torch.as_tensor(terminated | truncated, dtype=torch.float32, device=cfg.device)
            self.running_return += torch.as_tensor(reward, dtype=torch.float64)
            for i in np.flatnonzero(terminated | truncated):
                self.finished.append(float(self.running_return[i]))
                self.running_return[i] = 0.0
            self.obs = torch.as_tensor(obs, dtype=torch.float32, device=cfg.device)
            self.friction = self._friction(info)
        return buffer

    def update(self, buffer: dict[str, torch.Tensor]) -> None:
        """PPO's epochs of minibatch steps on one rollout."""
        cfg = self.cfg
        with torch.no_grad():
            next_value = self.model(self.obs)[1]
        advantages, returns = gae(
            buffer["rewards"], buffer["values"], buffer["ends"], next_value, discount=cfg.discount, lam=cfg.gae_lambda
        )
        flat = {key: value.flatten(0, 1) for key, value in buffer.items()}  # (T·N, ...)
        flat["advantages"], flat["returns"] = advantages.flatten(), returns.flatten()
        self.states = flat["obs"]
        size = cfg.rollout_steps // cfg.minibatches
        for _ in range(cfg.epochs):
            order = torch.randperm(cfg.rollout_steps, generator=self.minibatch_gen).to(cfg.device)
            for rows in order.split(size):
                obs = flat["obs"][rows]
                dist, value = self.model.distribution(obs)
                advantage = flat["advantages"][rows]
                advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
                log_prob = dist.log_prob(flat["actions"][rows]).sum(-1)
                policy_loss = clipped_surrogate(log_prob, flat["log_probs"][rows], advantage, cfg.clip)
                value_loss = 0.5 * (value - flat["returns"][rows]).square().mean()
                self.prepared.step_(self.optimizer, policy_loss + cfg.value_coef * value_loss, probe=obs)

    @torch.no_grad()
    def measure(self) -> dict[str, float]:
        cfg = self.cfg
        with metrics.capture(self.model, [self.model.features]) as seen:
            self.model.policy(self.states)
        features = seen[self.model.features]  # (states, units)
        networks = [p for name, p in self.model.named_parameters() if not name.startswith("log_std")]
        magnitude = torch.cat([p.detach().abs().flatten() for p in networks]).mean()
        finished, self.finished = self.finished, []
        friction, period = self.friction
        return {
            "episodic_return": float(np.mean(finished)) if finished else math.nan,
            "episodes": float(len(finished)),
            "friction": friction,
            "friction_period": period,
            "effective_rank": float(metrics.effective_rank(features)),
            "approximate_rank": float(metrics.approximate_rank(features, 0.99)),
            "dead_units": float(metrics.dead_units(features, 0.01)),
            "dormant": float((metrics.dormant_scores(features) <= cfg.dormant_tau).float().mean()),
            "weight_magnitude": float(magnitude),
        }

    # --- checkpoint: tensors, numbers and lists only
    def state_dict(self) -> dict[str, Any]:
        envs = [env.unwrapped.state_dict() for env in self.envs.envs] if self._resumable_envs else []
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "method": self.prepared.state_dict(),
            "actions_gen": self.actions_gen.get_state(),
            "minibatch_gen": self.minibatch_gen.get_state(),
            "envs": envs,
            "obs": self.obs.cpu(),
            "running_return": self.running_return,
            "finished": list(self.finished),
            "friction": list(self.friction),
        }

    @property
    def _resumable_envs(self) -> bool:
        return all(hasattr(env.unwrapped, "state_dict") for env in self.envs.envs)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.prepared.load_state_dict(state["method"])
        self.actions_gen.set_state(state["actions_gen"])
        self.minibatch_gen.set_state(state["minibatch_gen"])
        if state["envs"]:
            for env, saved in zip(self.envs.envs, state["envs"], strict=True):
                env.unwrapped.load_state_dict(saved)
            self.obs = state["obs"].to(self.cfg.device)
            self.running_return = state["running_return"].clone()
        # else: an env without state_dict (not Slippery Ant) starts new episodes from its seeded reset: not exact
        self.finished = [float(r) for r in state["finished"]]
        self.friction = tuple(float(f) for f in state["friction"])

    def close(self) -> None:
        self.envs.close()


# ----------------------------------------------------------------------------------------- the run
ENV_MEMORY = 36 * 2**20
"""Resident memory one PyBullet Ant environment adds to a process (its physics world and meshes;
measured with ``bench/trial_memory.py``: about 33 MiB per seed)."""


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs: per seed its environments (``ENV_MEMORY`` each), then its policy and
    value networks with gradients and Adam moments, and a rollout (tiny beside the environments)."""
    widths = (64, *cfg.hidden)  # the Ant's 28 observations, rounded up
    network = sum(a * b + b for a, b in zip(widths, widths[1:])) + 16 * cfg.hidden[-1]
    rollout = cfg.rollout_steps * 2 * widths[0]
    return len(cfg.seeds) * (cfg.num_envs * ENV_MEMORY + 4 * (2 * network * 6 + rollout))


def reports(cfg: Config) -> int:
    """Rows per seed: after each update that completes a multiple of ``report_every_steps``
    environment steps, and after the last."""
    return sum(_reports_after(cfg, update) for update in range(cfg.updates))


def _reports_after(cfg: Config, update: int) -> bool:
    done, before = (update + 1) * cfg.rollout_steps, update * cfg.rollout_steps
    return done // cfg.report_every_steps > before // cfg.report_every_steps or update + 1 == cfg.updates


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    agents = [Agent(cfg, seed) for seed in cfg.seeds]
    loop = Loop(report, steps=cfg.updates, every=1, resume=resume, state={f"agent{k}": a for k, a in enumerate(agents)})
    try:
        for update in loop:
            for agent in agents:
                agent.update(agent.collect())
            if _reports_after(cfg, update):
                rows = [agent.measure() for agent in agents]
                loop.report(
                    {key: torch.tensor([row[key] for row in rows]) for key in METRICS},
                    iteration=(update + 1) * cfg.rollout_steps,
                )
    finally:
        for agent in agents:
            agent.close()
