"""Triton's counter-based generator (Philox 4x32-10), re-implemented in plain PyTorch.

A draw is a pure function of (key, counter): element i of a tensor's θ0 is ``std · randn(key, i)``, so
θ0 can be regenerated anywhere, in any order, without storing it. This module computes exactly what
``triton.language.random`` computes (``randint4x`` → ``uint_to_uniform_float`` → Box-Muller in
``randn``; read ``triton/language/random.py``) so that the CPU path and the Triton kernels draw the same
numbers:

- integers (the Philox outputs) are bit-identical;
- floats agree to float32 rounding of ``log``/``cos``: the arithmetic is the same float32 sequence,
  only the transcendental functions' implementations (libm/SLEEF here, numpy under
  ``TRITON_INTERPRET=1``, libdevice or ``*.approx`` instructions on a GPU) may differ in the last bits.

Two implementations of the integer rounds, bit-identical (tested against each other and against
Random123's known answers):

- CPU offsets: numpy ``uint64`` arrays holding 32-bit words, where a 32×32-bit product is exact
  (< 2⁶⁴) and one multiply gives both halves; about 13× faster than the int64 form on one core.
- other devices (a GPU without Triton): int64 tensors holding values in [0, 2³²), with explicit masks;
  a 32×32-bit product is split into 16-bit halves of the constant so that no intermediate leaves
  int64 (every partial product is < 2⁴⁸), so nothing relies on signed overflow.

Keys: :func:`stream_key` hashes (seed, name, what) with blake2b to 63 bits, the same hash that keys
``syre_tune._random.generator`` (the baselines' draws). Triton's ``philox`` splits a 64-bit seed into the two 32-bit
Philox key words (low word k0, high word k1), so all 63 bits are used; the key is stored in an int64
table on the device, where a non-negative value converts to uint64 unchanged.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

__all__ = [
    "PHILOX_ROUNDS",
    "philox4x32",
    "rand",
    "randint4x",
    "randn",
    "stream_key",
    "uint32_to_uniform",
]

PHILOX_ROUNDS = 10  # Philox 4x32-10, triton.language.random.N_ROUNDS_DEFAULT

# Philox 4x32 constants (Salmon et al. 2011; triton.language.random.philox_impl).
_KEY_A = 0x9E3779B9  # golden ratio: the per-round key bump of k0
_KEY_B = 0xBB67AE85  # √3 − 1: the per-round key bump of k1
_ROUND_A = 0xD2511F53  # multiplier of counter word 0
_ROUND_B = 0xCD9E8D57  # multiplier of counter word 2
_MASK32 = 0xFFFFFFFF
_MASK16 = 0xFFFF

# triton.language.random.uint_to_uniform_float for 32-bit inputs: (2³¹ − 1) · scale < 1 in float32.
_UNIFORM_SCALE = torch.tensor(4.6566127342e-10, dtype=torch.float32)
# Box-Muller in triton.language.random.pair_uniform_to_normal, as float32 constants.
_U1_FLOOR = torch.tensor(1.0e-7, dtype=torch.float32)
_TWO_PI = torch.tensor(6.283185307179586, dtype=torch.float32)
_MINUS_TWO = torch.tensor(-2.0, dtype=torch.float32)


def stream_key(seed: int, name: str, what: str) -> int:
    """The 63-bit Philox key of one random stream: blake2b of (seed, name, what), e.g. what="theta0"
    for θ0 and "diag" for D. Stable across machines, Python versions and processes."""
    digest = hashlib.blake2b(f"{int(seed)}\x1f{name}\x1f{what}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def _mulhilo(multiplier: int, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low) 32-bit words of multiplier · value, for a 32-bit constant and int64 values in
    [0, 2³²): Triton's ``umulhi`` and wrapping ``mul``. The constant is split into 16-bit halves so that
    both partial products stay below 2⁴⁸."""
    low_part = value * (multiplier & _MASK16)  # < 2⁴⁸
    high_part = value * (multiplier >> 16)  # < 2⁴⁸; contributes high_part · 2¹⁶
    high = (low_part >> 16).add_(high_part).bitwise_right_shift_(16)
    low = high_part.bitwise_and_(_MASK16).bitwise_left_shift_(16).add_(low_part).bitwise_and_(_MASK32)
    return high, low


def philox4x32(
    counter: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    key: tuple[int, int],
    rounds: int = PHILOX_ROUNDS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Philox 4x32 on int64 tensors holding 32-bit words: ``counter`` (c0, c1, c2, c3) of one shape,
    ``key`` (k0, k1) two 32-bit ints. Returns the four output words; Triton's ``philox_impl``."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(rounds):
        high_b, low_b = _mulhilo(_ROUND_B, c2)
        high_a, low_a = _mulhilo(_ROUND_A, c0)
        c0 = high_b.bitwise_xor_(c1).bitwise_xor_(k0)
        c2 = high_a.bitwise_xor_(c3).bitwise_xor_(k1)
        c1, c3 = low_b, low_a
        k0 = (k0 + _KEY_A) & _MASK32
        k1 = (k1 + _KEY_B) & _MASK32
    return c0, c1, c2, c3


Key = int | torch.Tensor  # one 63/64-bit key, or an int64 tensor of one key per element


def _philox4x32_numpy(offsets: np.ndarray, key: tuple, rounds: int = PHILOX_ROUNDS) -> tuple[np.ndarray, ...]:
    """:func:`philox4x32` of the counter (offset low word, offset high word, 0, 0) on uint64 arrays:
    a 32-bit word times a 32-bit constant is exact in uint64, so one multiply gives (high, low). The key
    words are two ints or two uint64 arrays of the offsets' shape (one key per element)."""
    mask, shift = np.uint64(_MASK32), np.uint64(32)
    round_a, round_b = np.uint64(_ROUND_A), np.uint64(_ROUND_B)
    c0, c1 = offsets & mask, offsets >> shift
    c2 = c3 = np.zeros_like(c0)
    k0, k1 = (np.asarray(word, dtype=np.uint64) for word in key)
    bump_a, bump_b = np.uint64(_KEY_A), np.uint64(_KEY_B)
    for _ in range(rounds):
        product_b, product_a = c2 * round_b, c0 * round_a
        c0 = (product_b >> shift) ^ c1 ^ k0
        c2 = (product_a >> shift) ^ c3 ^ k1
        c1, c3 = product_b & mask, product_a & mask
        k0 = (k0 + bump_a) & mask
        k1 = (k1 + bump_b) & mask
    return c0, c1, c2, c3


def randint4x(key: Key, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Four uint32 blocks (as int64) for int64 ``offsets`` ≥ 0: ``tl.randint4x(key, offsets)``, whose
    counter is (offset low word, offset high word, 0, 0) and whose key words are the seed's (low, high).
    ``key`` is one int, or an int64 tensor of ``offsets``' shape holding each element's key (≥ 0): many
    streams in one call, each element exactly what its own key would give."""
    offsets = offsets.to(torch.int64)
    if isinstance(key, torch.Tensor):
        key = key.to(device=offsets.device, dtype=torch.int64)
        if key.shape != offsets.shape or bool((key < 0).any()):
            raise ValueError(f"a key tensor must be >= 0 and shaped like the offsets {tuple(offsets.shape)}")
    elif key < 0 or key >= 2**64:
        raise ValueError(f"key must be in [0, 2**64), got {key=}")
    key_words = (key & _MASK32, key >> 32)
    if offsets.device.type == "cpu":
        if isinstance(key, torch.Tensor):
            key_words = tuple(word.numpy().astype(np.uint64) for word in key_words)
        words = _philox4x32_numpy(offsets.numpy().astype(np.uint64), key_words)
        return tuple(torch.from_numpy(word.view(np.int64)) for word in words)  # values < 2³²: same bits
    zeros = torch.zeros_like(offsets)
    counter = (offsets & _MASK32, offsets >> 32, zeros, zeros)
    return philox4x32(counter, key_words)


def uint32_to_uniform(bits: torch.Tensor) -> torch.Tensor:
    """float32 in [0, 1) from uint32 words held in int64: ``uint_to_uniform_float``, which reads the
    word as int32, folds negatives with ``~x`` (so 31 random bits remain) and scales by 4.6566127342e-10."""
    folded = torch.where(bits >= 2**31, _MASK32 - bits, bits)  # ~x for the negative int32 reading
    return folded.to(torch.float32) * _UNIFORM_SCALE


def rand(key: Key, offsets: torch.Tensor) -> torch.Tensor:
    """float32 uniforms in [0, 1): ``tl.rand(key, offsets)`` (the first Philox word)."""
    first, _, _, _ = randint4x(key, offsets)
    return uint32_to_uniform(first)


def randn(key: Key, offsets: torch.Tensor) -> torch.Tensor:
    """float32 standard normals: ``tl.randn(key, offsets)``, Box-Muller on the first two Philox words,
    r·cos θ with u1 floored at 1e-7 (so |z| ≤ √(−2 ln 1e-7) ≈ 5.68: the tails beyond are cut)."""
    first, second, _, _ = randint4x(key, offsets)
    u1 = torch.maximum(uint32_to_uniform(first), _U1_FLOOR)
    angle = _TWO_PI * uint32_to_uniform(second)
    radius = torch.sqrt(_MINUS_TWO * torch.log(u1))
    return radius * torch.cos(angle)
