"""Representation and symmetry metrics used by the syre_tune benchmarks.

Every function is pure PyTorch. Inputs may be torch tensors or anything ``torch.as_tensor``
accepts (numpy arrays, nested lists). Feature matrices are laid out as ``(samples, units)``;
where noted, a leading batch dimension ``(batch, samples, units)`` is accepted so that a
vectorised benchmark running many seeds at once can compute the metric for every seed in a
single call. Batched results have shape ``(batch,)``; unbatched results are 0-D tensors.

Metrics:

* :func:`effective_rank` -- Roy & Vetterli (2007), exp of the entropy of the normalised
  singular values.
* :func:`covariance_rank` -- number of covariance eigenvalues above an absolute threshold.
* :func:`approximate_rank` -- Dohare et al., the number of singular values needed to hold a
  given fraction of the squared-singular-value energy.
* :func:`dead_units` -- number of units (columns) that are almost never active.
* :func:`symmetry_degree` -- number of eigen-directions along which a weight vector has an
  (almost) zero coordinate.
* :func:`reflection_strength` -- the reflection strength Delta_i of a loss with respect to a set
  of reflections ``theta -> (I - 2 P_i)(theta - theta*_i) + theta*_i``.

Every function validates its arguments and raises ``ValueError`` naming the offending argument,
its value or shape, and what was expected.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "approximate_rank",
    "capture",
    "covariance_rank",
    "dead_units",
    "dormant_scores",
    "effective_rank",
    "reflection_strength",
    "symmetry_degree",
]

# Half-precision dtypes are not supported by the linear-algebra kernels (svdvals, eigh) on all
# devices, so they are promoted to float32 before any decomposition.
_HALF_PRECISION_DTYPES = (torch.float16, torch.bfloat16)


def _as_real_floating_tensor(value: Any, name: str) -> Tensor:
    """Convert ``value`` to a real floating-point tensor, keeping float32/float64 as they are.

    Integer and boolean inputs become the default floating dtype; half precision becomes
    float32 (see ``_HALF_PRECISION_DTYPES``). Complex inputs are rejected because every metric
    here is defined for real matrices only.
    """
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"{name} must be a tensor or array-like of real numbers, got {type(value).__name__}"
        ) from error
    if tensor.is_complex():
        raise ValueError(f"{name} must be real-valued, got complex dtype {tensor.dtype}")
    if tensor.dtype in _HALF_PRECISION_DTYPES:
        return tensor.to(torch.float32)
    if not tensor.is_floating_point():
        return tensor.to(torch.get_default_dtype())
    return tensor


def _require_finite(tensor: Tensor, name: str) -> None:
    """Reject nan/inf early: SVD and eigendecomposition either fail or return garbage on them."""
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must contain only finite values, got nan or inf")


def _as_feature_matrix(features: Any, name: str) -> Tensor:
    """Validate a ``(samples, units)`` or ``(batch, samples, units)`` feature tensor."""
    tensor = _as_real_floating_tensor(features, name)
    if tensor.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be 2-D (samples, units) or 3-D (batch, samples, units), got shape {tuple(tensor.shape)}"
        )
    samples, units = tensor.shape[-2], tensor.shape[-1]
    if samples == 0 or units == 0:
        raise ValueError(f"{name} must have at least one sample and one unit, got shape {tuple(tensor.shape)}")
    _require_finite(tensor, name)
    return tensor


def _as_real_scalar(value: Any, name: str) -> float:
    """Convert a Python number or one-element tensor to ``float``, rejecting nan/inf."""
    try:
        scalar = float(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name} must be a real number, got {value!r}") from error
    if not math.isfinite(scalar):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return scalar


def effective_rank(features: Any) -> Tensor:
    """Effective rank of a feature matrix (Roy & Vetterli, 2007).

    With ``s`` the singular values of the (uncentred) feature matrix and ``p = s / s.sum()``,
    the effective rank is ``exp(-sum_i p_i log p_i)`` using the convention ``0 log 0 = 0``.
    It lies in ``[1, min(samples, units)]``: 1 for a rank-1 matrix and ``n`` when ``n``
    singular values are equal and the rest are zero.

    An all-zero feature matrix has no singular-value distribution (``s.sum() == 0``); its
    effective rank is defined here as ``0.0``.

    Args:
        features: ``(samples, units)`` or ``(batch, samples, units)``.

    Returns:
        A 0-D tensor, or ``(batch,)`` for batched input, in the features' floating dtype
        (float32 for half-precision or integer input).
    """
    features = _as_feature_matrix(features, "features")
    singular_values = torch.linalg.svdvals(features)  # (..., min(samples, units))
    total = singular_values.sum(dim=-1, keepdim=True)  # (..., 1)
    # Divide by 1 where the total is 0 so that no nan is produced; those entries are replaced
    # by 0.0 below.
    safe_total = torch.where(total > 0, total, torch.ones_like(total))
    probabilities = singular_values / safe_total
    # xlogy(0, 0) == 0 implements the 0 log 0 = 0 convention without masking.
    entropy = -torch.special.xlogy(probabilities, probabilities).sum(dim=-1)  # (...,)
    rank = torch.exp(entropy)
    return torch.where(total.squeeze(-1) > 0, rank, torch.zeros_like(rank))


def covariance_rank(features: Any, threshold: float = 1e-4) -> Tensor:
    """Number of eigenvalues of the feature covariance strictly greater than ``threshold``.

    The covariance is taken over samples with ``torch.cov`` semantics: the features are
    centred per unit and the scatter matrix is divided by ``samples - 1``. The threshold is
    absolute ("eigenvalues smaller than 1e-4 are set to zero").

    The eigenvalues are computed as ``s**2 / (samples - 1)`` from the singular values ``s`` of
    the centred features rather than by eigendecomposing the covariance itself: this avoids
    squaring the condition number, so small eigenvalues near the threshold stay accurate.

    Args:
        features: ``(samples, units)`` or ``(batch, samples, units)`` with ``samples >= 2``.
        threshold: non-negative absolute eigenvalue threshold.

    Returns:
        An int64 0-D tensor, or ``(batch,)`` for batched input.
    """
    features = _as_feature_matrix(features, "features")
    samples = features.shape[-2]
    if samples < 2:
        raise ValueError(
            f"features must have at least 2 samples to estimate a covariance, got shape {tuple(features.shape)}"
        )
    threshold = _as_real_scalar(threshold, "threshold")
    if threshold < 0:
        raise ValueError(f"threshold must be non-negative, got {threshold!r}")
    centred = features - features.mean(dim=-2, keepdim=True)  # (..., samples, units)
    singular_values = torch.linalg.svdvals(centred)  # (..., min(samples, units))
    # Eigenvalues beyond min(samples, units) are exactly zero and never exceed threshold >= 0,
    # so counting over the singular values alone is complete.
    eigenvalues = singular_values.square() / (samples - 1)
    return (eigenvalues > threshold).sum(dim=-1)


def approximate_rank(features: Any, fraction: float = 0.99) -> Tensor:
    """Approximate rank of a feature matrix (Dohare et al.).

    With ``s_1 >= s_2 >= ...`` the singular values of the (uncentred) feature matrix, this is
    the smallest ``k`` such that ``sum_{i<=k} s_i**2 >= fraction * sum_i s_i**2``.

    Cumulative shares are compared with a small relative tolerance, ``max(1e-12, eps)`` where
    ``eps`` is the machine epsilon of the features' dtype, so that a share equal to
    ``fraction`` up to rounding counts as reaching it. In particular ``fraction=1.0`` gives the
    number of numerically non-zero singular values rather than always
    ``min(samples, units)``. An all-zero feature matrix has approximate rank 0.

    Args:
        features: ``(samples, units)`` or ``(batch, samples, units)``.
        fraction: share of the squared-singular-value energy to retain, in ``(0, 1]``.

    Returns:
        An int64 0-D tensor, or ``(batch,)`` for batched input.
    """
    features = _as_feature_matrix(features, "features")
    fraction = _as_real_scalar(fraction, "fraction")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    tolerance = max(1e-12, torch.finfo(features.dtype).eps)
    # svdvals returns singular values sorted in descending order. The cumulative sum is done
    # in float64 so that its own rounding is negligible next to the tolerance.
    energy = torch.linalg.svdvals(features).to(torch.float64).square()  # (..., k_max)
    total_energy = energy.sum(dim=-1, keepdim=True)  # (..., 1)
    safe_total = torch.where(total_energy > 0, total_energy, torch.ones_like(total_energy))
    cumulative_share = energy.cumsum(dim=-1) / safe_total  # (..., k_max), non-decreasing
    shares_below = (cumulative_share < fraction * (1.0 - tolerance)).sum(dim=-1)
    rank = torch.clamp(shares_below + 1, max=energy.shape[-1])
    return torch.where(total_energy.squeeze(-1) > 0, rank, torch.zeros_like(rank))


def dead_units(activations: Any, frac: float = 0.01) -> Tensor:
    """Number of units that are active (``> 0``) in at most ``frac`` of the samples.

    Args:
        activations: ``(samples, units)`` or ``(batch, samples, units)``, e.g. post-ReLU
            outputs of a layer over a batch of inputs.
        frac: largest share of samples in which a unit may be active and still count as dead,
            in ``[0, 1]``; ``frac=0`` counts only units that are never active.

    Returns:
        An int64 0-D tensor, or ``(batch,)`` for batched input.
    """
    activations = _as_feature_matrix(activations, "activations")
    frac = _as_real_scalar(frac, "frac")
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"frac must be in [0, 1], got {frac!r}")
    samples = activations.shape[-2]
    active_counts = (activations > 0).sum(dim=-2)  # (..., units), int64
    # Dividing in float64 rounds count/samples to the double nearest the exact ratio, which is
    # also how a decimal `frac` such as 0.29 is stored, so "exactly frac of the samples" is
    # inclusive as documented (comparing count <= frac * samples would get 29 <= 28.99...).
    active_share = active_counts.to(torch.float64) / samples
    return (active_share <= frac).sum(dim=-1)


def dormant_scores(activations: Any, dim: int = -1) -> Tensor:
    """ReDo's score of each unit (Sokar et al. 2023): s_i = E|h_i| / ((1/H) Σ_j E|h_j|).

    The expectation is over every dimension of ``activations`` but ``dim`` (samples, and the
    spatial positions of a conv's channels). A unit is τ-dormant when s_i <= τ. If every unit is
    silent (Σ_j E|h_j| = 0) all scores are 0 (all dormant).

    Args:
        activations: a layer's outputs, e.g. ``(samples, units)`` or ``(samples, channels, H, W)``.
        dim: the units' dimension (-1 for a Linear's, 1 for a conv's channels).

    Returns:
        ``(units,)`` scores in the activations' dtype (float32 for half precision).
    """
    activations = _as_real_floating_tensor(activations, "activations")
    if activations.ndim < 2:
        raise ValueError(f"activations must have a samples and a units dimension, got {tuple(activations.shape)}")
    magnitude = activations.abs().movedim(dim, -1).reshape(-1, activations.shape[dim]).mean(dim=0)  # (units,)
    mean = magnitude.mean()
    return magnitude / mean if mean > 0 else torch.zeros_like(magnitude)


@contextlib.contextmanager
def capture(model: nn.Module, paths: Sequence[str]) -> Iterator[dict[str, Tensor]]:
    """Record the outputs of the submodules ``paths`` of ``model`` while the block runs::

        with capture(policy, ["net.1"]) as seen:
            policy(states)
        features = seen["net.1"]        # (states, units), detached

    The last call of each module wins; the hooks are removed on exit."""
    seen: dict[str, Tensor] = {}
    handles = []
    for path in paths:
        module = model.get_submodule(path)
        record = lambda _module, _inputs, out, path=path: seen.__setitem__(path, out.detach())  # noqa: E731
        handles.append(module.register_forward_hook(record))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def symmetry_degree(w: Any, eigvecs: Any, c_th: float) -> Tensor:
    """Symmetry degree of a weight vector: ``#{i : |v_i^T w| < c_th}``.

    ``v_i`` are the **columns** of ``eigvecs``, as returned by ``torch.linalg.eigh``. The
    columns are assumed orthonormal; this is not checked.

    Args:
        w: ``(d,)`` or ``(batch, d)``.
        eigvecs: ``(d, d)`` or ``(batch, d, d)``. An unbatched ``eigvecs`` is shared by every
            row of a batched ``w``, and an unbatched ``w`` is paired with every basis of a
            batched ``eigvecs``; when both are batched the batch sizes must match.
        c_th: positive threshold on the absolute coordinate.

    Returns:
        An int64 0-D tensor when neither argument is batched, else ``(batch,)``.
    """
    w = _as_real_floating_tensor(w, "w")
    eigvecs = _as_real_floating_tensor(eigvecs, "eigvecs")
    if w.ndim not in (1, 2) or w.shape[-1] == 0:
        raise ValueError(f"w must be 1-D (d,) or 2-D (batch, d) with d >= 1, got shape {tuple(w.shape)}")
    if eigvecs.ndim not in (2, 3) or eigvecs.shape[-1] != eigvecs.shape[-2]:
        raise ValueError(f"eigvecs must be 2-D (d, d) or 3-D (batch, d, d), got shape {tuple(eigvecs.shape)}")
    dimension = w.shape[-1]
    if eigvecs.shape[-1] != dimension:
        raise ValueError(
            f"eigvecs must be ({dimension}, {dimension}) to match w of shape {tuple(w.shape)}, "
            f"got shape {tuple(eigvecs.shape)}"
        )
    if w.ndim == 2 and eigvecs.ndim == 3 and w.shape[0] != eigvecs.shape[0]:
        raise ValueError(
            f"w and eigvecs must have the same batch size, got w of shape {tuple(w.shape)} "
            f"and eigvecs of shape {tuple(eigvecs.shape)}"
        )
    _require_finite(w, "w")
    _require_finite(eigvecs, "eigvecs")
    c_th = _as_real_scalar(c_th, "c_th")
    if c_th <= 0:
        raise ValueError(f"c_th must be positive, got {c_th!r}")
    dtype = torch.promote_types(w.dtype, eigvecs.dtype)
    # coordinates[..., i] = sum_j eigvecs[..., j, i] * w[..., j] = v_i^T w; shape (..., d).
    # einsum broadcasts the "..." batch dimension when only one argument has it.
    coordinates = torch.einsum("...ji,...j->...i", eigvecs.to(dtype), w.to(dtype))
    return (coordinates.abs() < c_th).sum(dim=-1)


def _projector_tolerance(dtype: torch.dtype) -> float:
    """Absolute elementwise tolerance for the P == P^T and P @ P == P checks.

    sqrt(eps) (about 3e-4 in float32, 1.5e-8 in float64) accepts projectors assembled from
    numerically computed eigenvectors while rejecting anything that is not a projection
    (whose defect is of order 1, since orthogonal projections have entries in [-1, 1]).
    """
    return math.sqrt(torch.finfo(dtype).eps)


def _stack_vectors_or_matrices(value: Any, name: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Turn a list/tuple of tensors or arrays, or one stacked tensor/array, into one tensor.

    The result has a leading dimension indexing the entries; its shape is checked by the caller.
    """
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        # Lists and tuples: convert entry by entry so that a bad entry is named by its index.
        items = [_as_real_floating_tensor(item, f"{name}[{index}]") for index, item in enumerate(value)]
        if not items:
            raise ValueError(f"{name} must contain at least one entry, got an empty sequence")
        shapes = [tuple(item.shape) for item in items]
        if len(set(shapes)) != 1:
            raise ValueError(f"all entries of {name} must have the same shape, got shapes {shapes}")
        return torch.stack([item.to(dtype=dtype, device=device) for item in items])
    # Tensors and numpy arrays (neither is a collections.abc.Sequence) are already stacked.
    return _as_real_floating_tensor(value, name).to(dtype=dtype, device=device)


def reflection_strength(
    loss: Callable[[Tensor], Tensor],
    theta: Any,
    projectors: Sequence[Any] | Tensor,
    center: Sequence[Any] | Tensor | None = None,
) -> Tensor:
    """Reflection strength Delta_i of ``loss`` at ``theta`` for each reflection (Eq. 9).

    For the reflection ``R_i(theta) = (I - 2 P_i)(theta - theta*_i) + theta*_i`` about the
    centre ``theta*_i``::

        theta'  = theta - theta*_i
        Delta_i = [loss(theta' + theta*_i) - loss((I - 2 P_i) theta' + theta*_i)] / ||P_i theta'||

    A loss that is symmetric under ``R_i`` has ``Delta_i = 0``. For example if
    ``loss = f + gamma * ||theta - a||**2`` with ``f`` invariant under ``R_i`` and centre 0,
    then ``Delta_i = -4 gamma (P_i theta)^T a / ||P_i theta||``.

    When ``P_i theta' == 0`` the point is fixed by the reflection (it lies on the symmetric
    subspace) and ``Delta_i`` is undefined; it is returned as ``nan``.

    ``loss(theta)`` is evaluated once and reused for every ``i`` since ``theta' + theta*_i``
    equals ``theta``. The current autograd mode is left untouched: wrap the call in
    ``torch.no_grad()`` if no graph should be recorded.

    Args:
        loss: maps a ``(d,)`` tensor to a scalar (one-element) tensor.
        theta: ``(d,)`` parameter vector.
        projectors: ``N`` orthogonal projection matrices ``P_i`` of shape ``(d, d)``, as a
            sequence or one ``(N, d, d)`` tensor. Each must be symmetric and idempotent up to
            an absolute elementwise tolerance of ``sqrt(eps)`` of theta's dtype.
        center: ``None`` (every ``theta*_i = 0``), or ``N`` centres of shape ``(d,)`` as a
            sequence or one ``(N, d)`` tensor.

    Returns:
        ``(N,)`` tensor of ``Delta_i`` in theta's floating dtype.
    """
    if not callable(loss):
        raise TypeError(f"loss must be callable, got {type(loss).__name__}")
    theta = _as_real_floating_tensor(theta, "theta")
    if theta.ndim != 1 or theta.shape[0] == 0:
        raise ValueError(f"theta must be 1-D (d,) with d >= 1, got shape {tuple(theta.shape)}")
    _require_finite(theta, "theta")
    dimension = theta.shape[0]

    projector_stack = _stack_vectors_or_matrices(projectors, "projectors", theta.dtype, theta.device)
    if projector_stack.ndim != 3 or projector_stack.shape[1:] != (dimension, dimension):
        raise ValueError(
            f"projectors must be N matrices of shape ({dimension}, {dimension}) to match theta, "
            f"got stacked shape {tuple(projector_stack.shape)}"
        )
    count = projector_stack.shape[0]
    if count == 0:
        raise ValueError("projectors must contain at least one projection matrix, got none")
    tolerance = _projector_tolerance(theta.dtype)
    for index, projector in enumerate(projector_stack):
        if not bool(torch.isfinite(projector).all()):
            raise ValueError(f"projectors[{index}] must contain only finite values")
        asymmetry = (projector - projector.T).abs().max().item()
        if asymmetry > tolerance:
            raise ValueError(
                f"projectors[{index}] must be symmetric (an orthogonal projection), "
                f"got max |P - P^T| = {asymmetry:.3g} > tolerance {tolerance:.3g}"
            )
        idempotency_defect = (projector @ projector - projector).abs().max().item()
        if idempotency_defect > tolerance:
            raise ValueError(
                f"projectors[{index}] must be a projection (P @ P == P), "
                f"got max |P @ P - P| = {idempotency_defect:.3g} > tolerance {tolerance:.3g}"
            )

    if center is None:
        centers = torch.zeros(count, dimension, dtype=theta.dtype, device=theta.device)
    else:
        centers = _stack_vectors_or_matrices(center, "center", theta.dtype, theta.device)
        if centers.shape != (count, dimension):
            raise ValueError(
                f"center must hold {count} centres of shape ({dimension},), one per projector, "
                f"got stacked shape {tuple(centers.shape)}"
            )
        _require_finite(centers, "center")

    def evaluate(point: Tensor, description: str) -> Tensor:
        value = torch.as_tensor(loss(point))
        if value.numel() != 1:
            raise ValueError(f"loss must return a scalar, got shape {tuple(value.shape)} at {description}")
        return value.reshape(()).to(theta.dtype)

    loss_at_theta = evaluate(theta, "theta")
    strengths = []
    for index in range(count):
        projector, centre = projector_stack[index], centers[index]
        offset = theta - centre  # theta', (d,)
        projected_offset = projector @ offset  # P_i theta', (d,)
        reflected = offset - 2.0 * projected_offset + centre  # (I - 2 P_i) theta' + theta*_i
        difference = loss_at_theta - evaluate(reflected, f"the reflection by projectors[{index}]")
        norm = torch.linalg.vector_norm(projected_offset)
        # At a fixed point of the reflection the ratio is 0/0: report nan explicitly.
        strengths.append(torch.where(norm > 0, difference / norm, torch.full_like(norm, math.nan)))
    return torch.stack(strengths)
