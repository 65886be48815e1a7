"""What a trial of a network benchmark holds at its peak, from its model's shapes alone (the
benchmarks' ``trial_memory(cfg)``, for ``--dry-run`` and the runner's refusal of a trial no node
can hold).

The model is built on torch's meta device (no memory, no compute): its parameters are counted and
one example's forward pass sums the outputs of its leaf modules, an upper bound on what autograd
keeps of it. A trial then holds, in float32:

- per member and parameter: the weight, its gradient, the optimizer's states and at most two
  tensors of the method (syre: θ0 and D; l2_init: the initial weights; w_fix: the mask);
- the activations of a training batch and their gradients, for every member at once in a
  vectorised population, one member at a time otherwise; or, when larger, one evaluation chunk's
  forward pass without gradients (a few of its widest layer outputs at a time);
- the data set twice (the tensors read, and the standardised or scaled copies a benchmark makes).

It is an estimate, checked against the peak resident memory of real runs (tests/test_sizing.py);
the process's own baseline (torch and the libraries, a few hundred MiB) is not in it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree

from syre_tune.benchmarks._methods import Parts

__all__ = ["Shapes", "data_numbers", "evaluated_at_once", "per_seed", "shapes", "trial_bytes"]

FLOAT = 4
METHOD_STATES = 2
"""Per-parameter tensors a method adds, at most (syre's θ0 and D)."""
EVALUATION_LIVE = 3
"""Layer outputs alive at once in a forward pass without gradients (a layer's input, its output
and one intermediate), in units of the widest."""


@dataclass(frozen=True)
class Shapes:
    parameters: int
    """Numbers in one member's parameters."""
    activations: int
    """Numbers one example's forward pass produces, summed over the model's leaf modules (a tensor
    a module passes through unchanged, such as an identity, counted once)."""
    widest: int
    """Numbers in the largest output of one leaf module, per example."""


def shapes(
    build: Callable[[Parts], nn.Module],
    example: tuple[int, ...],
    forward: Callable[[nn.Module, torch.Tensor], object] = nn.Module.__call__,
) -> Shapes:
    """The parameter and activation counts of ``build``'s model on one input of shape ``example``
    (``forward(model, x)``: the pass a training step makes, by default ``model(x)``)."""
    with torch.device("meta"):
        model = build(Parts("vanilla", seed=0))
    seen: dict[int, torch.Tensor] = {}  # by id, holding each tensor so that no id is reused

    def count(module: nn.Module, args: object, output: object) -> None:
        for tensor in _pytree.tree_leaves(output):
            if isinstance(tensor, torch.Tensor):
                seen.setdefault(id(tensor), tensor)

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            forward(model, torch.zeros((1, *example), device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    sizes = [t.numel() for t in seen.values()] or [0]
    return Shapes(sum(p.numel() for p in model.parameters()), sum(sizes), max(sizes))


def trial_bytes(
    found: Shapes,
    *,
    members: int,
    optimizer_states: int,
    batch: int,
    together: bool,
    evaluated: int = 0,
    data: int = 0,
) -> int:
    """Bytes a trial of ``members`` models of ``found`` shapes holds at its peak.

    optimizer_states: tensors the optimizer keeps per parameter (SGD 0, with momentum 1; Adam 2).
    batch: training examples per member and step; together: the members train at once (a
    vectorised population) rather than one after another; evaluated: examples one evaluation
    pass runs at once (per member, without gradients: a few layers' outputs alive at a time);
    data: numbers in the data set.
    """
    weights = members * found.parameters * (2 + optimizer_states + METHOD_STATES)
    live = members if together else 1
    training = live * batch * found.activations * 2  # the forward's outputs kept, and their gradients
    evaluation = live * evaluated * min(found.activations, EVALUATION_LIVE * found.widest)
    return FLOAT * (weights + max(training, evaluation) + 2 * data)


def per_seed(found: Shapes, cfg: Any, sizes: Any, *, optimizer_states: int, together: bool, evaluated: int) -> int:
    """:func:`trial_bytes` of a data-set benchmark: one model per seed of ``cfg`` (``cfg.seeds``),
    ``cfg.batch_size`` examples per step, the data set of ``sizes`` (:class:`syre_tune.data.Sizes`)."""
    return trial_bytes(
        found,
        members=len(cfg.seeds),
        optimizer_states=optimizer_states,
        batch=cfg.batch_size,
        together=together,
        evaluated=evaluated,
        data=data_numbers(sizes.train, sizes.test, sizes.shape),
    )


def evaluated_at_once(sizes: Any, eval_size: int | None, rank_samples: int, chunk: int) -> int:
    """Examples one evaluation pass holds: a ``chunk`` of the train (its first ``eval_size``) or test
    split, or the ``rank_samples`` a rank is measured on, whichever is larger."""
    return max(min(chunk, max(sizes.test, eval_size or sizes.train)), rank_samples)


def data_numbers(train: int, test: int, example: tuple[int, ...]) -> int:
    """Numbers in a data set of ``train`` + ``test`` examples of shape ``example``."""
    return (train + test) * math.prod(example)
