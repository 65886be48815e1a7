"""Symmetry removal ("syre") for any PyTorch model: a static random bias θ0 and a D-weighted
weight decay (paper Eq. 6-7):

    l_ar(θ) = l(θ + θ0) + γ ‖θ‖²_D,   θ0 ~ N(0, σ0²) fixed,   D = diag(1 + ξ), ξ ~ U(−√3σ_D, √3σ_D)

Two equivalent forms:

- ``mode="bias"`` (Eq. 6 as written): the trainable tensor is θ and the forward pass sees θ + θ0,
  through a ``torch.nn.utils.parametrize`` parametrization.
- ``mode="anchor"``: the trainable tensor *is* φ = θ + θ0, the forward pass is untouched, and the
  penalty is γ Σ D (φ − θ0)². The gradient with respect to φ equals the gradient with respect to θ,
  so any optimizer follows the same trajectory, without a forward overhead.

Pure PyTorch: no Ray, no files.
"""

from __future__ import annotations

import copy
import fnmatch
import math
import operator
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from syre_tune import functional
from syre_tune._random import fan_ins, normal_std, seeded_mask, seeded_normal
from syre_tune.kernels import SeededDecay, fill_theta0_, stream_key

__all__ = ["ParamSelector", "SigmaAsym", "Syre", "WFix"]

ParamSelector = Callable[[str, torch.Tensor], bool] | Sequence[str] | None

_MODES = ("bias", "anchor")
_STORES = ("buffer", "seed")
_SIGMA_D_MAX = 1.0 / math.sqrt(3.0)  # keeps every D entry > 0
_KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)  # what the fused seeded step writes


def _theta0_dtype(dtype: torch.dtype) -> torch.dtype:
    """θ0 and D are kept in float32 beside a bfloat16/float16 parameter (a small θ0 would otherwise be
    rounded into the weight's few mantissa bits); a float32/float64 parameter gets its own dtype."""
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _plus(theta: torch.Tensor, theta0: torch.Tensor) -> torch.Tensor:
    """θ + θ0 in the parameter's dtype, computed in θ0's precision and rounded once."""
    if theta.dtype == theta0.dtype:
        return theta + theta0
    return (theta.to(theta0.dtype) + theta0).to(theta.dtype)


def _select(model: nn.Module, params: ParamSelector, argument: str) -> list[tuple[str, nn.Parameter]]:
    """The (name, parameter) pairs chosen by ``params``: None = every trainable parameter, a
    callable ``(name, tensor) -> bool``, or a list of fnmatch patterns."""
    named = list(model.named_parameters())
    if params is None:
        chosen = [(n, p) for n, p in named if p.requires_grad]
    elif callable(params):
        chosen = [(n, p) for n, p in named if params(n, p)]
    else:
        if isinstance(params, str):
            params = [params]
        patterns = list(params)
        chosen = [(n, p) for n, p in named if any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]
    if not chosen:
        raise ValueError(
            f"{argument} selects no parameter of {type(model).__name__}, got {argument}={params!r}"
            f" (parameters: {[n for n, _ in named][:8]}{'...' if len(named) > 8 else ''})"
        )
    return chosen


def _owner(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    """The submodule that owns parameter ``name`` and the attribute name in it."""
    module_name, _, attr = name.rpartition(".")
    return (model.get_submodule(module_name) if module_name else model), attr


def _check_number(argument: str, value: float, *, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{argument} must be a finite number, got {argument}={value!r}")
    if value < 0:
        raise ValueError(f"{argument} must be >= 0, got {argument}={value!r}")
    if upper is not None and value >= upper:
        raise ValueError(f"{argument} must be < {upper:.6f} (1/√3, so D > 0), got {argument}={value!r}")
    return float(value)


@dataclass
class _Entry:
    """One selected tensor: where it lives."""

    name: str  # name in the un-attached model
    module: nn.Module
    attr: str
    std: float  # θ0's std: σ0/√fan_in (relative) or σ0
    key: int  # Philox key of θ0: stream_key(seed, name, "theta0")
    diag_key: int  # Philox key of D: stream_key(seed, name, "diag")


class _Offset(nn.Module):
    """Parametrization for ``mode="bias"``: the forward pass sees θ + θ0 (paper Eq. 6).

    With ``store="buffer"`` θ0 (and D when σ_D > 0) are buffers, so they follow ``.to(device)``
    and travel in the state_dict; with ``store="seed"`` they are regenerated on every access.
    """

    def __init__(self, syre: Syre, entry: _Entry, like: torch.Tensor, theta0: torch.Tensor | None = None) -> None:
        super().__init__()
        entry_name = entry.name
        self.key, self.std = entry.key, entry.std  # for the fused forward's one-call draw (store="seed")
        entry_std = entry.std
        self.draw_theta0 = lambda like_: syre._draw_theta0(entry_name, entry_std, like_)
        self.draw_diag = lambda like_: syre._draw_diag(entry_name, like_)
        self.sigma_d, self.stored = syre.sigma_d, syre.store == "buffer"
        if self.stored:
            self.register_buffer("theta0", self.draw_theta0(like) if theta0 is None else theta0)
            if self.sigma_d > 0:
                self.register_buffer("diag", self.draw_diag(like))

    def get_theta0(self, like: torch.Tensor) -> torch.Tensor:
        return self.theta0 if self.stored else self.draw_theta0(like)

    def get_diag(self, like: torch.Tensor) -> torch.Tensor | None:
        if self.sigma_d == 0:
            return None
        return self.diag if self.stored else self.draw_diag(like)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return _plus(theta, self.get_theta0(theta))


# Bias mode's fused forward hands θ + θ0 to torch's parametrization cache (``parametrize._cache``,
# filled inside the public ``parametrize.cached()`` context); where a torch release lacks it, every
# access computes θ + θ0 through the parametrization, as without the hooks.
_CACHE_FILLABLE = isinstance(getattr(parametrize, "_cache", None), dict) and hasattr(parametrize, "cached")


def _theta0s(offsets: list[_Offset], thetas: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each parametrization's θ0: the stored ones, and the regenerated ones (store="seed") drawn in one
    call (one Triton launch on CUDA, a few vector calls on a CPU) where θ0 is float32 — the values
    ``functional.theta0`` draws, randn·std in float32."""
    theta0s: list[torch.Tensor | None] = [o._buffers["theta0"] if o.stored else None for o in offsets]
    batched = [j for j, o in enumerate(offsets) if not o.stored and _theta0_dtype(thetas[j].dtype) == torch.float32]
    if batched:
        drawn = [torch.empty(thetas[j].shape, dtype=torch.float32, device=thetas[j].device) for j in batched]
        fill_theta0_(drawn, [offsets[j].key for j in batched], [offsets[j].std for j in batched])
        for j, value in zip(batched, drawn):
            theta0s[j] = value
    return [value if value is not None else o.get_theta0(t) for value, o, t in zip(theta0s, offsets, thetas)]


@dataclass(frozen=True)
class _Slot:
    """One parametrized tensor as the fused forward reaches it: its cache key and its chain."""

    key: tuple[int, str]  # torch's parametrization-cache key: (id of the owning module, attribute)
    chain: nn.Module  # the ParametrizationList: chain._parameters["original"] is θ, chain[0] syre's _Offset
    offset: _Offset


class _FusedForward:
    """Bias mode's forward hooks on the attached model: every θ + θ0 in one fused
    ``torch._foreach_add`` before the forward pass (one multi-tensor launch on a GPU, one autograd node),
    handed to the parametrizations through torch's parametrization cache, so that each weight access
    inside the forward pass is a dict lookup instead of a parametrization call, an add and an autograd
    node per tensor (on a GPU those per-tensor launches, not the arithmetic, were bias mode's cost).

    Values and gradients are the parametrizations' own: where the hooks do not run (a submodule called
    by itself, tracing) or a tensor carries more parametrizations than syre's, θ + θ0 is computed per
    access as before. The post-hook runs even when the forward pass raises (``always_call``), so the
    cache never outlives the call.
    """

    def __init__(self, paths: list[tuple[str, str]]) -> None:
        self.paths = paths  # (submodule path from the attached model, attribute)
        self._slots: weakref.WeakKeyDictionary[nn.Module, list[_Slot]] = weakref.WeakKeyDictionary()
        self._open: list = []  # one entry per running forward: its cached() context, or None

    def slots(self, root: nn.Module) -> list[_Slot]:
        slots = self._slots.get(root)
        if slots is None:  # resolved from the module called, so a deep copy finds its own submodules
            slots = []
            for path, attr in self.paths:
                owner = root.get_submodule(path)
                chain = owner.parametrizations[attr]
                slots.append(_Slot((id(owner), attr), chain, chain[0]))
            self._slots[root] = slots
        return slots

    def before(self, root: nn.Module, args: tuple) -> None:
        if not _CACHE_FILLABLE or torch._C._get_tracing_state() is not None:
            self._open.append(None)
            return
        # A tensor that got another parametrization on top of syre's is left to its chain.
        slots = [slot for slot in self.slots(root) if len(slot.chain._modules) == 1]
        thetas = [slot.chain._parameters["original"] for slot in slots]
        theta0s = _theta0s([slot.offset for slot in slots], thetas)
        if all(a.dtype == b.dtype and a.device == b.device for a, b in zip(thetas, theta0s)):
            effective = torch._foreach_add(thetas, theta0s) if thetas else []
        else:  # a bfloat16 θ beside its float32 θ0: one rounding each, as the parametrization does
            effective = [_plus(theta, theta0) for theta, theta0 in zip(thetas, theta0s)]
        context = parametrize.cached()
        context.__enter__()
        self._open.append(context)
        cache = parametrize._cache  # read after entering: cached() rebinds it when the last context closes
        for slot, value in zip(slots, effective):
            cache[slot.key] = value

    def after(self, root: nn.Module, args: tuple, output: object) -> None:
        context = self._open.pop() if self._open else None
        if context is not None:
            context.__exit__(None, None, None)


class Syre:
    """Symmetry removal: train on l(θ + θ0) + γ‖θ‖²_D (paper Eq. 6-7).

    Args:
        sigma0: scale of the static bias θ0 ~ N(0, s²); s = sigma0/√fan_in per tensor when
            ``relative``, else s = sigma0. fan_in is a weight's inputs per output (a Linear's
            in_features, a Conv's in·k·k); a bias takes its layer's (``fc.bias`` that of
            ``fc.weight``, as torch's own init), so ``Linear(400, 5)``'s weight and bias both get
            s = sigma0/20; other 1-D tensors (norm scales, a CLS token) their own length.
        gamma: weight-decay strength γ of the penalty γ Σ D θ² (torch ``weight_decay`` = 2γ).
        sigma_d: std of the entries of D = 1 + U(−√3σ_D, √3σ_D); 0 gives D = I (the paper's default).
        seed: θ0 and D are deterministic functions of (seed, parameter name).
        relative: state sigma0 in units of 1/√fan_in (paper §5.4: σ0 = 1 is a default
            initialisation's scale); False: sigma0 is θ0's std itself.
        params: which tensors get the bias and decay: None = all trainable, a callable
            ``(name, tensor) -> bool``, or fnmatch patterns such as ``["projector.*"]``.
        mode: "bias" (trainable θ, forward sees θ + θ0) or "anchor" (trainable φ = θ + θ0,
            penalty γ Σ D (φ − θ0)², no forward overhead).
        store: "buffer" keeps θ0 / D as buffers; "seed" regenerates them from the seed when needed.
        theta0: θ0 given instead of drawn: ``"init"`` anchors at the model's weights when attached
            (L2 Init: the effective parameters stay what they were, the penalty pulls toward
            them), or ``{name: tensor}`` (the effective parameters become current + θ0, as with
            a drawn θ0). Needs ``store="buffer"``; ``sigma0`` is then unused.
    """

    def __init__(
        self,
        sigma0: float,
        gamma: float,
        *,
        sigma_d: float = 0.0,
        seed: int = 0,
        relative: bool = True,
        params: ParamSelector = None,
        mode: str = "bias",
        store: str = "buffer",
        theta0: str | dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.sigma0 = _check_number("sigma0", sigma0)
        self.gamma = _check_number("gamma", gamma)
        self.sigma_d = _check_number("sigma_d", sigma_d, upper=_SIGMA_D_MAX)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got seed={seed!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got mode={mode!r}")
        if store not in _STORES:
            raise ValueError(f"store must be one of {_STORES}, got store={store!r}")
        if theta0 is not None and not (theta0 == "init" or isinstance(theta0, dict)):
            raise ValueError(f"theta0 must be 'init', a dict of tensors or None, got theta0={theta0!r}")
        if theta0 is not None and store != "buffer":
            raise ValueError(f"an explicit theta0 is kept, not redrawn: it needs store='buffer', got store={store!r}")
        self.seed, self.relative, self.params, self.mode, self.store = seed, relative, params, mode, store
        self.given_theta0 = theta0
        self._entries: weakref.WeakKeyDictionary[nn.Module, list[_Entry]] = weakref.WeakKeyDictionary()
        self._hooks: weakref.WeakKeyDictionary[nn.Module, tuple] = weakref.WeakKeyDictionary()  # bias mode's
        self._steps: weakref.WeakKeyDictionary[nn.Module, SeededDecay] = weakref.WeakKeyDictionary()  # anchor/seed's

    def __repr__(self) -> str:
        return (
            f"Syre(sigma0={self.sigma0}, gamma={self.gamma}, sigma_d={self.sigma_d}, seed={self.seed}, "
            f"relative={self.relative}, mode={self.mode!r}, store={self.store!r})"
        )

    # ---------------------------------------------------------------- attach
    def attach(self, model: nn.Module) -> nn.Module:
        """Add θ0 to ``model`` in place and return it. The effective parameters become (current
        values + θ0) in both modes, so the two modes start identical."""
        if model in self._entries:
            raise ValueError(f"this Syre is already attached to the {type(model).__name__}")
        entries = []
        fans = fan_ins({name: tuple(param.shape) for name, param in model.named_parameters()})
        for name, _param in _select(model, self.params, "params"):
            module, attr = _owner(model, name)
            if self.mode == "bias" and parametrize.is_parametrized(module, attr):
                raise ValueError(f"params: {name!r} is already parametrized; mode='bias' cannot wrap it")
            std = normal_std(self.sigma0, tuple(_param.shape), self.relative, fans[name])
            keys = {what: stream_key(self.seed, name, what) for what in ("theta0", "diag")}
            entries.append(_Entry(name, module, attr, std, keys["theta0"], keys["diag"]))
        at_init = self.given_theta0 == "init"
        for entry in entries:
            param = getattr(entry.module, entry.attr)
            theta0 = self._given(entry.name, param)
            if self.mode == "bias":
                offset = _Offset(self, entry, param.detach(), theta0)
                parametrize.register_parametrization(entry.module, entry.attr, offset)
                if at_init:  # θ = 0: the forward pass sees θ0 = the weights as they were
                    with torch.no_grad():
                        entry.module.parametrizations[entry.attr].original.zero_()
            else:
                theta0 = self._draw_theta0(entry.name, entry.std, param) if theta0 is None else theta0
                if not at_init:
                    with torch.no_grad():
                        param.add_(theta0)  # φ = θ + θ0
                if self.store == "buffer":
                    entry.module.register_buffer(f"{entry.attr}_syre_theta0", theta0)
                    if self.sigma_d > 0:
                        entry.module.register_buffer(f"{entry.attr}_syre_diag", self._draw_diag(entry.name, param))
        if self.mode == "bias":
            fused = _FusedForward([(e.name.rpartition(".")[0], e.attr) for e in entries])
            self._hooks[model] = (
                model.register_forward_pre_hook(fused.before),
                model.register_forward_hook(fused.after, always_call=True),
            )
        self._entries[model] = entries
        return model

    def _given(self, name: str, param: torch.Tensor) -> torch.Tensor | None:
        """The θ0 the user gave for ``name`` (a copy, on the parameter's device), if any."""
        if self.given_theta0 is None:
            return None
        if self.given_theta0 == "init":
            return param.detach().clone()
        if name not in self.given_theta0:
            raise ValueError(f"theta0: no tensor for {name!r} (given: {sorted(self.given_theta0)})")
        given = self.given_theta0[name]
        if tuple(given.shape) != tuple(param.shape):
            raise ValueError(f"theta0[{name!r}]: shape {tuple(given.shape)}, the parameter's {tuple(param.shape)}")
        return given.detach().to(device=param.device, dtype=_theta0_dtype(param.dtype)).clone()

    def _draw_theta0(self, name: str, std: float, like: torch.Tensor) -> torch.Tensor:
        """θ0 ~ N(0, std²) for one tensor, on its device (the functional core's draw; float32 beside a
        bfloat16 or float16 parameter, else the parameter's dtype)."""
        drawn = functional.theta0(
            {name: like.shape},
            std,
            seed=self.seed,
            relative=False,
            device=like.device,
            dtype=_theta0_dtype(like.dtype),
        )
        return drawn[name]

    def _draw_diag(self, name: str, like: torch.Tensor) -> torch.Tensor:
        dtype = _theta0_dtype(like.dtype)
        drawn = functional.diag({name: like.shape}, self.sigma_d, seed=self.seed, device=like.device, dtype=dtype)
        return drawn[name]

    def _attached(self, model: nn.Module) -> list[_Entry]:
        try:
            return self._entries[model]
        except KeyError:
            raise ValueError(f"this Syre is not attached to the {type(model).__name__}; call attach first") from None

    # ------------------------------------------------------------ per tensor
    def _trainable(self, entry: _Entry) -> torch.Tensor:
        """θ in bias mode, φ in anchor mode: the leaf tensor the optimizer updates."""
        if self.mode == "bias":  # module.parametrizations[attr].original, as plain dict lookups (hot in decay_)
            return entry.module._modules["parametrizations"]._modules[entry.attr]._parameters["original"]
        return entry.module._parameters[entry.attr]

    def _entry_theta0(self, entry: _Entry) -> torch.Tensor:
        like = self._trainable(entry)
        if self.mode == "bias":
            return entry.module.parametrizations[entry.attr][0].get_theta0(like)
        if self.store == "buffer":
            return getattr(entry.module, f"{entry.attr}_syre_theta0")
        return self._draw_theta0(entry.name, entry.std, like)

    def _entry_diag(self, entry: _Entry) -> torch.Tensor | None:
        if self.sigma_d == 0:
            return None
        like = self._trainable(entry)
        if self.mode == "bias":
            return entry.module.parametrizations[entry.attr][0].get_diag(like)
        if self.store == "buffer":
            return getattr(entry.module, f"{entry.attr}_syre_diag")
        return self._draw_diag(entry.name, like)

    def _offset(self, entry: _Entry) -> torch.Tensor:
        """θ, the offset from θ0, differentiable with respect to the trainable tensor."""
        trainable = self._trainable(entry)
        return trainable if self.mode == "bias" else trainable - self._entry_theta0(entry)

    # ----------------------------------------------------------------- public
    def penalty(self, model: nn.Module) -> torch.Tensor:
        """γ Σ_p Σ_i D_p,i θ_p,i² over the selected tensors (θ = offset from θ0)."""
        entries = self._attached(model)
        theta = {e.name: self._offset(e) for e in entries}
        diag = None if self.sigma_d == 0 else {e.name: self._entry_diag(e) for e in entries}
        return functional.penalty(theta, self.gamma, diag)

    @torch.no_grad()
    def decay_(self, model: nn.Module, lr: float) -> None:
        """Decoupled decay step (AdamW style): θ ← θ − lr·2γ·D·θ, i.e. φ moves toward θ0 in anchor
        mode. Equivalent to torch's ``weight_decay=2γ`` in AdamW when σ0 = σ_D = 0; use it instead
        of the optimizer's own weight decay, which would pull φ toward 0 rather than θ0."""
        rate = lr * 2.0 * self.gamma
        if rate == 0:
            return
        entries = self._attached(model)
        seeded = self.mode == "anchor" and self.store == "seed"
        diag = None if self.sigma_d == 0 or seeded else [self._entry_diag(e) for e in entries]
        if self.mode == "bias":  # the trainable is θ itself: decay toward 0
            functional.decay_([self._trainable(e) for e in entries], None, rate, diag)
        elif self.store == "buffer":  # direct dict lookups: little Python overhead for ~1 ms steps
            phis = [e.module._parameters[e.attr] for e in entries]
            theta0s = [e.module._buffers[f"{e.attr}_syre_theta0"] for e in entries]
            functional.decay_(phis, theta0s, rate, diag)
        elif (seeded_step := self._seeded_step(model, entries)) is not None:
            # θ0 and D regenerated inside one fused pass (one Triton launch per dtype on CUDA): nothing
            # stored, nothing materialised.
            seeded_step(rate)
        else:  # float64 parameters: θ0 and D drawn in full, then the same step
            diag = None if self.sigma_d == 0 else [self._entry_diag(e) for e in entries]
            functional.decay_(
                [self._trainable(e) for e in entries], [self._entry_theta0(e) for e in entries], rate, diag
            )

    def _seeded_step(self, model: nn.Module, entries: list[_Entry]) -> SeededDecay | None:
        """The fused seeded step bound to the model's current parameters (built once, rebuilt when a
        parameter object is replaced); None where a parameter's dtype is not the kernel's (float64)."""
        params = [e.module._parameters[e.attr] for e in entries]
        cached = self._steps.get(model)
        if cached is not None and len(cached.tensors) == len(params) and all(map(operator.is_, cached.tensors, params)):
            return cached
        if not all(p.dtype in _KERNEL_DTYPES for p in params):
            return None
        step = SeededDecay(
            params,
            [e.key for e in entries],
            [e.std for e in entries],
            sigma_d=self.sigma_d,
            diag_keys=[e.diag_key for e in entries],
        )
        self._steps[model] = step
        return step

    def theta0(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """{name: θ0}, names as in the un-attached model's ``named_parameters()``."""
        return {e.name: self._entry_theta0(e).detach().clone() for e in self._attached(model)}

    def diag(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """{name: D entries} (all ones when sigma_d = 0)."""
        out = {}
        for entry in self._attached(model):
            diag = self._entry_diag(entry)
            out[entry.name] = (
                torch.ones_like(self._trainable(entry)).detach() if diag is None else diag.detach().clone()
            )
        return out

    def offsets(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """{name: θ}, the trainable offsets from θ0."""
        return {e.name: self._offset(e).detach().clone() for e in self._attached(model)}

    @torch.no_grad()
    def effective_parameters(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """{name: θ + θ0}: what the forward pass uses."""
        out = {}
        for entry in self._attached(model):
            trainable = self._trainable(entry)
            out[entry.name] = _plus(trainable, self._entry_theta0(entry)) if self.mode == "bias" else trainable.clone()
        return out

    def fold(self, model: nn.Module) -> nn.Module:
        """A plain copy of ``model`` whose parameters are θ + θ0, with no syre state; ``model``
        itself stays attached and keeps working."""
        entries = self._attached(model)
        folded = copy.deepcopy(model)
        for entry in entries:
            module, attr = _owner(folded, entry.name)
            if self.mode == "anchor":
                for suffix in ("_syre_theta0", "_syre_diag"):
                    if hasattr(module, attr + suffix):
                        delattr(module, attr + suffix)
        if self.mode == "bias":
            for handle in self._hooks.get(model, ()):  # the copy's hooks: the fused forward is syre's
                for hooks in (folded._forward_pre_hooks, folded._forward_hooks, folded._forward_hooks_always_called):
                    hooks.pop(handle.id, None)
            for module in folded.modules():
                if parametrize.is_parametrized(module):
                    _unparametrize(module)
        return folded


def _unparametrize(module: nn.Module) -> None:
    """Turn a deep-copied, syre-parametrized module back into its plain class with parameters
    θ + θ0. (``parametrize.remove_parametrizations`` would delete the property from the dynamic
    class, which a deep copy shares with the attached original, and so break the original.)"""
    plain = {}
    for attr, chain in module.parametrizations.items():
        if len(chain) != 1 or not isinstance(chain[0], _Offset):
            raise ValueError(f"fold: {attr!r} carries parametrizations other than syre's")
        with torch.no_grad():
            plain[attr] = nn.Parameter(chain[0](chain.original), requires_grad=chain.original.requires_grad)
    del module._modules["parametrizations"]
    module.__class__ = module.__class__.__bases__[0]
    for attr, param in plain.items():
        module.register_parameter(attr, param)


class WFix:
    """W-fix baseline (Lim et al. 2024, the paper's §6.1): in every selected tensor a seeded
    fraction φ of the entries is held fixed at N(0, κ²) values, its gradients masked.

    The fixed values are rewritten before every forward pass (so an optimizer's decoupled weight
    decay cannot move them) and their gradients are zeroed by a hook.
    """

    def __init__(self, fraction: float, kappa: float, *, seed: int = 0, params: ParamSelector = None) -> None:
        if not (isinstance(fraction, (int, float)) and 0.0 <= fraction <= 1.0):
            raise ValueError(f"fraction must be in [0, 1], got fraction={fraction!r}")
        self.fraction = float(fraction)
        self.kappa = _check_number("kappa", kappa)
        self.seed, self.params = seed, params
        self._masks: weakref.WeakKeyDictionary[nn.Module, dict[str, torch.Tensor]] = weakref.WeakKeyDictionary()

    def attach(self, model: nn.Module) -> nn.Module:
        """Fix the entries in place, register the hooks, return ``model``."""
        if self.params is None:  # weights only: the paper fixes a fraction of each layer's weights
            selected = _select(model, lambda n, p: p.requires_grad and p.dim() >= 2, "params")
        else:
            selected = _select(model, self.params, "params")
        masks = {}
        for name, param in selected:
            module, attr = _owner(model, name)
            mask = seeded_mask(param.shape, self.fraction, seed=self.seed, name=name, device=param.device)
            values = seeded_normal(
                param.shape, self.kappa, seed=self.seed, name=name, device=param.device, dtype=param.dtype
            )
            module.register_buffer(f"{attr}_wfix_mask", mask)
            module.register_buffer(f"{attr}_wfix_values", values)
            param.register_hook(lambda grad, m=mask: grad.masked_fill(m.to(grad.device), 0.0))
            module.register_forward_pre_hook(_make_refix(attr))
            _refix(module, attr)
            masks[name] = mask
        self._masks[model] = masks
        return model

    def masks(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """{name: boolean mask of the fixed entries}."""
        return dict(self._masks[model])


def _refix(module: nn.Module, attr: str) -> None:
    with torch.no_grad():
        param = getattr(module, attr)
        mask = getattr(module, f"{attr}_wfix_mask")
        param.copy_(torch.where(mask, getattr(module, f"{attr}_wfix_values"), param))


def _make_refix(attr: str) -> Callable[[nn.Module, tuple], None]:
    def hook(module: nn.Module, args: tuple) -> None:
        _refix(module, attr)

    return hook


class SigmaAsym(nn.Module):
    """σ-Asym nonlinearity (Lim et al. 2024, their σ-Asym networks): x ↦ sigmoid(C x) ⊙ x with a
    fixed, seeded C of shape (width, width), C ~ N(0, 1/width), applied along ``dim`` (the features
    of a Linear layer, the channels of a Conv layer). A fixed random mixing inside the gate breaks
    the permutation symmetry of the layer's units; C is a buffer, never trained."""

    def __init__(self, width: int, *, seed: int = 0, name: str = "act", dim: int = -1) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width=}")
        self.dim = dim
        self.register_buffer("mixing", seeded_normal((width, width), 1.0 / math.sqrt(width), seed=seed, name=name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        moved = x.movedim(self.dim, -1)
        gate = torch.sigmoid(torch.nn.functional.linear(moved, self.mixing))
        return (gate * moved).movedim(-1, self.dim)
