"""The training-loop contract, written once: report every k steps, checkpoint as tensors, resume
right after the reported step with identical rows.

A benchmark's loop reads like a paper's method section::

    loop = Loop(report, steps=cfg.steps, every=cfg.report_every, resume=resume,
                state={"model": population, "optimizer": optimizer, "batches": batches})
    if loop.fresh:
        loop.report(measure())                 # iteration 0: before any step
    for step in loop:                          # continues after the restored step
        ...one optimisation step...
        if loop.due:
            loop.report(measure())             # iteration = steps done

``state`` holds everything that changes while training and has ``state_dict`` /
``load_state_dict`` (modules, optimizers, :class:`~syre_tune.data.Batches`, populations). The
checkpoint the runner saves is ``{"iteration", "rng" (torch's global CPU RNG, for dropout), "extra",
name: obj.state_dict()}``: tensors, numbers and lists only, loadable with
``torch.load(weights_only=True)``. θ0 and D are not in it: they are redrawn from the seeds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from syre_tune.benchmarks._common import Report

__all__ = ["Loop"]


class Loop:
    """Steps ``0 .. steps-1`` (from the resumed point on), reporting every ``every`` steps.

    Args:
        report: the runner's report callback.
        steps: optimisation steps in all.
        every: report (and let the runner checkpoint) every this many steps; the last step always
            reports.
        resume: the state of a previous report, or None for a fresh run.
        state: name → object with ``state_dict``/``load_state_dict``, saved and restored.
        extra: plain values (tensors, numbers, lists) a benchmark keeps between steps, saved
            with the state and restored into :attr:`extra` (e.g. per-task results so far).
    """

    def __init__(
        self,
        report: Report,
        *,
        steps: int,
        every: int,
        resume: Mapping[str, Any] | None,
        state: Mapping[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> None:
        if steps < 0 or every < 1:
            raise ValueError(f"steps must be >= 0 and every >= 1, got {steps=}, {every=}")
        self._report, self.steps, self.every, self.state = report, steps, every, dict(state)
        self.extra: dict[str, Any] = dict(extra or {})
        self.fresh = resume is None
        self.iteration = 0  # steps done
        if resume is not None:
            self.iteration = int(resume["iteration"])
            torch.set_rng_state(resume["rng"])
            for name, obj in self.state.items():
                obj.load_state_dict(resume[name])
            self.extra.update(resume.get("extra", {}))

    def __iter__(self) -> Iterator[int]:
        while self.iteration < self.steps:
            step = self.iteration
            self.iteration += 1
            yield step

    @staticmethod
    def reports(steps: int, every: int, initial: bool = True) -> int:
        """How many times a loop of ``steps`` steps reporting every ``every`` reports (rows per
        seed), with the ``initial`` report of iteration 0 a fresh run makes."""
        return int(initial) + -(-steps // every)

    @property
    def due(self) -> bool:
        """Whether the step just taken is a reporting point."""
        return self.iteration % self.every == 0 or self.iteration == self.steps

    def snapshot(self) -> dict[str, Any]:
        """The state to resume right after the current iteration."""
        saved = {name: obj.state_dict() for name, obj in self.state.items()}
        return {"iteration": self.iteration, "rng": torch.get_rng_state(), "extra": dict(self.extra), **saved}

    def report(self, metrics: Mapping[str, Any], iteration: int | None = None) -> None:
        """Report ``metrics`` (one value per seed) at the current iteration (or ``iteration``, for
        benchmarks whose reports index something else, such as tasks); the state is taken only if
        the runner checkpoints."""
        self._report(self.iteration if iteration is None else iteration, metrics, state=self.snapshot)
