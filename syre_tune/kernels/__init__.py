"""Fused kernels for syre: θ0 and D regenerated from a counter-based generator instead of stored.

- :func:`stream_key`: the 63-bit key of one random stream, from (seed, parameter name, what).
- :func:`anchor_decay_`: φ ← φ − rate·D·(φ − θ0) over many tensors, θ0 = std·randn(key, i) drawn in
  the kernel (one Triton launch on CUDA; plain PyTorch on CPU, computing the same numbers).
- :class:`SeededDecay`: the same step bound to a model's tensors, checked once, for a training loop.
- :func:`fill_theta0_`, :func:`fill_diag_`: write the same θ0 / D out, for a stored copy.

Triton is optional: it is imported only where present (torch's CUDA wheels ship it).
"""

from syre_tune.kernels._philox import stream_key
from syre_tune.kernels.anchor import BACKENDS, SeededDecay, anchor_decay_, fill_diag_, fill_theta0_, triton_available

__all__ = ["BACKENDS", "SeededDecay", "anchor_decay_", "fill_diag_", "fill_theta0_", "stream_key", "triton_available"]
