"""Tests for syre_tune.metrics against hand-computed values.

Matrices with known singular values are built as ``U diag(s) V^T`` with orthonormal ``U`` and
``V`` from a QR decomposition, so the expected metric follows from ``s`` alone.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from syre_tune.metrics import (
    approximate_rank,
    covariance_rank,
    dead_units,
    effective_rank,
    reflection_strength,
    symmetry_degree,
)


def orthonormal_columns(rows: int, columns: int, seed: int) -> torch.Tensor:
    """(rows, columns) matrix with orthonormal columns, float64."""
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(rows, columns, generator=generator, dtype=torch.float64)
    q, _ = torch.linalg.qr(gaussian)
    return q


def matrix_with_singular_values(singular_values: list[float], samples: int, units: int, seed: int = 0) -> torch.Tensor:
    """(samples, units) float64 matrix whose non-zero singular values are exactly as given."""
    rank = len(singular_values)
    left = orthonormal_columns(samples, rank, seed)
    right = orthonormal_columns(units, rank, seed + 1)
    return left @ torch.diag(torch.tensor(singular_values, dtype=torch.float64)) @ right.T


def features_with_covariance_eigenvalues(eigenvalues: list[float], samples: int) -> torch.Tensor:
    """(samples, units) float64 features whose sample covariance is exactly diag(eigenvalues).

    Columns are orthonormal and orthogonal to the all-ones vector (so already centred), scaled
    by sqrt((samples - 1) * eigenvalue): then X^T X / (samples - 1) = diag(eigenvalues).
    """
    generator = torch.Generator().manual_seed(7)
    ones_then_random = torch.cat(
        [
            torch.ones(samples, 1, dtype=torch.float64),
            torch.randn(samples, len(eigenvalues), generator=generator, dtype=torch.float64),
        ],
        dim=1,
    )
    q, _ = torch.linalg.qr(ones_then_random)
    centred_orthonormal = q[:, 1:]  # orthogonal to q[:, 0], which spans the ones vector
    scales = torch.tensor(eigenvalues, dtype=torch.float64).mul(samples - 1).sqrt()
    return centred_orthonormal * scales


# --------------------------------------------------------------------------- effective_rank


def test_effective_rank_of_two_known_singular_values() -> None:
    features = matrix_with_singular_values([3.0, 1.0], samples=6, units=4)
    # p = (0.75, 0.25)
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert effective_rank(features).item() == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(1.7547654, abs=1e-7)


def test_effective_rank_of_rank_one_features_is_one() -> None:
    features = torch.outer(torch.tensor([1.0, -2.0, 3.0]), torch.tensor([0.5, 4.0]))
    assert effective_rank(features).item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_effective_rank_of_identity_is_its_size(size: int) -> None:
    assert effective_rank(torch.eye(size)).item() == pytest.approx(size, abs=1e-5)


def test_effective_rank_of_equal_singular_values_is_their_count() -> None:
    features = matrix_with_singular_values([2.0, 2.0, 2.0], samples=8, units=5)
    assert effective_rank(features).item() == pytest.approx(3.0, abs=1e-10)


def test_effective_rank_of_zero_features_is_zero() -> None:
    assert effective_rank(torch.zeros(4, 3)).item() == 0.0


def test_effective_rank_is_not_centred() -> None:
    # A constant matrix has one singular value; centring would make it all zeros instead.
    # float64: in float32 the rounding-level singular values add about 1e-6 to the entropy.
    features = torch.full((4, 3), 5.0, dtype=torch.float64)
    assert effective_rank(features).item() == pytest.approx(1.0, abs=1e-12)


def test_effective_rank_accepts_numpy_and_integers() -> None:
    assert effective_rank(np.eye(3)).item() == pytest.approx(3.0, abs=1e-12)
    result = effective_rank([[1, 0], [0, 1]])
    assert result.is_floating_point()
    assert result.item() == pytest.approx(2.0, abs=1e-6)


def test_effective_rank_batched_equals_loop() -> None:
    batch = torch.stack(
        [
            matrix_with_singular_values([3.0, 1.0], 6, 4, seed=1),
            torch.zeros(6, 4, dtype=torch.float64),
            matrix_with_singular_values([1.0, 1.0, 1.0, 1.0], 6, 4, seed=2),
        ]
    )
    batched = effective_rank(batch)
    assert batched.shape == (3,)
    looped = torch.stack([effective_rank(features) for features in batch])
    torch.testing.assert_close(batched, looped)
    assert batched[2].item() == pytest.approx(4.0, abs=1e-10)


# -------------------------------------------------------------------------- covariance_rank


def test_covariance_rank_of_data_in_a_two_dimensional_subspace() -> None:
    generator = torch.Generator().manual_seed(3)
    coefficients = torch.randn(50, 2, generator=generator, dtype=torch.float64)
    basis = torch.randn(2, 5, generator=generator, dtype=torch.float64)
    # A large common offset: without centring the rank would be 3.
    features = coefficients @ basis + 100.0
    assert covariance_rank(features).item() == 2


def test_covariance_rank_counts_known_eigenvalues_against_the_threshold() -> None:
    features = features_with_covariance_eigenvalues([1.0, 1e-3, 1e-5], samples=40)
    torch.testing.assert_close(torch.cov(features.T), torch.diag(torch.tensor([1.0, 1e-3, 1e-5], dtype=torch.float64)))
    assert covariance_rank(features).item() == 2  # default threshold 1e-4
    assert covariance_rank(features, threshold=1e-6).item() == 3
    assert covariance_rank(features, threshold=0.5).item() == 1
    assert covariance_rank(features, threshold=2.0).item() == 0
    # Just above / just below the eigenvalue 1e-3: strictly greater is required.
    assert covariance_rank(features, threshold=1e-3 * (1 + 1e-9)).item() == 1
    assert covariance_rank(features, threshold=1e-3 * (1 - 1e-9)).item() == 2


def test_covariance_rank_divides_by_samples_minus_one() -> None:
    # Samples 0 and 2: mean 1, squared deviations 1 + 1 = 2, variance 2 / (2 - 1) = 2
    # (dividing by samples would give 1).
    features = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    assert covariance_rank(features, threshold=1.5).item() == 1
    assert covariance_rank(features, threshold=2.5).item() == 0


def test_covariance_rank_of_constant_features_is_zero_even_at_zero_threshold() -> None:
    assert covariance_rank(torch.full((5, 3), 2.0), threshold=0.0).item() == 0


def test_covariance_rank_returns_an_integer_tensor() -> None:
    assert covariance_rank(torch.eye(4)).dtype == torch.int64


def test_covariance_rank_batched_equals_loop() -> None:
    batch = torch.stack(
        [
            features_with_covariance_eigenvalues([1.0, 1e-3, 1e-5], samples=30),
            features_with_covariance_eigenvalues([1.0, 1.0, 1.0], samples=30),
            features_with_covariance_eigenvalues([1e-5, 1e-5, 1e-5], samples=30),
        ]
    )
    batched = covariance_rank(batch)
    assert batched.tolist() == [2, 3, 0]
    assert batched.tolist() == [covariance_rank(features).item() for features in batch]


# ------------------------------------------------------------------------- approximate_rank


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        (0.5, 1),
        (9 / 14, 1),  # share after one value is exactly 9/14
        (0.65, 2),
        (0.9, 2),
        (13 / 14, 2),  # share after two values is exactly 13/14
        (0.95, 3),
        (1.0, 3),
    ],
)
def test_approximate_rank_of_singular_values_three_two_one(fraction: float, expected: int) -> None:
    # Squared singular values 9, 4, 1: cumulative shares 9/14, 13/14, 14/14.
    features = matrix_with_singular_values([3.0, 2.0, 1.0], samples=7, units=5)
    assert approximate_rank(features, fraction=fraction).item() == expected


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_approximate_rank_with_fraction_one_counts_nonzero_singular_values(
    dtype: torch.dtype,
) -> None:
    # Rank 2 in a 10 x 8 matrix: the six remaining singular values are zero up to rounding.
    features = matrix_with_singular_values([5.0, 0.5], samples=10, units=8).to(dtype)
    assert approximate_rank(features, fraction=1.0).item() == 2
    assert approximate_rank(features, fraction=0.99).item() == 1  # 25 / 25.25 = 0.990...


def test_approximate_rank_of_zero_features_is_zero() -> None:
    assert approximate_rank(torch.zeros(3, 3)).item() == 0


def test_approximate_rank_batched_equals_loop() -> None:
    batch = torch.stack(
        [
            matrix_with_singular_values([3.0, 2.0, 1.0], 7, 5, seed=4),
            matrix_with_singular_values([1.0, 1.0, 1.0, 1.0, 1.0], 7, 5, seed=5),
            torch.zeros(7, 5, dtype=torch.float64),
        ]
    )
    batched = approximate_rank(batch, fraction=0.9)
    assert batched.dtype == torch.int64
    assert batched.tolist() == [2, 5, 0]
    assert batched.tolist() == [approximate_rank(f, fraction=0.9).item() for f in batch]


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.1, math.nan, math.inf])
def test_approximate_rank_rejects_fraction_out_of_range(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        approximate_rank(torch.eye(3), fraction=fraction)


# ------------------------------------------------------------------------------ dead_units


def hand_built_activations() -> torch.Tensor:
    # Columns: always active, all zero, only negative, active in 1 of 4, active in 2 of 4.
    return torch.tensor(
        [
            [1.0, 0.0, -1.0, 0.0, 2.0],
            [2.0, 0.0, -2.0, 3.0, 0.0],
            [0.5, 0.0, -0.5, 0.0, 1.0],
            [4.0, 0.0, -3.0, 0.0, 0.0],
        ]
    )


@pytest.mark.parametrize(
    ("frac", "expected"),
    [(0.0, 2), (0.01, 2), (0.24, 2), (0.25, 3), (0.49, 3), (0.5, 4), (0.99, 4), (1.0, 5)],
)
def test_dead_units_of_hand_built_activations(frac: float, expected: int) -> None:
    assert dead_units(hand_built_activations(), frac=frac).item() == expected


def test_dead_units_default_fraction() -> None:
    assert dead_units(hand_built_activations()).item() == 2


def test_dead_units_boundary_is_inclusive_for_decimal_fractions() -> None:
    # One unit active in exactly 29 of 100 samples; 0.29 * 100 == 28.999999999999996 in floats.
    activations = torch.zeros(100, 1)
    activations[:29] = 1.0
    assert dead_units(activations, frac=0.29).item() == 1
    assert dead_units(activations, frac=0.28).item() == 0


def test_dead_units_batched_equals_loop() -> None:
    first = hand_built_activations()
    batch = torch.stack([first, -first, torch.ones_like(first)])
    batched = dead_units(batch, frac=0.25)
    # -first: only the "only negative" column is ever active, so 4 of 5 units are dead.
    assert batched.tolist() == [3, 4, 0]
    assert batched.tolist() == [dead_units(a, frac=0.25).item() for a in batch]


@pytest.mark.parametrize("frac", [-0.01, 1.5, math.nan])
def test_dead_units_rejects_frac_out_of_range(frac: float) -> None:
    with pytest.raises(ValueError, match="frac"):
        dead_units(hand_built_activations(), frac=frac)


# ------------------------------------------------------------------------- symmetry_degree


def rotation(angle: float) -> torch.Tensor:
    cosine, sine = math.cos(angle), math.sin(angle)
    return torch.tensor([[cosine, -sine], [sine, cosine]], dtype=torch.float64)


def test_symmetry_degree_with_identity_eigenvectors() -> None:
    w = torch.tensor([0.5, 1e-4, -1e-4, 0.0, 2.0], dtype=torch.float64)
    eigvecs = torch.eye(5, dtype=torch.float64)
    assert symmetry_degree(w, eigvecs, c_th=1e-3).item() == 3
    # Strictly less than: |+-1e-4| < 1e-4 is false, so only the exact zero counts.
    assert symmetry_degree(w, eigvecs, c_th=1e-4).item() == 1
    assert symmetry_degree(w, eigvecs, c_th=1.0).item() == 4
    assert symmetry_degree(w, eigvecs, c_th=10.0).item() == 5


def test_symmetry_degree_uses_the_columns_of_a_rotated_basis() -> None:
    basis = rotation(math.pi / 6)  # columns v1 = (cos, sin), v2 = (-sin, cos); not symmetric
    w = 3.0 * basis[:, 0]  # coordinates in the column basis: (3, 0)
    assert symmetry_degree(w, basis, c_th=0.1).item() == 1
    # In the row basis the coordinates would be (3 cos 60deg, 3 sin 60deg) = (1.5, 2.6): none small.
    assert symmetry_degree(w, basis.T, c_th=0.1).item() == 0


def test_symmetry_degree_with_eigh_eigenvectors() -> None:
    matrix = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    _, eigvecs = torch.linalg.eigh(matrix)  # columns span (1, -1) and (1, 1)
    assert symmetry_degree(torch.tensor([1.0, 1.0]), eigvecs, c_th=1e-6).item() == 1
    assert symmetry_degree(torch.tensor([1.0, 0.0]), eigvecs, c_th=1e-6).item() == 0


def test_symmetry_degree_batched_w_with_shared_eigenvectors_equals_loop() -> None:
    basis = rotation(0.3)
    w = torch.stack([basis[:, 0], basis[:, 1], torch.zeros(2, dtype=torch.float64), basis.sum(1)])
    batched = symmetry_degree(w, basis, c_th=1e-6)
    assert batched.tolist() == [1, 1, 2, 0]
    assert batched.tolist() == [symmetry_degree(row, basis, c_th=1e-6).item() for row in w]


def test_symmetry_degree_batched_w_and_eigenvectors_equals_loop() -> None:
    bases = torch.stack([rotation(0.0), rotation(0.7), rotation(-1.2)])
    w = torch.stack([torch.tensor([1.0, 0.0], dtype=torch.float64), bases[1, :, 1], bases[0, :, 0]])
    batched = symmetry_degree(w, bases, c_th=1e-6)
    assert batched.tolist() == [1, 1, 0]
    looped = [symmetry_degree(row, basis, c_th=1e-6).item() for row, basis in zip(w, bases, strict=True)]
    assert batched.tolist() == looped


def test_symmetry_degree_accepts_numpy() -> None:
    assert symmetry_degree(np.array([0.0, 1.0]), np.eye(2), c_th=0.5).item() == 1


@pytest.mark.parametrize("c_th", [0.0, -1e-3, math.nan])
def test_symmetry_degree_rejects_non_positive_threshold(c_th: float) -> None:
    with pytest.raises(ValueError, match="c_th"):
        symmetry_degree(torch.ones(2), torch.eye(2), c_th=c_th)


@pytest.mark.parametrize(
    ("w", "eigvecs", "argument"),
    [
        (torch.ones(3), torch.eye(2), "eigvecs"),  # dimension mismatch
        (torch.ones(2), torch.ones(2, 3), "eigvecs"),  # not square
        (torch.ones(2, 2, 2), torch.eye(2), "w"),  # too many dimensions
        (torch.ones(3, 2), torch.eye(2).expand(4, 2, 2), "batch size"),  # batch mismatch
    ],
)
def test_symmetry_degree_rejects_bad_shapes(w: torch.Tensor, eigvecs: torch.Tensor, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        symmetry_degree(w, eigvecs, c_th=0.1)


# --------------------------------------------------------------------- reflection_strength


def invariant_part(theta: torch.Tensor, projector: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """f(theta) that depends on theta' = theta - centre only through ||P theta'|| and (I-P) theta'.

    The reflection theta' -> (I - 2P) theta' keeps both, so f is invariant under it. With
    P = e1 e1^T and centre 0 this is (theta_1^2 - 1)^2 + theta_2^2 theta_1^2.
    """
    offset = theta - centre
    along = (projector @ offset).square().sum()
    across = (offset - projector @ offset).square().sum()
    return (along - 1.0) ** 2 + across * along


def closed_form_strength(
    theta: torch.Tensor,
    projector: torch.Tensor,
    anchor: torch.Tensor,
    centre: torch.Tensor,
    gamma: float,
) -> float:
    # ||theta' - b||^2 - ||(I - 2P) theta' - b||^2 = -4 (P theta')^T b with b = anchor - centre.
    projected = projector @ (theta - centre)
    return (-4.0 * gamma * projected @ (anchor - centre) / projected.norm()).item()


E1 = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
E2 = torch.tensor([[0.0, 0.0], [0.0, 1.0]], dtype=torch.float64)


def test_reflection_strength_hand_computed_value() -> None:
    gamma, anchor = 0.1, torch.tensor([0.5, -1.0], dtype=torch.float64)
    zero = torch.zeros(2, dtype=torch.float64)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        return invariant_part(theta, E1, zero) + gamma * (theta - anchor).square().sum()

    theta = torch.tensor([2.0, 3.0], dtype=torch.float64)
    # 0.1 * [(1.5^2 + 4^2) - (2.5^2 + 4^2)] / |2| = 0.1 * (2.25 - 6.25) / 2 = -0.2
    result = reflection_strength(loss, theta, [E1])
    assert result.shape == (1,)
    assert result.dtype == torch.float64
    assert abs(result.item() - (-0.2)) < 1e-10


def test_reflection_strength_matches_closed_form_for_general_projectors() -> None:
    gamma = 0.37
    anchor = torch.tensor([0.3, -1.2, 0.8], dtype=torch.float64)
    theta = torch.tensor([1.1, 0.4, -0.9], dtype=torch.float64)
    zero = torch.zeros(3, dtype=torch.float64)
    direction = torch.tensor([1.0, 2.0, -2.0], dtype=torch.float64) / 3.0
    rank_one = torch.outer(direction, direction)
    plane = orthonormal_columns(3, 2, seed=11)
    rank_two = plane @ plane.T
    for projector in (rank_one, rank_two):

        def loss(point: torch.Tensor, projector: torch.Tensor = projector) -> torch.Tensor:
            return invariant_part(point, projector, zero) + gamma * (point - anchor).square().sum()

        result = reflection_strength(loss, theta, [projector])
        expected = closed_form_strength(theta, projector, anchor, zero, gamma)
        assert abs(result.item() - expected) < 1e-10


def test_reflection_strength_of_a_symmetric_loss_is_zero() -> None:
    zero = torch.zeros(2, dtype=torch.float64)
    result = reflection_strength(lambda theta: invariant_part(theta, E1, zero), torch.tensor([0.7, -0.2]), [E1])
    assert abs(result.item()) < 1e-6


def test_reflection_strength_with_nonzero_centre() -> None:
    gamma = 0.25
    anchor = torch.tensor([1.0, 2.0], dtype=torch.float64)
    centre = torch.tensor([0.5, -3.0], dtype=torch.float64)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        return invariant_part(theta, E1, centre) + gamma * (theta - anchor).square().sum()

    theta = torch.tensor([2.0, 1.0], dtype=torch.float64)
    # theta' = (1.5, 4), P theta' = (1.5, 0), b = anchor - centre = (0.5, 5):
    # Delta = -4 * 0.25 * (1.5 * 0.5) / 1.5 = -0.5
    result = reflection_strength(loss, theta, [E1], center=[centre])
    assert abs(result.item() - (-0.5)) < 1e-10
    assert abs(result.item() - closed_form_strength(theta, E1, anchor, centre, gamma)) < 1e-10


def test_reflection_strength_several_projectors_as_list_or_stacked_tensor() -> None:
    gamma = 0.1
    anchor = torch.tensor([0.5, -1.0], dtype=torch.float64)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        # theta_1^2 theta_2^2 + theta_1^4 + theta_2^4 is invariant under flipping either sign.
        invariant = theta.square().prod() + theta.pow(4).sum()
        return invariant + gamma * (theta - anchor).square().sum()

    theta = torch.tensor([2.0, 3.0], dtype=torch.float64)
    centres = torch.zeros(2, 2, dtype=torch.float64)
    # E1: -0.4 * (2 * 0.5) / 2 = -0.2.  E2: -0.4 * (3 * -1) / 3 = 0.4.
    expected = torch.tensor([-0.2, 0.4], dtype=torch.float64)
    from_list = reflection_strength(loss, theta, [E1, E2])
    from_tensor = reflection_strength(loss, theta, torch.stack([E1, E2]), center=centres)
    from_numpy = reflection_strength(loss, theta.numpy(), np.stack([E1.numpy(), E2.numpy()]))
    for result in (from_list, from_tensor, from_numpy):
        assert result.shape == (2,)
        torch.testing.assert_close(result, expected, atol=1e-10, rtol=0.0)


def test_reflection_strength_is_nan_at_a_symmetric_point() -> None:
    anchor = torch.tensor([0.5, -1.0], dtype=torch.float64)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        return (theta - anchor).square().sum()

    # P theta' = 0 for E1 (theta_1 = centre_1) but not for E2.
    theta = torch.tensor([0.0, 3.0], dtype=torch.float64)
    result = reflection_strength(loss, theta, [E1, E2])
    assert math.isnan(result[0].item())
    assert result[1].item() == pytest.approx(-4.0 * 3.0 * -1.0 / 3.0, abs=1e-10)
    centre = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    shifted = reflection_strength(loss, torch.tensor([1.0, 5.0]), [E1], center=centre)
    assert math.isnan(shifted.item())


@pytest.mark.parametrize(
    ("projector", "problem"),
    [
        (2.0 * E1, "projection"),  # symmetric but P @ P = 2P
        (torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64), "symmetric"),  # oblique
    ],
)
def test_reflection_strength_rejects_non_projections(projector: torch.Tensor, problem: str) -> None:
    with pytest.raises(ValueError, match=rf"projectors\[1\].*{problem}"):
        reflection_strength(lambda theta: theta.sum(), torch.ones(2), [E1, projector])


@pytest.mark.parametrize(
    ("theta", "projectors", "center", "argument"),
    [
        (torch.ones(2, 2), [E1], None, "theta"),
        (torch.ones(3), [E1], None, "projectors"),
        (torch.ones(2), [E1, torch.eye(3)], None, "projectors"),
        (torch.ones(2), torch.eye(2), None, "projectors"),  # missing the N dimension
        (torch.ones(2), [], None, "projectors"),
        (torch.ones(2), [E1, E2], [torch.zeros(2)], "center"),  # one centre for two projectors
        (torch.ones(2), [E1], torch.zeros(3), "center"),
    ],
)
def test_reflection_strength_rejects_bad_shapes(
    theta: torch.Tensor, projectors: object, center: object, argument: str
) -> None:
    with pytest.raises(ValueError, match=argument):
        reflection_strength(lambda point: point.sum(), theta, projectors, center)


def test_reflection_strength_rejects_non_scalar_loss() -> None:
    with pytest.raises(ValueError, match="loss must return a scalar"):
        reflection_strength(lambda point: point, torch.ones(2), [E1])


def test_reflection_strength_rejects_non_callable_loss() -> None:
    with pytest.raises(TypeError, match="loss must be callable"):
        reflection_strength(None, torch.ones(2), [E1])  # type: ignore[arg-type]


# ------------------------------------------------------------------ shared input validation


@pytest.mark.parametrize("metric", [effective_rank, covariance_rank, approximate_rank, dead_units])
@pytest.mark.parametrize("shape", [(4,), (2, 3, 4, 5), (0, 3), (3, 0)])
def test_feature_metrics_reject_bad_shapes(metric, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"shape \("):
        metric(torch.ones(shape))


@pytest.mark.parametrize("metric", [effective_rank, covariance_rank, approximate_rank, dead_units])
def test_feature_metrics_reject_non_finite_values(metric) -> None:
    features = torch.ones(3, 3)
    features[1, 1] = math.nan
    with pytest.raises(ValueError, match="finite"):
        metric(features)


@pytest.mark.parametrize("threshold", [-1e-4, math.nan])
def test_covariance_rank_rejects_bad_threshold(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        covariance_rank(torch.eye(3), threshold=threshold)


def test_covariance_rank_rejects_a_single_sample() -> None:
    with pytest.raises(ValueError, match="at least 2 samples"):
        covariance_rank(torch.ones(1, 3))
