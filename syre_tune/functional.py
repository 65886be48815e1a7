"""The method as pure functions on tensors: the one copy of syre's maths (paper Eq. 6-7).

    l_ar(θ) = l(θ + θ0) + γ Σ D θ²,   θ0 ~ N(0, σ0²) fixed,   D = 1 + U(−√3σ_D, √3σ_D)

Everything takes explicit seeds and names and returns plain tensors, so the module API
(:class:`syre_tune.Syre`), the vectorised populations and the hand-written synthetic benchmarks
all call the same code:

- :func:`theta0` / :func:`diag` draw θ0 and D for named shapes, deterministic in (seed, name) through
  the counter-based generator of :mod:`syre_tune.kernels` (what the fused seeded step regenerates):
  ``seed=3`` gives one tensor of each shape; ``seed=(3, 4, 5)`` gives a population, each tensor
  stacked as (K, *shape) with row k drawn from seed k alone (so a member's draw never depends on
  the batch it runs in); ``sigma0`` may then be one value or one per member.
- :func:`penalty` is γ Σ D θ² over named offsets θ (per member for a population).
- :func:`decay_` is the decoupled step toward θ0 (AdamW style): φ ← φ − rate·D·(φ − θ0), with
  rate = lr·2γ, one value or one per member.

θ0 may also be given explicitly (L2 Init uses θ0 := the initial weights): every function takes
the θ0 tensors, wherever they came from. Pure PyTorch: no Ray, no files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from syre_tune._random import fan_ins, normal_std
from syre_tune.kernels import fill_diag_, fill_theta0_, stream_key

__all__ = ["decay_", "diag", "member_values", "offsets", "penalty", "theta0"]

Shapes = Mapping[str, Sequence[int]]
Seeds = int | Sequence[int]
PerMember = float | Sequence[float] | torch.Tensor


def _is_population(seed: Seeds) -> bool:
    return not isinstance(seed, int)


def member_values(values: PerMember, count: int, *, device=None, dtype=None) -> torch.Tensor:
    """``values`` as a (count,) tensor: one number broadcast, or one per member."""
    tensor = torch.as_tensor(values, dtype=dtype or torch.get_default_dtype(), device=device)
    if tensor.dim() == 0:
        return tensor.expand(count).clone()
    if tensor.shape != (count,):
        raise ValueError(f"expected one value or {count} (one per member), got shape {tuple(tensor.shape)}")
    return tensor


def _key_words(seeds: Sequence[int], name: str, what: str) -> list[int]:
    return [stream_key(int(k), name, what) for k in seeds]


def _stacked(shape: Sequence[int], count: int, device) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """An uninitialised float32 (count, *shape) stack and its rows (contiguous views, one per member)."""
    stack = torch.empty((count, *shape), dtype=torch.float32, device=device)
    return stack, list(stack.unbind(0))


def theta0(
    shapes: Shapes,
    sigma0: PerMember,
    *,
    seed: Seeds,
    relative: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """θ0 for each named shape: N(0, s²) with s = σ0/√fan_in when ``relative`` (the paper's units,
    §5.4), else σ0. A bias's fan-in is its layer's, found by name among ``shapes``
    (:func:`syre_tune._random.fan_ins`: ``fc.bias`` beside ``fc.weight``). One seed → tensors of the
    shapes; a sequence of K seeds → (K, *shape) stacks, ``sigma0`` one value or K.

    Element i of a tensor is s·randn(key, i), key = ``stream_key(seed, name, "theta0")``: Triton's
    counter-based Philox generator (:mod:`syre_tune.kernels`): randn drawn in float32 on ``device`` (one
    Triton launch per shape on CUDA, the bit-identical integer stream in plain PyTorch/numpy on a CPU),
    then scaled by s in ``dtype``. It is the θ0 the fused seeded step regenerates, so a stored θ0 and a
    regenerated one agree on one device."""
    out = {}
    single = not _is_population(seed)
    seeds = (seed,) if single else tuple(int(s) for s in seed)
    sigma = [float(sigma0)] if single else member_values(sigma0, len(seeds), dtype=torch.float64).tolist()
    dtype = dtype or torch.get_default_dtype()
    fans = fan_ins(shapes)
    for name, shape in shapes.items():
        stack, rows = _stacked(tuple(shape), len(seeds), device)
        fill_theta0_(rows, _key_words(seeds, name, "theta0"), [1.0] * len(seeds))  # z ~ N(0, 1), float32
        # Scaled in the target dtype: in float32 this is the fused step's own product randn·std.
        stds = [normal_std(s, tuple(shape), relative, fans[name]) for s in sigma]
        stds = torch.tensor(stds, dtype=dtype, device=device)
        scaled = stack.to(dtype) * stds.reshape(-1, *([1] * len(shape)))
        out[name] = scaled[0] if single else scaled
    return out


def diag(
    shapes: Shapes,
    sigma_d: float,
    *,
    seed: Seeds,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor] | None:
    """D = 1 + U(−√3σ_D, √3σ_D) for each named shape (Eq. 7), or None when σ_D = 0 (D = I).
    Element i is 1 + √3σ_D(2·rand(key, i) − 1), key = ``stream_key(seed, name, "diag")``, drawn as
    :func:`theta0` draws."""
    if sigma_d == 0:
        return None
    single = not _is_population(seed)
    seeds = (seed,) if single else tuple(int(s) for s in seed)
    out = {}
    for name, shape in shapes.items():
        stack, rows = _stacked(tuple(shape), len(seeds), device)
        fill_diag_(rows, _key_words(seeds, name, "diag"), float(sigma_d))
        out[name] = (stack[0] if single else stack).to(dtype or torch.get_default_dtype())
    return out


def offsets(params: Mapping[str, torch.Tensor], theta0_: Mapping[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    """θ = φ − θ0 for each named parameter (φ itself where θ0 is None or missing)."""
    if theta0_ is None:
        return dict(params)
    return {name: (p - theta0_[name]) if name in theta0_ else p for name, p in params.items()}


def _per_member(values: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor | float:
    """A (K,) tensor reshaped to broadcast against a (K, ...) stack; numbers pass through."""
    if isinstance(values, torch.Tensor) and values.dim() == 1:
        return values.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))
    return values


def penalty(
    theta: Mapping[str, torch.Tensor],
    gamma: float | torch.Tensor,
    diag_: Mapping[str, torch.Tensor] | None = None,
    *,
    population: bool = False,
) -> torch.Tensor:
    """γ Σ_p Σ_i D_p,i θ_p,i² over the named offsets θ (Eq. 7). With ``population`` every θ is a
    (K, ...) stack, γ one value or (K,), and the result is (K,): one penalty per member."""
    total = None
    for name, value in theta.items():
        squared = value * value
        if diag_ is not None:
            squared = diag_[name] * squared
        term = squared.flatten(1).sum(1) if population else squared.sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("penalty: no parameters given")
    if population and isinstance(gamma, torch.Tensor):
        return gamma.to(total.dtype) * total
    return gamma * total


@torch.no_grad()
def decay_(
    params: Sequence[torch.Tensor],
    theta0_: Sequence[torch.Tensor] | None,
    rate: float | torch.Tensor,
    diag_: Sequence[torch.Tensor] | None = None,
) -> None:
    """The decoupled decay step in place: φ ← φ − rate·D·(φ − θ0), i.e. φ moves toward θ0
    (toward 0 when ``theta0_`` is None). ``rate`` = lr·2γ; a (K,) tensor gives each member of
    (K, ...) stacks its own rate. With D = I and θ0 stored this is one fused lerp pass."""
    params = list(params)
    if isinstance(rate, (int, float)) and rate == 0:
        return
    same_dtypes = theta0_ is None or all(p.dtype == t.dtype for p, t in zip(params, theta0_))
    if diag_ is None and isinstance(rate, (int, float)) and same_dtypes:
        if theta0_ is None:
            torch._foreach_mul_(params, 1.0 - rate)
        else:
            torch._foreach_lerp_(params, list(theta0_), rate)
        return
    for index, param in enumerate(params):
        # A bfloat16/float16 φ is decayed in float32 toward its float32 θ0, rounded once at the copy.
        phi = param if param.dtype in (torch.float32, torch.float64) else param.float()
        theta = phi if theta0_ is None else phi - theta0_[index]
        step = _per_member(rate, phi) * theta
        if diag_ is not None:
            step = diag_[index] * step
        if phi is param:
            param.sub_(step)
        else:
            param.copy_(phi - step)
