"""The syre core against the paper's literal objective (Eq. 6-7) and its stated properties."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from syre_tune import Syre, WFix, functional
from syre_tune._random import fan_in


@pytest.fixture(autouse=True)
def float64() -> None:
    """Exact comparisons in float64, restored afterwards so other test modules keep float32."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def make_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(16, 5, generator=gen), torch.randn(16, 3, generator=gen)


def task_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((model(x) - y) ** 2).mean()


MODES = [("bias", "buffer"), ("bias", "seed"), ("anchor", "buffer"), ("anchor", "seed")]


@pytest.mark.parametrize("mode,store", MODES)
def test_gradient_equals_literal_objective(mode: str, store: str) -> None:
    """∇ of l(θ + θ0) + γ Σ D θ², written out by hand, equals the attached model's gradient."""
    plain = make_mlp()
    x, y = batch()
    syre = Syre(0.3, 0.7, sigma_d=0.2, seed=3, mode=mode, store=store)
    model = syre.attach(copy.deepcopy(plain))
    theta0, diag = syre.theta0(model), syre.diag(model)

    theta = {n: p.detach().clone().requires_grad_(True) for n, p in plain.named_parameters()}
    effective = {n: theta[n] + theta0[n] for n in theta}
    literal = task_loss_functional(plain, effective, x, y)
    literal = literal + 0.7 * sum((diag[n] * theta[n] ** 2).sum() for n in theta)
    literal.backward()

    loss = task_loss(model, x, y) + syre.penalty(model)
    loss.backward()
    assert torch.allclose(loss, literal, atol=1e-12)
    trainable = dict(model.named_parameters())
    for name in theta:
        key = (
            name
            if mode == "anchor"
            else name.replace(".weight", ".parametrizations.weight.original").replace(
                ".bias", ".parametrizations.bias.original"
            )
        )
        assert torch.allclose(trainable[key].grad, theta[name].grad, atol=1e-12), name


def task_loss_functional(plain: nn.Module, params: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((functional_call(plain, params, (x,)) - y) ** 2).mean()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_bias_and_anchor_follow_the_same_trajectory(optimizer: str) -> None:
    """Same effective parameters at the start and after 150 steps of a torch optimizer."""
    x, y = batch()
    models, syres, opts = [], [], []
    for mode in ("bias", "anchor"):
        syre = Syre(0.5, 0.05, sigma_d=0.1, seed=11, mode=mode)
        model = syre.attach(make_mlp())
        opt = (
            torch.optim.SGD(model.parameters(), lr=0.05)
            if optimizer == "sgd"
            else torch.optim.Adam(model.parameters(), lr=1e-2)
        )
        models.append(model), syres.append(syre), opts.append(opt)
    start = [s.effective_parameters(m) for s, m in zip(syres, models)]
    for name in start[0]:
        assert torch.equal(start[0][name], start[1][name])
    for _ in range(150):
        for syre, model, opt in zip(syres, models, opts):
            opt.zero_grad()
            (task_loss(model, x, y) + syre.penalty(model)).backward()
            opt.step()
    end = [s.effective_parameters(m) for s, m in zip(syres, models)]
    moved = max((end[0][n] - start[0][n]).abs().max().item() for n in end[0])
    assert moved > 1e-2  # the test is not vacuous: training moved the parameters
    for name in end[0]:
        assert torch.allclose(end[0][name], end[1][name], atol=1e-9), name


def test_decay_matches_adamw_weight_decay_2gamma() -> None:
    """decay_(lr) then Adam's step == AdamW(weight_decay=2γ) when σ0 = 0: the documented mapping."""
    x, y = batch()
    gamma, lr = 0.3, 1e-2
    reference = make_mlp()
    ref_opt = torch.optim.AdamW(reference.parameters(), lr=lr, weight_decay=2 * gamma)
    syre = Syre(0.0, gamma)
    model = syre.attach(make_mlp())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(50):
        ref_opt.zero_grad(), opt.zero_grad()
        task_loss(reference, x, y).backward()
        task_loss(model, x, y).backward()
        syre.decay_(model, lr)
        opt.step(), ref_opt.step()
    effective = syre.effective_parameters(model)
    for name, param in reference.named_parameters():
        assert torch.allclose(effective[name], param, atol=1e-12), name


@pytest.mark.parametrize("sigma_d", [0.0, 0.2])
def test_decay_bias_and_anchor_agree(sigma_d: float) -> None:
    x, y = batch()
    runs = []
    for mode, store in MODES:
        syre = Syre(0.4, 0.2, sigma_d=sigma_d, seed=5, mode=mode, store=store)
        model = syre.attach(make_mlp())
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(40):
            opt.zero_grad()
            task_loss(model, x, y).backward()
            syre.decay_(model, 1e-2)
            opt.step()
        runs.append(syre.effective_parameters(model))
    for other in runs[1:]:
        for name in runs[0]:
            assert torch.allclose(runs[0][name], other[name], atol=1e-9), name


def test_anchor_seed_store_is_bit_identical_to_buffer() -> None:
    x, y = batch()
    results = []
    for store in ("buffer", "seed"):
        syre = Syre(0.4, 0.2, sigma_d=0.3, seed=5, mode="anchor", store=store)
        model = syre.attach(make_mlp())
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(30):
            opt.zero_grad()
            (task_loss(model, x, y) + syre.penalty(model)).backward()
            opt.step()
            syre.decay_(model, 0.1)
        results.append((syre.theta0(model), syre.diag(model), syre.effective_parameters(model)))
    for a, b in zip(results[0], results[1]):
        for name in a:
            assert torch.equal(a[name], b[name]), name
    # store="seed" keeps nothing on the model
    seeded = Syre(0.4, 0.2, sigma_d=0.3, mode="anchor", store="seed").attach(make_mlp())
    assert set(seeded.state_dict()) == set(make_mlp().state_dict())


def test_theta0_is_deterministic_and_independent_of_global_rng() -> None:
    draws = []
    for global_seed in (0, 123):
        torch.manual_seed(global_seed)
        torch.randn(100)  # disturb the global generator
        syre = Syre(0.5, 0.1, sigma_d=0.2, seed=9)
        model = syre.attach(make_mlp())
        draws.append((syre.theta0(model), syre.diag(model)))
    for name in draws[0][0]:
        assert torch.equal(draws[0][0][name], draws[1][0][name])
        assert torch.equal(draws[0][1][name], draws[1][1][name])
    other = Syre(0.5, 0.1, sigma_d=0.2, seed=10)
    other_theta0 = other.theta0(other.attach(make_mlp()))
    assert not torch.equal(other_theta0["0.weight"], draws[0][0]["0.weight"])
    # θ0 is keyed by name, not by order of drawing: the same layer gets the same draw
    first = Syre(0.5, 0.1, seed=9, params=["2.*"])
    assert torch.equal(first.theta0(first.attach(make_mlp()))["2.weight"], draws[0][0]["2.weight"])


def test_relative_units_use_the_layers_fan_in_for_a_bias() -> None:
    """σ0's relative unit per tensor, against torch's own init convention: a bias takes its layer's
    fan-in (the 1/√fan_in bound of ``nn.init`` for Linear, Conv and attention biases); a norm layer's
    1-D scale and shift and a lone 1-D tensor their own length."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 5)  # fan-in 3·5·5 = 75
            self.norm = nn.BatchNorm2d(8)
            self.attn = nn.MultiheadAttention(16, 2)  # in_proj_weight (48, 16), in_proj_bias (48,)
            self.fc = nn.Linear(400, 5)
            self.cls = nn.Parameter(torch.zeros(16))

    net = Net()
    syre = Syre(3.0, 0.0, seed=1, store="seed")
    syre.attach(net)
    stds = {entry.name: entry.std for entry in syre._entries[net]}
    expected = {
        "conv.weight": 75, "conv.bias": 75, "norm.weight": 8, "norm.bias": 8, "attn.in_proj_weight": 16,
        "attn.in_proj_bias": 16, "attn.out_proj.weight": 16, "attn.out_proj.bias": 16, "fc.weight": 400,
        "fc.bias": 400, "cls": 16,
    }  # fmt: skip
    assert stds == {name: pytest.approx(3.0 / math.sqrt(fan)) for name, fan in expected.items()}
    # the functional core draws the same θ0 from the same shapes (one convention for both)
    shapes = {name: tuple(p.shape) for name, p in Net().named_parameters()}
    drawn = functional.theta0(shapes, 3.0, seed=1)
    theta0 = syre.theta0(net)
    for name in ("fc.bias", "conv.bias", "norm.weight"):
        torch.testing.assert_close(theta0[name], drawn[name], msg=name)


def test_theta0_and_diag_statistics() -> None:
    model = nn.Linear(400, 300)
    syre = Syre(0.2, 1.0, sigma_d=0.1, seed=0)
    syre.attach(model)
    weight0, diag = syre.theta0(model)["weight"], syre.diag(model)["weight"]
    assert fan_in(weight0.shape) == 400
    assert weight0.std().item() == pytest.approx(0.2 / math.sqrt(400), rel=0.02)
    assert weight0.mean().item() == pytest.approx(0.0, abs=3 * 0.01 / math.sqrt(120_000))
    # a bias takes its layer's fan-in (in_features), as torch's init does, not its own length (300)
    assert syre.theta0(model)["bias"].std().item() == pytest.approx(0.2 / math.sqrt(400), rel=0.15)
    bound = math.sqrt(3) * 0.1
    assert diag.min() >= 1 - bound and diag.max() <= 1 + bound
    assert diag.std().item() == pytest.approx(0.1, rel=0.02)
    absolute = Syre(0.2, 1.0, relative=False)
    absolute.attach(model2 := nn.Linear(400, 300))
    assert absolute.theta0(model2)["weight"].std().item() == pytest.approx(0.2, rel=0.02)


def sign_flip_model() -> nn.Module:
    """f(x) = a·tanh(b·x) (§2): invariant under (a, b) → (−a, −b); a = b = 0 is the symmetric point."""

    class SignFlip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Parameter(torch.zeros(()))
            self.b = nn.Parameter(torch.zeros(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.a * torch.tanh(self.b * x)

    return SignFlip()


def train_sign_flip(syre: Syre | None, steps: int = 300) -> dict[str, float]:
    x = torch.linspace(-2, 2, 64)
    y = 1.5 * torch.tanh(0.8 * x)
    model = sign_flip_model()
    if syre is not None:
        syre.attach(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.0 if syre else 2 * 0.01)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        if syre is not None:
            loss = loss + syre.penalty(model)
        loss.backward()
        opt.step()
    if syre is None:
        return {"a": model.a.item(), "b": model.b.item(), "loss": loss.item()}
    effective = syre.effective_parameters(model)
    return {"a": effective["a"].item(), "b": effective["b"].item(), "loss": loss.item()}


def test_sign_flip_stays_at_symmetric_point_without_bias_and_leaves_with_one() -> None:
    vanilla = train_sign_flip(None)
    assert vanilla["a"] == 0.0 and vanilla["b"] == 0.0  # exactly trapped: the gradient is exactly 0
    with_syre = train_sign_flip(Syre(0.1, 0.01, relative=False, seed=2))
    assert abs(with_syre["a"]) > 1.0 and abs(with_syre["b"]) > 0.3
    assert with_syre["loss"] < 0.05


def test_corollary1_symmetry_breaking_gradient_grows_linearly_with_gamma_sigma0() -> None:
    """At a symmetric point of l (effective a = b = 0, P = I), the gradient of l_ar is −2γθ0:
    its norm is proportional to γσ0 (Corollary 1)."""
    x = torch.linspace(-2, 2, 64)
    y = 1.5 * torch.tanh(0.8 * x)
    ratios = []
    for gamma, sigma0 in [(0.01, 0.1), (0.01, 0.4), (0.1, 0.1), (1.0, 0.05), (0.5, 2.0)]:
        syre = Syre(sigma0, gamma, relative=False, seed=4)
        model = syre.attach(sign_flip_model())
        theta0 = syre.theta0(model)
        with torch.no_grad():  # put the effective parameters at the symmetric point: θ = −θ0
            model.parametrizations.a.original.copy_(-theta0["a"])
            model.parametrizations.b.original.copy_(-theta0["b"])
        assert torch.all(torch.stack(list(syre.effective_parameters(model).values())) == 0)
        loss = ((model(x) - y) ** 2).mean() + syre.penalty(model)
        grads = torch.autograd.grad(loss, [model.parametrizations.a.original, model.parametrizations.b.original])
        ratios.append(torch.stack(grads).norm().item() / (gamma * sigma0))
        # without syre's bias the same point has exactly zero gradient
        assert ratios[-1] > 0
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-9)


@pytest.mark.parametrize("mode,store", MODES)
def test_checkpoint_round_trip(mode: str, store: str) -> None:
    x, y = batch()
    syre = Syre(0.4, 0.1, sigma_d=0.2, seed=8, mode=mode, store=store)
    model = syre.attach(make_mlp())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(10):
        opt.zero_grad()
        (task_loss(model, x, y) + syre.penalty(model)).backward()
        opt.step()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh_syre = Syre(0.4, 0.1, sigma_d=0.2, seed=8, mode=mode, store=store)
    fresh = fresh_syre.attach(make_mlp(seed=99))  # different init: everything must come from the file
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    for getter in ("theta0", "diag", "offsets", "effective_parameters"):
        a, b = getattr(syre, getter)(model), getattr(fresh_syre, getter)(fresh)
        for name in a:
            assert torch.equal(a[name], b[name]), (getter, name)
    assert torch.equal(model(x), fresh(x))


def test_params_selection() -> None:
    syre = Syre(0.5, 0.1, params=["2.*"])
    model = syre.attach(make_mlp())
    assert set(syre.theta0(model)) == {"2.weight", "2.bias"}
    assert isinstance(model[0].weight, nn.Parameter)  # untouched: no bias, no decay
    by_callable = Syre(0.5, 0.1, params=lambda name, p: p.dim() == 2)
    assert set(by_callable.theta0(by_callable.attach(make_mlp()))) == {"0.weight", "2.weight"}
    plain = make_mlp()
    reference_bias = plain[0].weight.detach().clone()
    penalty = syre.penalty(model)
    expected = 0.1 * sum((p.detach() ** 2).sum() for n, p in make_mlp().named_parameters() if n.startswith("2."))
    assert torch.allclose(penalty, expected)
    assert torch.equal(model[0].weight, reference_bias)


def test_fold_gives_a_plain_model_and_keeps_the_attached_one_working() -> None:
    x, _ = batch()
    for mode in ("bias", "anchor"):
        syre = Syre(0.5, 0.1, sigma_d=0.1, mode=mode)
        model = syre.attach(make_mlp())
        folded = syre.fold(model)
        assert type(folded[0]) is nn.Linear and type(folded[2]) is nn.Linear
        assert set(folded.state_dict()) == set(make_mlp().state_dict())
        effective = syre.effective_parameters(model)
        for name, param in folded.named_parameters():
            assert torch.equal(param, effective[name])
        assert torch.allclose(folded(x), model(x), atol=1e-12)
        syre.penalty(model).backward()  # the attached model still trains


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"sigma0": -0.1, "gamma": 1.0}, "sigma0"),
        ({"sigma0": 0.1, "gamma": -1.0}, "gamma"),
        ({"sigma0": 0.1, "gamma": 1.0, "sigma_d": -0.1}, "sigma_d"),
        ({"sigma0": 0.1, "gamma": 1.0, "sigma_d": 0.6}, "sigma_d"),
        ({"sigma0": float("nan"), "gamma": 1.0}, "sigma0"),
        ({"sigma0": 0.1, "gamma": 1.0, "mode": "fold"}, "mode"),
        ({"sigma0": 0.1, "gamma": 1.0, "store": "disk"}, "store"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Syre(**kwargs)


def test_selection_that_matches_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="params"):
        Syre(0.1, 1.0, params=["encoder.*"]).attach(make_mlp())
    with pytest.raises(ValueError, match="not attached"):
        Syre(0.1, 1.0).penalty(make_mlp())


def test_wfix_holds_a_seeded_fraction_fixed() -> None:
    x, y = batch()
    wfix = WFix(0.3, 0.01, seed=1)
    model = wfix.attach(make_mlp())
    masks = wfix.masks(model)
    assert set(masks) == {"0.weight", "2.weight"}
    assert int(masks["0.weight"].sum()) == round(0.3 * 35)
    fixed_before = model[0].weight.detach()[masks["0.weight"]].clone()
    assert fixed_before.std().item() < 0.05
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.5)
    for _ in range(20):
        opt.zero_grad()
        task_loss(model, x, y).backward()
        assert torch.all(model[0].weight.grad[masks["0.weight"]] == 0)
        opt.step()
    model(x)  # the forward pre-hook rewrites the fixed values after weight decay moved them
    assert torch.equal(model[0].weight.detach()[masks["0.weight"]], fixed_before)
    free = ~masks["0.weight"]
    assert not torch.equal(model[0].weight.detach()[free], make_mlp()[0].weight.detach()[free])
    again = WFix(0.3, 0.01, seed=1)
    assert torch.equal(again.masks(again.attach(make_mlp()))["0.weight"], masks["0.weight"])


@pytest.mark.parametrize("mode,store", MODES)
@pytest.mark.parametrize("sigma_d", [0.0, 0.3])
def test_decay_is_the_literal_step_toward_theta0_in_every_mode(mode: str, store: str, sigma_d: float) -> None:
    """decay_: w ← w − lr·2γ·D·(w − θ0) on the effective parameters w, with θ0 and D drawn by hand
    from the seeded generators (σ0 ≠ 0, so a decay toward 0 fails; σ_D > 0, so ignoring D fails)."""
    from syre_tune.kernels import _philox, stream_key

    model = make_mlp()
    syre = Syre(sigma0=2.0, gamma=0.7, sigma_d=sigma_d, seed=5, mode=mode, store=store)
    syre.attach(model)
    with torch.no_grad():  # move away from the start, so that θ = w − θ0 is not the init itself
        for param in model.parameters():
            param.add_(0.3)
    before = syre.effective_parameters(model)
    syre.decay_(model, lr=0.1)
    after = syre.effective_parameters(model)
    for name, w in before.items():
        shape = tuple(w.shape)
        index = torch.arange(w.numel())  # element i of θ0 is std·randn(key, i), row-major (Triton's Philox)
        theta0 = _philox.randn(stream_key(5, name, "theta0"), index).double().reshape(shape)
        in_features = before[name.rpartition(".")[0] + ".weight"].shape[1]  # a Linear's, for weight and bias
        theta0 = theta0 * 2.0 / math.sqrt(in_features)
        uniform = _philox.rand(stream_key(5, name, "diag"), index).double().reshape(shape)
        diag = 1.0 + (2.0 * uniform - 1.0) * math.sqrt(3.0) * sigma_d
        expected = w - 0.1 * 2 * 0.7 * diag * (w - theta0)
        torch.testing.assert_close(after[name], expected, msg=name)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"fraction": -0.1, "kappa": 0.01}, "fraction must be in \\[0, 1\\], got fraction=-0.1"),
        ({"fraction": 1.5, "kappa": 0.01}, "fraction must be in \\[0, 1\\], got fraction=1.5"),
        ({"fraction": "half", "kappa": 0.01}, "fraction must be in \\[0, 1\\]"),
        ({"fraction": 0.3, "kappa": -1.0}, "kappa must be >= 0, got kappa=-1.0"),
    ],
)
def test_wfix_bad_arguments_name_the_argument(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WFix(**kwargs)


def test_wfix_takes_the_whole_range_and_says_when_it_selects_nothing() -> None:
    nothing = WFix(0.0, 0.01)
    assert not any(m.any() for m in nothing.masks(nothing.attach(make_mlp())).values())
    every = WFix(1.0, 0.01)
    assert all(m.all() for m in every.masks(every.attach(make_mlp())).values())
    with pytest.raises(ValueError, match="params selects no parameter"):
        WFix(0.3, 0.01).attach(nn.Sequential(nn.LayerNorm(4)))  # no weight matrix to fix


# θ0 and D (since 0.2.0): Triton's Philox 4x32-10 keyed by blake2b of (seed, name, what), the values
# of tests/test_kernels.py's pins; the W-fix mask: blake2b → torch's CPU Mersenne Twister. A change
# here means stored studies no longer reproduce.
PINNED = {
    "theta0": [-0.38660532236099243, 1.3804640769958496, -0.9936089515686035, 0.031710412353277206],
    "diag": [1.783982515335083, 0.618296205997467, 1.1366465091705322, 0.3485957980155945],
    "mask": [True, False, True, False, True, False, True, False],
}


def test_seeded_draws_are_pinned_so_results_reproduce_across_releases() -> None:
    """θ0, D and the W-fix mask are functions of (seed, name) alone, through stable keys: these
    values must never change between versions (a stored study would no longer be reproducible),
    and each name and purpose draws its own stream."""
    from syre_tune import functional
    from syre_tune._random import seeded_mask

    theta0 = functional.theta0({"w": (4,)}, 1.0, seed=0, relative=False, dtype=torch.float32)["w"]
    diag = functional.diag({"w": (4,)}, 0.5, seed=0, dtype=torch.float32)["w"]
    mask = seeded_mask((8,), 0.5, seed=0, name="w")
    torch.testing.assert_close(theta0, torch.tensor(PINNED["theta0"], dtype=torch.float32), rtol=0, atol=1e-6)
    torch.testing.assert_close(diag, torch.tensor(PINNED["diag"], dtype=torch.float32), rtol=0, atol=1e-6)
    assert mask.tolist() == PINNED["mask"]
    other = seeded_mask((8,), 0.5, seed=0, name="v")
    assert not torch.equal(mask, other)  # names draw their own masks


def test_fold_keeps_frozen_parameters_frozen_and_refuses_foreign_parametrizations() -> None:
    model = make_mlp()
    model[2].bias.requires_grad_(False)
    syre = Syre(0.5, 0.1, mode="bias", params=["0.*", "2.weight", "2.bias"])
    folded = syre.fold(syre.attach(model))
    assert folded[2].bias.requires_grad is False and folded[2].weight.requires_grad is True

    class Double(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * x

    other = Syre(0.5, 0.1, mode="bias", params=["0.weight"])
    attached = other.attach(make_mlp())
    torch.nn.utils.parametrize.register_parametrization(attached[0], "weight", Double())
    with pytest.raises(ValueError, match="parametrizations other than syre's"):
        other.fold(attached)


# ------------------------------------------------------------------------------ bias mode's fused forward
@pytest.mark.parametrize("store", ["buffer", "seed"])
def test_bias_forward_uses_one_fused_pass_and_matches_the_per_access_parametrizations(monkeypatch, store) -> None:
    """Calling the attached model computes every θ + θ0 in one _foreach_add (no per-tensor
    parametrization call); calling a submodule alone still goes through its parametrization. Both
    give the literal l(θ + θ0)'s output and gradients."""
    from syre_tune import _core

    calls = []
    original = _core._Offset.forward
    monkeypatch.setattr(_core._Offset, "forward", lambda self, theta: calls.append(1) or original(self, theta))
    plain, (x, y) = make_mlp(), batch()
    syre = Syre(0.3, 0.7, seed=3, store=store)
    model = syre.attach(copy.deepcopy(plain))
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1)  # θ ≠ 0
    effective = {n: w.clone().requires_grad_(True) for n, w in syre.effective_parameters(model).items()}
    calls.clear()
    task_loss(model, x, y).backward()
    assert calls == []  # the four tensors came from the fused pass
    task_loss_functional(plain, effective, x, y).backward()
    for (name, w), theta in zip(effective.items(), model.parameters()):
        assert torch.allclose(theta.grad, w.grad, atol=1e-12), name
    assert torch.allclose(model[0](x), functional_call(plain[0], {"weight": effective["0.weight"],
                                                                  "bias": effective["0.bias"]}, (x,)))  # fmt: skip
    assert len(calls) == 2  # the submodule alone: its weight and bias through the parametrization


def test_bias_forward_that_raises_leaves_no_cache_behind() -> None:
    from torch.nn.utils import parametrize

    syre = Syre(0.3, 0.7, seed=3)
    model = syre.attach(make_mlp())
    with pytest.raises(RuntimeError):
        model(torch.randn(4, 6))  # wrong width: raises inside the forward pass
    assert parametrize._cache_enabled == 0 and parametrize._cache == {}
    with torch.no_grad():
        model[0].parametrizations.weight.original.add_(1.0)
    assert torch.allclose(model(batch()[0]), syre.fold(model)(batch()[0]))  # fresh values, not a stale cache


def test_a_deep_copy_of_a_bias_model_computes_its_own_weights_and_fold_drops_the_hooks() -> None:
    syre = Syre(0.3, 0.7, seed=3)
    model = syre.attach(make_mlp())
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin[2].parametrizations.weight.original.add_(1.0)
    x = batch()[0]
    assert not torch.allclose(twin(x), model(x))
    assert torch.allclose(twin(x), twin[2](twin[1](twin[0](x))))  # the copy's own θ, not the original's
    folded = syre.fold(model)
    assert not folded._forward_pre_hooks and not folded._forward_hooks
    assert torch.allclose(folded(x), model(x))


def test_anchor_seed_step_follows_a_replaced_parameter() -> None:
    """The fused seeded step is bound to the parameters once; replacing one rebinds it."""
    syre = Syre(2.0, 0.7, seed=5, mode="anchor", store="seed")
    model = syre.attach(make_mlp().float())  # float32: the kernel's dtypes (float64 takes the plain step)
    syre.decay_(model, lr=0.1)
    theta0 = syre.theta0(model)["0.weight"]
    model[0].weight = nn.Parameter(torch.zeros(7, 5, dtype=torch.float32))
    syre.decay_(model, lr=0.1)  # 0 − 0.14·(0 − θ0) = 0.14·θ0
    torch.testing.assert_close(model[0].weight.detach(), 0.1 * 2 * 0.7 * theta0)
