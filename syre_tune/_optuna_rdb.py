"""An Optuna RDB storage whose URL may hold ``${VAR}`` references (a password kept in the
environment): expanded to connect, but pickled as written, so that Ray Tune's saved searcher
state (which pickles the Optuna study and its storage) never holds the password."""

from __future__ import annotations

from typing import Any

import optuna

from syre_tune import _secrets


class EnvironmentRDBStorage(optuna.storages.RDBStorage):
    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(_secrets.expand(template))

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["url"] = self.template
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__({**state, "url": _secrets.expand(state["template"])})
