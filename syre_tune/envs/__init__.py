"""Gymnasium environments, registered on import; pybullet loads only when one is made.

    import gymnasium
    import syre_tune.envs  # registers "syre_tune/SlipperyAnt-v0"

    env = gymnasium.make("syre_tune/SlipperyAnt-v0", change_every_steps=2_000_000, schedule_seed=0)
    env = SlipperyAnt(change_every_steps=2_000_000, schedule_seed=0)    # the same, without gymnasium's wrappers

``SlipperyAnt`` and ``friction_schedule`` (syre_tune/envs/slippery_ant.py) are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["SLIPPERY_ANT", "SlipperyAnt", "friction_schedule"]

SLIPPERY_ANT = "syre_tune/SlipperyAnt-v0"

if TYPE_CHECKING:
    from syre_tune.envs.slippery_ant import SlipperyAnt, friction_schedule

# An entry-point string, so that registering imports nothing heavy. No max_episode_steps here: the env truncates
# itself (its counter is checkpointed), so gymnasium.make adds no TimeLimit wrapper. Registering only when absent
# keeps a second import or a reload silent (gymnasium warns when an id is registered again).
try:  # gymnasium and PyBullet are the [rl] extra: without them there is nothing to register
    from gymnasium.envs.registration import register, registry
except ImportError:
    pass
else:
    if SLIPPERY_ANT not in registry:
        register(id=SLIPPERY_ANT, entry_point="syre_tune.envs.slippery_ant:SlipperyAnt")


def __getattr__(name: str) -> object:
    if name in ("SlipperyAnt", "friction_schedule"):
        from syre_tune.envs import slippery_ant

        return getattr(slippery_ant, name)
    raise AttributeError(f"module 'syre_tune.envs' has no attribute {name!r}")
