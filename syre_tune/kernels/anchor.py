"""The fused, seeded anchor step: φ ← φ − rate·D·(φ − θ0) with θ0 (and D) regenerated, never stored.

syre's anchor form trains φ = θ + θ0 and decays it toward θ0 (the decoupled step of γ‖φ − θ0‖²_D,
rate = lr·2γ; paper Eq. 6-7). Here θ0 and D are functions of (key, element index) drawn from Triton's
counter-based generator (:mod:`syre_tune.kernels._philox`):

    θ0[i] = std · randn(key_theta0, i)          D[i] = 1 + √3·σ_D·(2·rand(key_diag, i) − 1)

with i the element's index in the tensor's row-major (logical) order, so a draw does not depend on the
memory layout, on the other tensors or on how the work is split into blocks.

Two implementations of one computation, all in float32 (θ0, D and the arithmetic; one rounding when
φ is stored in its own dtype):

- Triton (CUDA; or a CPU under ``TRITON_INTERPRET=1`` for tests): ONE launch per (device, dtype) over
  all tensors. A per-block table maps each block of ``block`` elements to its tensor (address, length,
  keys, std) and its first element; the table is built once per distinct call and cached on the
  device, so a training step costs one launch.
- plain PyTorch (CPU, and wherever Triton is absent): the same draws and the same float32 operation
  order, computed chunk by chunk so that temporaries stay small.

:func:`fill_theta0_` and :func:`fill_diag_` write θ0 or D themselves (``store="buffer"``, ``theta0()``)
with the same generator and the same backend choice, so a stored θ0 equals the one the step regenerates
on the same device.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from syre_tune.kernels import _philox

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only torch wheels ship without Triton: the PyTorch path serves
    triton = None

__all__ = ["BACKENDS", "SeededDecay", "anchor_decay_", "fill_diag_", "fill_theta0_", "triton_available"]

BACKENDS = ("auto", "triton", "torch")
BLOCK = 1024  # elements per Triton program
CHUNK = 1 << 16  # elements per step of the PyTorch path: 512 kB uint64 temporaries stay in cache (best of 2¹⁴–2¹⁸)
SIGMA_D_MAX = 1.0 / math.sqrt(3.0)  # keeps every D entry > 0

# The Triton kernel's OP: what one launch writes.
_DECAY, _THETA0, _DIAG = 0, 1, 2
_PLAN_CACHE_SIZE = 32


def triton_available() -> bool:
    """True when Triton imports (it ships with torch's CUDA wheels)."""
    return triton is not None


# ----------------------------------------------------------------------------------------- Triton
if triton is not None:
    _TRITON_DTYPES = {torch.float32: tl.float32, torch.bfloat16: tl.bfloat16, torch.float16: tl.float16}

    @triton.jit
    def _rounded(value, DTYPE: tl.constexpr):
        """float32 → DTYPE, rounding to nearest even. bfloat16 is rounded by integer arithmetic on the
        float32 bits because the interpreter's float32 → bfloat16 cast truncates (the GPU's rounds)."""
        if DTYPE == tl.bfloat16:
            bits = value.to(tl.uint32, bitcast=True)
            bits = bits + 0x7FFF + ((bits >> 16) & 1)
            rounded = (bits >> 16).to(tl.uint16).to(tl.bfloat16, bitcast=True)
            return tl.where(value != value, value.to(tl.bfloat16), rounded)  # NaN stays NaN
        else:
            return value.to(DTYPE)

    @triton.jit
    def _anchor_kernel(
        block_tensor_ptr,  # (blocks,) int32: the tensor a block belongs to
        block_start_ptr,  # (blocks,) int64: its first element, a row-major index into that tensor
        address_ptr,  # (tensors,) int64: data_ptr() of each tensor
        numel_ptr,  # (tensors,) int64
        key_ptr,  # (tensors,) int64: 63-bit Philox key of θ0
        diag_key_ptr,  # (tensors,) int64: 63-bit Philox key of D
        std_ptr,  # (tensors,) float32: std of θ0
        rate,  # float32: lr·2γ
        diag_scale,  # float32: √3·σ_D
        OP: tl.constexpr,
        HAS_DIAG: tl.constexpr,
        DTYPE: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        block = tl.program_id(0)
        tensor = tl.load(block_tensor_ptr + block)
        index = tl.load(block_start_ptr + block) + tl.arange(0, BLOCK).to(tl.int64)
        inside = index < tl.load(numel_ptr + tensor)
        data = tl.load(address_ptr + tensor).to(tl.pointer_type(DTYPE))
        if OP == 2:  # D = 1 + √3σ_D(2u − 1)
            uniform = tl.rand(tl.load(diag_key_ptr + tensor), index)
            tl.store(data + index, _rounded((2.0 * uniform - 1.0) * diag_scale + 1.0, DTYPE), mask=inside)
        else:
            theta0 = tl.randn(tl.load(key_ptr + tensor), index) * tl.load(std_ptr + tensor)
            if OP == 1:
                tl.store(data + index, _rounded(theta0, DTYPE), mask=inside)
            else:  # φ ← φ − rate·D·(φ − θ0), in float32, one rounding at the store
                phi = tl.load(data + index, mask=inside).to(tl.float32)
                step = (phi - theta0) * rate
                if HAS_DIAG:
                    uniform = tl.rand(tl.load(diag_key_ptr + tensor), index)
                    step = step * ((2.0 * uniform - 1.0) * diag_scale + 1.0)
                tl.store(data + index, _rounded(phi - step, DTYPE), mask=inside)


def _pick(values: Sequence, indices: Sequence[int]) -> list:
    return [values[i] for i in indices]


@dataclass(frozen=True)
class _Plan:
    """One launch's tables, on the tensors' device."""

    block_tensor: torch.Tensor
    block_start: torch.Tensor
    address: torch.Tensor
    numel: torch.Tensor
    key: torch.Tensor
    diag_key: torch.Tensor
    std: torch.Tensor

    @property
    def blocks(self) -> int:
        return self.block_tensor.numel()


_plans: dict[tuple, _Plan] = {}


def _plan(
    targets: Sequence[torch.Tensor], keys: Sequence[int], diag_keys: Sequence[int], stds: Sequence[float]
) -> _Plan:
    """The block table for contiguous ``targets``, cached by value (block size, addresses, lengths, keys,
    stds): a training loop reuses one plan every step, so the table is built and copied to the device
    once. (A non-contiguous tensor gets a fresh copy, so a fresh address and a new plan, every call.)"""
    numels = [t.numel() for t in targets]
    cache_key = (
        BLOCK,
        targets[0].device,
        tuple(t.data_ptr() for t in targets),
        tuple(numels),
        *map(tuple, (keys, diag_keys, stds)),
    )
    plan = _plans.get(cache_key)
    if plan is not None:
        return plan
    per_tensor = [math.ceil(n / BLOCK) for n in numels]
    block_tensor = torch.repeat_interleave(torch.arange(len(targets), dtype=torch.int32), torch.tensor(per_tensor))
    block_start = torch.cat([torch.arange(count, dtype=torch.int64) * BLOCK for count in per_tensor])
    device = targets[0].device
    plan = _Plan(
        block_tensor=block_tensor.to(device),
        block_start=block_start.to(device),
        address=torch.tensor([t.data_ptr() for t in targets], dtype=torch.int64, device=device),
        numel=torch.tensor(numels, dtype=torch.int64, device=device),
        key=torch.tensor(list(keys), dtype=torch.int64, device=device),
        diag_key=torch.tensor(list(diag_keys), dtype=torch.int64, device=device),
        std=torch.tensor(list(stds), dtype=torch.float32, device=device),
    )
    if len(_plans) >= _PLAN_CACHE_SIZE:
        _plans.clear()
    _plans[cache_key] = plan
    return plan


def _run_kernel(op: int, plan: _Plan, dtype: torch.dtype, rate: float, diag_scale: float) -> None:
    """One launch of the kernel over a plan's blocks."""
    _anchor_kernel[(plan.blocks,)](
        plan.block_tensor,
        plan.block_start,
        plan.address,
        plan.numel,
        plan.key,
        plan.diag_key,
        plan.std,
        float(rate),
        float(diag_scale),
        OP=op,
        HAS_DIAG=diag_scale != 0,
        DTYPE=_TRITON_DTYPES[dtype],
        BLOCK=BLOCK,
    )


def _launch(op: int, tensors, keys, diag_keys, stds, rate: float, diag_scale: float) -> None:
    """One Triton launch over ``tensors`` (one device, one dtype). Non-contiguous tensors (e.g.
    channels_last) are worked on as row-major copies and copied back, so indices stay logical."""
    if tensors[0].device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError("backend='triton' on CPU tensors needs TRITON_INTERPRET=1 set before triton is imported")
    targets = [t if t.is_contiguous() else t.contiguous() for t in tensors]
    non_empty = [i for i, t in enumerate(targets) if t.numel() > 0]
    if not non_empty:
        return
    plan = _plan(*(_pick(values, non_empty) for values in (targets, keys, diag_keys, stds)))
    _run_kernel(op, plan, tensors[0].dtype, rate, diag_scale)
    for tensor, target in zip(tensors, targets):
        if target is not tensor:
            tensor.copy_(target)


# ----------------------------------------------------------------------------------------- PyTorch
def _float32(value: float, device: torch.device) -> torch.Tensor:
    """A float32 scalar, so every product below is a float32 product as in the kernel."""
    return torch.tensor(value, dtype=torch.float32, device=device)


def _torch_batch(op: int, pieces, flats, keys, diag_keys, stds, rate: float, diag_scale: float) -> None:
    """The kernel's computation over ``pieces`` — (tensor, start, stop) slices of the flat tensors — as
    one vector, in the kernel's float32 operation order. Several pieces get per-element keys and stds
    (each element drawn exactly as its own tensor's stream would draw it)."""
    device = flats[pieces[0][0]].device
    index = torch.cat([torch.arange(start, stop, dtype=torch.int64, device=device) for _, start, stop in pieces])
    rate_, scale_ = _float32(rate, device), _float32(diag_scale, device)
    if len(pieces) == 1:
        tensor = pieces[0][0]
        key, diag_key, std_ = keys[tensor], diag_keys[tensor], _float32(stds[tensor], device)
    else:
        counts = torch.tensor([stop - start for _, start, stop in pieces], device=device)
        spread = [torch.tensor([values[t] for t, _, _ in pieces], device=device) for values in (keys, diag_keys)]
        key, diag_key = (torch.repeat_interleave(values, counts) for values in spread)
        std_ = torch.repeat_interleave(torch.tensor([stds[t] for t, _, _ in pieces], dtype=torch.float32), counts)
    if op == _DIAG:
        values = (2.0 * _philox.rand(diag_key, index) - 1.0) * scale_ + 1.0
    else:
        values = _philox.randn(key, index) * std_
        if op == _DECAY:
            phi = torch.cat([flats[t][start:stop] for t, start, stop in pieces]).to(torch.float32)
            step = (phi - values) * rate_
            if diag_scale != 0:
                step = step * ((2.0 * _philox.rand(diag_key, index) - 1.0) * scale_ + 1.0)
            values = phi - step
    offset = 0
    for t, start, stop in pieces:
        flats[t][start:stop].copy_(values[offset : offset + stop - start])
        offset += stop - start


def _torch_path(op: int, tensors, keys, diag_keys, stds, rate: float, diag_scale: float) -> None:
    """The kernel's computation in plain PyTorch, in batches of at most CHUNK elements: a large tensor
    in slices of its own, small tensors packed together, so that a model of many small tensors costs a
    few vector calls rather than one per tensor (the Triton kernel's block table, in another form)."""
    flats = [t.detach().reshape(-1) for t in tensors]  # views when contiguous, else row-major copies
    by_device: dict[torch.device, list[int]] = {}
    for index, tensor in enumerate(tensors):
        by_device.setdefault(tensor.device, []).append(index)
    batches: list[list[tuple[int, int, int]]] = []
    for members in by_device.values():
        batch, size = [], 0
        for t in members:
            for start in range(0, flats[t].numel(), CHUNK):
                stop = min(start + CHUNK, flats[t].numel())
                if batch and size + stop - start > CHUNK:
                    batches.append(batch)
                    batch, size = [], 0
                batch.append((t, start, stop))
                size += stop - start
        if batch:
            batches.append(batch)

    def run(batch: list[tuple[int, int, int]]) -> None:
        _torch_batch(op, batch, flats, keys, diag_keys, stds, rate, diag_scale)

    threads = min(torch.get_num_threads(), len(batches))
    if threads > 1:  # batches write disjoint slices; numpy's integer rounds release the GIL
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(run, batches))
    else:
        for batch in batches:
            run(batch)
    for tensor, flat in zip(tensors, flats):
        if not tensor.is_contiguous():
            tensor.detach().copy_(flat.view(tensor.shape))


# ----------------------------------------------------------------------------------------- public
def _check(tensors, keys, stds, diag_keys, sigma_d: float, backend: str) -> list[int]:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend=}")
    if backend == "triton" and triton is None:
        raise ValueError("backend='triton' needs Triton installed (it ships with torch's CUDA wheels)")
    if len(keys) != len(tensors) or (stds is not None and len(stds) != len(tensors)):
        raise ValueError(f"one key and one std per tensor: {len(tensors)} tensors, {len(keys)} keys")
    if not (isinstance(sigma_d, (int, float)) and 0.0 <= sigma_d < SIGMA_D_MAX):
        raise ValueError(f"sigma_d must be in [0, 1/√3) so that D > 0, got {sigma_d=}")
    if sigma_d > 0 and (diag_keys is None or len(diag_keys) != len(tensors)):
        raise ValueError(f"sigma_d > 0 needs one diag key per tensor ({len(tensors)}), got {diag_keys=}")
    for key in [*keys, *(diag_keys or [])]:
        if not 0 <= int(key) < 2**63:
            raise ValueError(f"keys must be 63-bit integers in [0, 2**63) (see stream_key), got {key}")
    for tensor in tensors:
        if tensor.dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise ValueError(f"tensors must be float32, bfloat16 or float16, got {tensor.dtype}")
    return [int(k) for k in diag_keys] if diag_keys is not None else [0] * len(tensors)


def _uses_triton(tensor: torch.Tensor, backend: str) -> bool:
    if backend == "auto":
        return triton is not None and tensor.is_cuda
    return backend == "triton"


class SeededDecay:
    """:func:`anchor_decay_` bound to a fixed list of tensors, for a training loop: the arguments are
    checked once, and on CUDA each call is one launch per dtype over the tensors with the block table
    built once (rebuilt only when a tensor's storage moves, e.g. after ``.to(device)``), so a step
    costs the launch and a pointer check rather than the table's Python. ``SeededDecay(...)(rate)``
    is exactly ``anchor_decay_(..., rate=rate)``.
    """

    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        keys: Sequence[int],
        stds: Sequence[float],
        *,
        sigma_d: float = 0.0,
        diag_keys: Sequence[int] | None = None,
        backend: str = "auto",
        op: int = _DECAY,
    ) -> None:
        self.tensors = list(tensors)
        self.keys = [int(k) for k in keys]
        self.stds = [float(s) for s in stds] if stds is not None else [0.0] * len(self.tensors)
        self.diag_keys = _check(self.tensors, self.keys, self.stds, diag_keys, sigma_d, backend)
        self.op, self.diag_scale = op, math.sqrt(3.0) * sigma_d
        groups: dict[tuple, list[int]] = {}
        self.plain: list[int] = []
        for index, tensor in enumerate(self.tensors):
            if _uses_triton(tensor, backend):
                groups.setdefault((tensor.device, tensor.dtype), []).append(index)
            else:
                self.plain.append(index)
        self.groups = list(groups.values())
        self._pointers: list[int] | None = None
        self._launches: list[tuple[_Plan, torch.dtype]] = []

    def _pick(self, members: list[int]) -> tuple[list, list, list, list]:
        return tuple(_pick(values, members) for values in (self.tensors, self.keys, self.diag_keys, self.stds))

    def _fast_launches(self) -> list[tuple[_Plan, torch.dtype]] | None:
        """The cached (plan, dtype) per group while every Triton tensor is contiguous and unmoved."""
        tensors = [self.tensors[i] for members in self.groups for i in members]
        pointers = [t.data_ptr() for t in tensors]
        if pointers != self._pointers:
            if not all(t.is_contiguous() for t in tensors) or any(t.numel() == 0 for t in tensors):
                return None  # copies or empty tensors: the general launch handles them
            self._launches = []
            for members in self.groups:
                group_tensors, keys, diag_keys, stds = self._pick(members)
                self._launches.append((_plan(group_tensors, keys, diag_keys, stds), group_tensors[0].dtype))
            self._pointers = pointers
        return self._launches

    @torch.no_grad()
    def __call__(self, rate: float = 0.0) -> None:
        if self.plain:
            _torch_path(self.op, *self._pick(self.plain), rate, self.diag_scale)
        if not self.groups:
            return
        launches = self._fast_launches()
        if launches is None:
            for members in self.groups:
                _launch(self.op, *self._pick(members), rate, self.diag_scale)
            return
        for plan, dtype in launches:
            _run_kernel(self.op, plan, dtype, rate, self.diag_scale)


def _run(op: int, tensors, keys, stds, rate: float, sigma_d: float, diag_keys, backend: str) -> None:
    SeededDecay(tensors, keys, stds, sigma_d=sigma_d, diag_keys=diag_keys, backend=backend, op=op)(rate)


def anchor_decay_(
    tensors: Sequence[torch.Tensor],
    keys: Sequence[int],
    stds: Sequence[float],
    *,
    rate: float,
    sigma_d: float = 0.0,
    diag_keys: Sequence[int] | None = None,
    backend: str = "auto",
) -> None:
    """In place, for every tensor φ: φ ← φ − rate·D·(φ − θ0), θ0 = std·randn(key, i) and
    D = 1 + √3σ_D(2·rand(diag_key, i) − 1) regenerated from the keys (D = 1 when ``sigma_d`` = 0).

    Args:
        tensors: the parameters φ (float32, bfloat16 or float16; any device).
        keys: one 63-bit key per tensor for θ0, e.g. ``stream_key(seed, name, "theta0")``.
        stds: one std per tensor (σ0/√fan_in in syre's relative units).
        rate: lr·2γ, the decoupled step of γ‖φ − θ0‖²_D.
        sigma_d: std of D's entries, in [0, 1/√3).
        diag_keys: one key per tensor for D, needed when ``sigma_d`` > 0 (``stream_key(seed, name, "diag")``).
        backend: "auto" (Triton on CUDA when installed, PyTorch otherwise), "triton" (also on CPU
            tensors under ``TRITON_INTERPRET=1``) or "torch".
    """
    if not math.isfinite(rate):
        raise ValueError(f"rate must be finite, got {rate=}")
    if rate == 0:
        return
    _run(_DECAY, tensors, keys, stds, rate, sigma_d, diag_keys, backend)


def fill_theta0_(
    tensors: Sequence[torch.Tensor], keys: Sequence[int], stds: Sequence[float], *, backend: str = "auto"
) -> None:
    """Write θ0 = std·randn(key, i) into each tensor (in its dtype; float32 keeps θ0 exact): the values
    :func:`anchor_decay_` regenerates on the same device."""
    _run(_THETA0, tensors, keys, stds, 0.0, 0.0, None, backend)


def fill_diag_(
    tensors: Sequence[torch.Tensor], diag_keys: Sequence[int], sigma_d: float, *, backend: str = "auto"
) -> None:
    """Write D = 1 + √3σ_D(2·rand(diag_key, i) − 1) into each tensor (paper Eq. 7)."""
    _run(_DIAG, tensors, [0] * len(diag_keys), None, 0.0, sigma_d, diag_keys, backend)
