"""syre-tune: study symmetry removal ("syre") at scale.

The core needs only PyTorch::

    from syre_tune import Syre
    syre = Syre(sigma0=0.01, gamma=1e-3)
    model = syre.attach(model)
    loss = task_loss + syre.penalty(model)

Heavier parts (Ray, seaborn) load only when their modules are imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.2.0"
__all__ = ["SigmaAsym", "Syre", "WFix", "__version__"]

if TYPE_CHECKING:
    from syre_tune._core import SigmaAsym, Syre, WFix

try:  # registers "syre_tune/SlipperyAnt-v0" with gymnasium; pybullet loads only when the env is made
    from syre_tune import envs as _envs  # noqa: F401
except ImportError:  # no gymnasium installed: no environments
    pass


def __getattr__(name: str) -> object:
    # Deferred so that `import syre_tune.analysis` works without torch installed.
    if name in ("SigmaAsym", "Syre", "WFix"):
        from syre_tune import _core

        return getattr(_core, name)
    raise AttributeError(f"module 'syre_tune' has no attribute {name!r}")
