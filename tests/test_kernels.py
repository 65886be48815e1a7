"""The counter-based generator and the fused seeded anchor step (syre_tune.kernels).

References: Random123's published Philox4x32-10 known answers; Triton's own ``tl.randint4x`` /
``tl.rand`` / ``tl.randn`` (run under ``TRITON_INTERPRET=1``); the literal decoupled step
φ − rate·D·(φ − θ0) in float64 with θ0 and D materialised.

The Triton checks need ``TRITON_INTERPRET=1`` set before Triton is first imported, so
:func:`test_triton_interpreter_checks` re-runs this file in a subprocess with it set; there the tests
marked ``interpreted`` run and the others are skipped (and the other way round here).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import bench_scripts
import pytest
import torch
from torch import nn
from torch.func import functional_call

from syre_tune import Syre, _random
from syre_tune.kernels import _philox, anchor, anchor_decay_, fill_diag_, fill_theta0_, stream_key

pytestmark = pytest.mark.usefixtures("one_thread")  # elementwise int64 ops on ~1e5 elements: threads only add waits

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
interpreted = pytest.mark.skipif(not INTERPRETED, reason="runs in the TRITON_INTERPRET=1 subprocess")
plain = pytest.mark.skipif(INTERPRETED, reason="runs in the parent process")

# Random123 kat_vectors for philox4x32_10: counter, key, output.
RANDOM123_KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]
# Odd sizes: none a multiple of the Triton block or of a small PyTorch chunk; one 0-d, one empty.
SHAPES = [(37, 29), (1500,), (5,), (3, 3, 7, 11), (), (0, 4)]
STDS = [0.5, 0.1, 2.0, 0.03, 1.0, 1.0]
RATE = 0.05


def _keys(what: str, seed: int = 1) -> list[int]:
    return [stream_key(seed, f"layer{i}.weight", what) for i in range(len(SHAPES))]


def _parameters(dtype: torch.dtype) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [(3 * torch.randn(shape, generator=generator)).to(dtype) for shape in SHAPES]


def _literal_step(phi: torch.Tensor, key: int, std: float, sigma_d: float, diag_key: int) -> torch.Tensor:
    """φ − rate·D·(φ − θ0) in float64, θ0 = std·z and D = 1 + √3σ_D(2u − 1) materialised in full."""
    index = torch.arange(phi.numel())
    theta0 = std * _philox.randn(key, index).double()
    diag = 1 + math.sqrt(3) * sigma_d * (2 * _philox.rand(diag_key, index).double() - 1)
    flat = phi.double().reshape(-1)
    return (flat - RATE * diag * (flat - theta0)).reshape(phi.shape)


def _assert_close_to_literal(result: torch.Tensor, literal: torch.Tensor) -> None:
    """Within the one rounding at the store (half an ulp of the result's dtype) plus the float32
    arithmetic before it (θ0 in float32, then three float32 operations: a few float32 ulps)."""
    half_ulp = torch.finfo(result.dtype).eps / 2 * literal.abs()
    float32_slack = 4 * torch.finfo(torch.float32).eps * (literal.abs() + 1)
    error = (result.double() - literal).abs()
    assert error.le(half_ulp + float32_slack).all(), error.max()


# ----------------------------------------------------------------------------- the generator alone
@plain
@pytest.mark.parametrize("counter,key,expected", RANDOM123_KNOWN_ANSWERS)
def test_philox_matches_random123_known_answers(counter, key, expected) -> None:
    words = _philox.philox4x32(tuple(torch.tensor([c]) for c in counter), key)
    assert [int(w) for w in words] == list(expected)


@plain
def test_stream_key_is_the_hash_that_keys_todays_generator() -> None:
    # One hash of (seed, name, what) for both generators: _random seeds torch's CPU generator with it.
    for seed, name, what in [(0, "fc.weight", "theta0"), (7, "fc.weight", "diag"), (2**40, "a.b.c", "theta0")]:
        assert stream_key(seed, name, what) == _random.generator(seed, name, what).initial_seed()


@plain
def test_normal_draws_have_the_moments_and_shape_of_a_standard_normal() -> None:
    count = 100_000
    z = _philox.randn(stream_key(0, "w", "theta0"), torch.arange(count)).double()
    assert abs(z.mean()) < 5 / math.sqrt(count)
    assert abs(z.std() - 1) < 0.01
    # Kolmogorov-Smirnov against Φ: D < 1.95/√n is the 0.1 % critical value.
    ks = (torch.special.ndtr(z.sort().values) - torch.arange(1, count + 1) / count).abs().max()
    assert ks < 1.95 / math.sqrt(count)
    # Box-Muller on u1 ≥ 1e-7 bounds |z| by √(−2 ln 1e-7) ≈ 5.68 (the tails are cut).
    assert z.abs().max() <= math.sqrt(-2 * math.log(1e-7)) + 1e-6


@plain
def test_uniform_draws_are_uniform_on_the_unit_interval() -> None:
    count = 100_000
    u = _philox.rand(stream_key(0, "w", "diag"), torch.arange(count)).double()
    assert u.min() >= 0 and u.max() < 1
    ks = (u.sort().values - torch.arange(1, count + 1) / count).abs().max()
    assert ks < 1.95 / math.sqrt(count)


@plain
def test_streams_of_different_keys_and_neighbouring_indices_are_uncorrelated() -> None:
    count = 100_000
    index = torch.arange(count)
    streams = {
        "theta0 w": _philox.randn(stream_key(0, "w", "theta0"), index),
        "theta0 v": _philox.randn(stream_key(0, "v", "theta0"), index),
        "theta0 w seed 1": _philox.randn(stream_key(1, "w", "theta0"), index),
        "diag w": _philox.rand(stream_key(0, "w", "diag"), index),
    }
    values = torch.stack(list(streams.values())).double()
    correlation = torch.corrcoef(torch.cat([values, values[:1].roll(1, dims=1)]))
    off_diagonal = correlation - torch.eye(len(values) + 1)
    assert off_diagonal.abs().max() < 5 / math.sqrt(count), off_diagonal  # 5σ of a sample correlation


@plain
def test_draws_depend_only_on_key_and_index() -> None:
    key = stream_key(3, "w", "theta0")
    whole = _philox.randn(key, torch.arange(5000))
    assert torch.equal(whole, _philox.randn(key, torch.arange(5000)))
    assert torch.equal(whole[4321:4500], _philox.randn(key, torch.arange(4321, 4500)))
    assert torch.equal(whole.flip(0), _philox.randn(key, torch.arange(4999, -1, -1)))


@plain
def test_draws_are_pinned_so_results_reproduce_across_releases() -> None:
    """θ0 and D for (seed 0, name "w"): a stored study stays reproducible only if these never change."""
    theta0, diag = torch.empty(4), torch.empty(4)
    fill_theta0_([theta0], [stream_key(0, "w", "theta0")], [1.0])
    fill_diag_([diag], [stream_key(0, "w", "diag")], 0.5)
    pinned_theta0 = [-0.38660532236099243, 1.3804640769958496, -0.9936089515686035, 0.031710412353277206]
    pinned_diag = [1.783982515335083, 0.618296205997467, 1.1366465091705322, 0.3485957980155945]
    torch.testing.assert_close(theta0, torch.tensor(pinned_theta0), rtol=0, atol=1e-6)
    torch.testing.assert_close(diag, torch.tensor(pinned_diag), rtol=0, atol=1e-6)


# ------------------------------------------------------------------ the step, plain PyTorch path
@plain
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("sigma_d", [0.0, 0.3])
def test_torch_step_is_the_literal_decoupled_step(monkeypatch, dtype, sigma_d) -> None:
    monkeypatch.setattr(anchor, "CHUNK", 97)  # many chunks per tensor, boundaries inside tensors
    params = _parameters(dtype)
    keys, diag_keys = _keys("theta0"), _keys("diag")
    literal = [_literal_step(p, k, s, sigma_d, d) for p, k, s, d in zip(params, keys, STDS, diag_keys)]
    anchor_decay_(params, keys, STDS, rate=RATE, sigma_d=sigma_d, diag_keys=diag_keys, backend="torch")
    for result, expected in zip(params, literal):
        assert result.dtype == dtype
        _assert_close_to_literal(result, expected)


@plain
def test_torch_step_twice_is_two_literal_steps_and_theta0_is_a_fixed_point() -> None:
    params = _parameters(torch.float32)
    keys, diag_keys = _keys("theta0"), _keys("diag")
    expected = [p.double() for p in params]
    for _ in range(2):
        anchor_decay_(params, keys, STDS, rate=RATE, sigma_d=0.2, diag_keys=diag_keys)
        expected = [_literal_step(e, k, s, 0.2, d) for e, k, s, d in zip(expected, keys, STDS, diag_keys)]
    for result, literal in zip(params, expected):
        _assert_close_to_literal(result, literal)
    theta0 = [torch.empty(shape) for shape in SHAPES]
    fill_theta0_(theta0, keys, STDS)
    before = [t.clone() for t in theta0]
    anchor_decay_(theta0, keys, STDS, rate=0.5)
    assert all(torch.equal(a, b) for a, b in zip(theta0, before))


@plain
def test_torch_step_on_non_contiguous_tensors_uses_logical_indices() -> None:
    key = stream_key(0, "conv.weight", "theta0")
    dense = torch.randn(4, 3, 5, 5)
    channels_last = dense.clone().to(memory_format=torch.channels_last)
    transposed = dense.clone().reshape(12, 25).t().contiguous().t()  # same values, column-major
    anchor_decay_([dense, channels_last, transposed], [key] * 3, [0.1] * 3, rate=RATE)
    assert torch.equal(channels_last, dense) and channels_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(transposed, dense.reshape(12, 25))


@plain
def test_filled_theta0_and_diag_are_the_draws_scaled() -> None:
    key, diag_key = stream_key(2, "w", "theta0"), stream_key(2, "w", "diag")
    theta0, diag = torch.empty(40, 30), torch.empty(40, 30)
    fill_theta0_([theta0], [key], [0.25])
    fill_diag_([diag], [diag_key], 0.4)
    index = torch.arange(1200)
    assert torch.equal(theta0.reshape(-1), _philox.randn(key, index) * torch.tensor(0.25))
    expected = 1 + math.sqrt(3) * 0.4 * (2 * _philox.rand(diag_key, index).double() - 1)
    assert torch.allclose(diag.reshape(-1).double(), expected, rtol=0, atol=1e-6)
    assert diag.min() > 1 - math.sqrt(3) * 0.4 - 1e-6 and diag.max() < 1 + math.sqrt(3) * 0.4 + 1e-6


@plain
@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"sigma_d": 0.6, "diag_keys": [1]}, "sigma_d must be in"),
        ({"sigma_d": 0.1}, "needs one diag key"),
        ({"keys": [2**63]}, "63-bit"),
        ({"keys": [1, 2]}, "one key and one std per tensor"),
        ({"backend": "cuda"}, "backend must be one of"),
        ({"rate": math.nan}, "rate must be finite"),
    ],
)
def test_invalid_arguments_say_what_was_expected(kwargs, message) -> None:
    arguments = {"keys": [1], "stds": [0.1], "rate": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        anchor_decay_([torch.zeros(3)], arguments.pop("keys"), arguments.pop("stds"), **arguments)
    with pytest.raises(ValueError, match="float32, bfloat16 or float16"):
        anchor_decay_([torch.zeros(3, dtype=torch.float64)], [1], [0.1], rate=0.1)


@plain
def test_bench_script_smoke(tmp_path: Path) -> None:
    """bench/anchor_kernel.py at a tiny budget: every CPU variant runs and is reported (times not asserted)."""
    module = bench_scripts.load("anchor_kernel")
    module.main(["--smoke-test", "--json", str(tmp_path / "out.json")])
    written = json.loads((tmp_path / "out.json").read_text())
    variants = {row["variant"] for row in written["results"]}
    assert variants == {"adamw_decay", "lerp_stored", "drawn_lerp", "seeded_torch", "seeded_torch_diag"}


# ------------------------------------------------------------------------ Triton, interpreted
@plain
def test_triton_interpreter_checks() -> None:
    """Runs the ``interpreted`` tests below in a subprocess with TRITON_INTERPRET=1."""
    if not anchor.triton_available():
        pytest.skip("Triton is not installed")
    environment = {**os.environ, "TRITON_INTERPRET": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__))]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout


if INTERPRETED and anchor.triton_available():
    import triton
    import triton.language as tl

    @triton.jit
    def _triton_draws(key_ptr, offset_ptr, words_ptr, uniform_ptr, normal_ptr, count, BLOCK: tl.constexpr):
        """Triton's own generator at the given int64 offsets: the four randint4x words, rand, randn."""
        position = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        inside = position < count
        key = tl.load(key_ptr)
        offset = tl.load(offset_ptr + position, mask=inside)
        word0, word1, word2, word3 = tl.randint4x(key, offset)
        tl.store(words_ptr + 0 * count + position, word0.to(tl.int64), mask=inside)
        tl.store(words_ptr + 1 * count + position, word1.to(tl.int64), mask=inside)
        tl.store(words_ptr + 2 * count + position, word2.to(tl.int64), mask=inside)
        tl.store(words_ptr + 3 * count + position, word3.to(tl.int64), mask=inside)
        tl.store(uniform_ptr + position, tl.rand(key, offset), mask=inside)
        tl.store(normal_ptr + position, tl.randn(key, offset), mask=inside)


class _CountLaunches:
    """Wraps a Triton kernel and counts ``kernel[grid](...)`` launches."""

    def __init__(self, kernel) -> None:
        self.kernel, self.launches = kernel, 0

    def __getitem__(self, grid):
        self.launches += 1
        return self.kernel[grid]


# The measured bound of |Triton − PyTorch| on normals (interpreter: numpy's float32 log/cos against
# torch's), over 4.2M draws: 7.2e-7 absolute, 5 float32 ulps, 67 % bit-identical; |z| ≤ 5.68. On a
# GPU, libdevice/approximate log and cos may differ more: unmeasured here.
NORMAL_BOUND = 1e-6


@interpreted
@pytest.mark.parametrize("key", [stream_key(0, "w", "theta0"), 0, 2**63 - 1, 0xFFFFFFFF])
def test_torch_generator_is_tritons_generator(key) -> None:
    count = 20_000
    offsets = torch.cat([torch.arange(count - 3), torch.tensor([2**31 - 1, 2**32 + 5, 2**40 + 7])])
    words, uniform, normal = torch.empty(4, count, dtype=torch.int64), torch.empty(count), torch.empty(count)
    _triton_draws[(triton.cdiv(count, 4096),)](torch.tensor([key]), offsets, words, uniform, normal, count, BLOCK=4096)
    assert all(torch.equal(ours, theirs) for ours, theirs in zip(_philox.randint4x(key, offsets), words))
    assert torch.equal(_philox.rand(key, offsets), uniform)
    ours = _philox.randn(key, offsets)
    assert (ours - normal).abs().max() <= NORMAL_BOUND
    ulps = (ours.view(torch.int32).long() - normal.view(torch.int32).long()).abs()
    assert ulps.max() <= 8 and ulps.float().mean() < 1


@interpreted
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("sigma_d", [0.0, 0.3])
def test_kernel_is_the_torch_path_and_the_literal_step_in_one_launch(monkeypatch, dtype, sigma_d) -> None:
    monkeypatch.setattr(anchor, "BLOCK", 128)  # several blocks per tensor, none of them full at the end
    counter = _CountLaunches(anchor._anchor_kernel)
    monkeypatch.setattr(anchor, "_anchor_kernel", counter)
    keys, diag_keys = _keys("theta0"), _keys("diag")
    kernel, torch_path = _parameters(dtype), _parameters(dtype)
    literal = [_literal_step(p, k, s, sigma_d, d) for p, k, s, d in zip(kernel, keys, STDS, diag_keys)]
    anchor_decay_(kernel, keys, STDS, rate=RATE, sigma_d=sigma_d, diag_keys=diag_keys, backend="triton")
    anchor_decay_(torch_path, keys, STDS, rate=RATE, sigma_d=sigma_d, diag_keys=diag_keys, backend="torch")
    assert counter.launches == 1
    ulp = torch.finfo(dtype).eps
    for from_kernel, from_torch, expected in zip(kernel, torch_path, literal):
        assert from_kernel.dtype == dtype
        _assert_close_to_literal(from_kernel, expected)
        # The two paths differ only through log/cos in θ0 (NORMAL_BOUND·std ≤ 2e-6 here), which can
        # flip at most one rounding of the stored value.
        assert (from_kernel.double() - from_torch.double()).abs().le(ulp * (from_torch.double().abs() + 1)).all()


@interpreted
def test_kernel_twice_is_two_literal_steps_across_dtypes_and_layouts(monkeypatch) -> None:
    monkeypatch.setattr(anchor, "BLOCK", 256)
    counter = _CountLaunches(anchor._anchor_kernel)
    monkeypatch.setattr(anchor, "_anchor_kernel", counter)
    keys, diag_keys = _keys("theta0"), _keys("diag")
    params = _parameters(torch.float32)
    params[0] = params[0].t()  # non-contiguous: indices stay row-major in the logical shape
    params[1] = params[1].to(torch.bfloat16)  # a second dtype: a second launch
    expected = [p.double() for p in params]
    for _ in range(2):
        anchor_decay_(params, keys, STDS, rate=RATE, sigma_d=0.1, diag_keys=diag_keys, backend="triton")
        expected = [_literal_step(e, k, s, 0.1, d) for e, k, s, d in zip(expected, keys, STDS, diag_keys)]
    assert counter.launches == 4
    for result, literal in zip(params, expected):
        # Two steps: the first step's rounding carries into the second (bf16: one ulp in all).
        eps = torch.finfo(result.dtype).eps
        assert (result.double() - literal).abs().le((literal.abs() + 1) * 2 * eps).all()


@interpreted
def test_kernel_fills_the_same_theta0_and_diag_as_the_torch_path(monkeypatch) -> None:
    monkeypatch.setattr(anchor, "BLOCK", 256)
    keys, diag_keys = _keys("theta0"), _keys("diag")
    theta0 = {backend: [torch.empty(shape) for shape in SHAPES] for backend in ("triton", "torch")}
    diag = {backend: [torch.empty(shape) for shape in SHAPES] for backend in ("triton", "torch")}
    for backend in ("triton", "torch"):
        fill_theta0_(theta0[backend], keys, STDS, backend=backend)
        fill_diag_(diag[backend], diag_keys, 0.3, backend=backend)
    for from_kernel, from_torch, std in zip(theta0["triton"], theta0["torch"], STDS):
        assert (from_kernel - from_torch).abs().le(NORMAL_BOUND * std).all()
    assert all(torch.equal(a, b) for a, b in zip(diag["triton"], diag["torch"]))


# ------------------------------------------------------------- Syre through the generator and kernel
# Runs in both processes: here through the plain PyTorch path; in the TRITON_INTERPRET=1 subprocess
# with every draw and step forced through the Triton kernels (θ0 filled for store="buffer", θ0
# regenerated for store="seed" and for bias mode's forward pass, the fused anchor step), and there
# also against the PyTorch path.
SYRE_LR, SYRE_GAMMA, SYRE_SIGMA0 = 0.1, 0.5, 2.0  # rate lr·2γ = 0.1: the decay is many bf16 ulps


def _mlp(dtype: torch.dtype) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(7, 33), nn.Tanh(), nn.Linear(33, 3)).to(dtype)


def _syre_one_step(mode: str, store: str, sigma_d: float, dtype: torch.dtype):
    """One SGD step of the attached model on a fixed batch, decay first (AdamW's order). Returns the
    Syre, the effective parameters before and after (float64) and the batch."""
    syre = Syre(SYRE_SIGMA0, SYRE_GAMMA, sigma_d=sigma_d, seed=5, mode=mode, store=store)
    model = syre.attach(_mlp(dtype))
    with torch.no_grad():  # away from the start: in bias mode θ ≠ 0, in anchor mode φ ≠ θ0
        for param in model.parameters():
            param.add_(0.25)
    before = {name: w.double() for name, w in syre.effective_parameters(model).items()}
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 7, generator=generator), torch.randn(16, 3, generator=generator)
    ((model(x.to(dtype)).float() - y) ** 2).mean().backward()
    syre.decay_(model, SYRE_LR)
    torch.optim.SGD(model.parameters(), lr=SYRE_LR).step()
    after = {name: w.double() for name, w in syre.effective_parameters(model).items()}
    return syre, model, before, after, (x, y)


def _reference_theta0_and_diag(name: str, shape: tuple, sigma_d: float) -> tuple[torch.Tensor, torch.Tensor]:
    """θ0 and D of parameter ``name`` in float64, written out from Triton's Philox (seed 5)."""
    index = torch.arange(math.prod(shape))
    theta0 = _philox.randn(stream_key(5, name, "theta0"), index).double().reshape(shape)
    in_features = {"0": 7, "2": 33}[name.split(".")[0]]  # _mlp's Linear layers: weight and bias alike
    theta0 = theta0 * SYRE_SIGMA0 / math.sqrt(in_features)
    uniform = _philox.rand(stream_key(5, name, "diag"), index).double().reshape(shape)
    return theta0, 1 + math.sqrt(3) * sigma_d * (2 * uniform - 1)


def _literal_objective_step(before, x, y, sigma_d: float) -> dict[str, torch.Tensor]:
    """w − lr·∇_w[l(w) + γ Σ D (w − θ0)²] in float64."""
    plain64 = _mlp(torch.float64)
    weights = {name: w.clone().requires_grad_(True) for name, w in before.items()}
    loss = ((functional_call(plain64, weights, (x.double(),)) - y.double()) ** 2).mean()
    for name, w in weights.items():
        theta0, diag = _reference_theta0_and_diag(name, tuple(w.shape), sigma_d)
        loss = loss + SYRE_GAMMA * (diag * (w - theta0) ** 2).sum()
    grads = torch.autograd.grad(loss, list(weights.values()))
    return {name: (w - SYRE_LR * g).detach() for (name, w), g in zip(weights.items(), grads)}


def _within_roundings(result: dict, expected: dict, dtype: torch.dtype) -> None:
    """At most three roundings to ``dtype``, half an ulp each: the decay's store, the optimizer's store
    and, in bias mode, the forward pass's θ + θ0 (an ulp of |θ| ≤ |w| + |θ0|); plus the float32 error
    of θ0 (NORMAL_BOUND·std where the kernel's log/cos differ from torch's) and of the gradient. A
    decay toward 0 instead of θ0 is off by lr·2γ·|θ0| ≈ 0.1·|θ0|, far outside (bf16: 2⁻⁶·(|w| + |θ0|))."""
    for name, literal in expected.items():
        theta0, _ = _reference_theta0_and_diag(name, tuple(literal.shape), 0.0)
        bound = 2 * torch.finfo(dtype).eps * (literal.abs() + theta0.abs()) + 1e-5
        error = (result[name] - literal).abs()
        assert error.le(bound).all(), f"{name}: {error.max():.3g} over the bound"


@pytest.mark.parametrize("mode", ["bias", "anchor"])
@pytest.mark.parametrize("store", ["buffer", "seed"])
@pytest.mark.parametrize("sigma_d", [0.0, 0.3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_syre_step_is_the_literal_objectives_gradient_step(monkeypatch, mode, store, sigma_d, dtype) -> None:
    if INTERPRETED:  # every draw and every anchor step through the Triton kernel
        monkeypatch.setattr(anchor, "_uses_triton", lambda tensor, backend: backend != "torch")
    syre, model, before, after, (x, y) = _syre_one_step(mode, store, sigma_d, dtype)
    theta0 = syre.theta0(model)
    assert all(t.dtype == torch.float32 for t in theta0.values())  # θ0 kept in float32 beside bf16
    _within_roundings(after, _literal_objective_step(before, x, y, sigma_d), dtype)
    if INTERPRETED:  # and the kernel's step is the PyTorch path's, to an ulp of the parameter
        monkeypatch.undo()
        _, _, _, from_torch, _ = _syre_one_step(mode, store, sigma_d, dtype)
        _within_roundings(after, from_torch, dtype)


@pytest.mark.parametrize("sigma_d", [0.0, 0.3])
def test_stored_and_regenerated_theta0_are_identical_and_train_alike(monkeypatch, sigma_d) -> None:
    """store="buffer" draws θ0 once, store="seed" regenerates it every step, with the same generator
    on the same device: θ0 and D bit-identical, and three steps apart by at most an ulp per step."""
    if INTERPRETED:
        monkeypatch.setattr(anchor, "_uses_triton", lambda tensor, backend: backend != "torch")
    runs = {}
    for store in ("buffer", "seed"):
        syre = Syre(SYRE_SIGMA0, SYRE_GAMMA, sigma_d=sigma_d, seed=5, mode="anchor", store=store)
        model = syre.attach(_mlp(torch.float32))
        optimizer = torch.optim.AdamW(model.parameters(), lr=SYRE_LR, weight_decay=0.0)
        x = torch.randn(16, 7, generator=torch.Generator().manual_seed(1))
        for _ in range(3):
            optimizer.zero_grad()
            model(x).square().mean().backward()
            syre.decay_(model, SYRE_LR)
            optimizer.step()
        runs[store] = (syre.theta0(model), syre.diag(model), syre.effective_parameters(model))
    for stored, regenerated in zip(runs["buffer"][:2], runs["seed"][:2]):
        assert all(torch.equal(stored[name], regenerated[name]) for name in stored)
    for name, w in runs["buffer"][2].items():
        assert (w - runs["seed"][2][name]).abs().le(3 * torch.finfo(torch.float32).eps * (w.abs() + 1)).all()


@interpreted
def test_bound_step_launches_once_per_call_and_follows_moved_storage(monkeypatch) -> None:
    """SeededDecay keeps its block table between calls (one launch each) and rebuilds it when a
    tensor's storage moves, so it never writes through a stale address."""
    from syre_tune.kernels import SeededDecay

    monkeypatch.setattr(anchor, "BLOCK", 256)
    counter = _CountLaunches(anchor._anchor_kernel)
    monkeypatch.setattr(anchor, "_anchor_kernel", counter)
    keys, diag_keys = _keys("theta0"), _keys("diag")
    params = _parameters(torch.float32)
    step = SeededDecay(params, keys, STDS, sigma_d=0.1, diag_keys=diag_keys, backend="triton")
    expected = [p.double() for p in params]
    for call in range(3):
        if call == 2:
            params[1].data = params[1].data.clone()  # a new storage for the same tensor object
        step(RATE)
        expected = [_literal_step(e, k, s, 0.1, d) for e, k, s, d in zip(expected, keys, STDS, diag_keys)]
    assert counter.launches == 3
    for result, literal in zip(params, expected):
        assert (result.double() - literal).abs().le((literal.abs() + 1) * 3 * torch.finfo(torch.float32).eps).all()
