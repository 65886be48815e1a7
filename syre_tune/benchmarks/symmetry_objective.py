"""Benchmarking symmetry removal on a controlled objective (paper §6.2, Fig. 4).

    minimise  f(w) = (wᵀw)² − wᵀBw = (wᵀw)² − Σ_i λ_i (v_iᵀw)²,   w ∈ R^d

f has the d reflection symmetries w → w − 2(v_iᵀw)v_i, and its minimiser keeps only the top
eigendirection: every other coordinate v_iᵀw is pulled to 0, a maximally symmetric solution.
The degree of symmetry is #{i : |v_iᵀw| < c_th}. Each method trains w by gradient descent
(lr 1e-4, Gaussian init) and we report f and the degree of symmetry of the effective w:

- vanilla:       ∇f(w)
- weight_decay:  ∇f(w) + 2γw
- syre:          w = θ + θ0,  ∇_θ = ∇f(θ + θ0) + 2γDθ                          (Eq. 6-7)
- w_fix:         a seeded fraction φ of w's coordinates fixed at N(0, κ²), their gradient 0
- dropout:       ∇ of f(w ⊙ m / (1 − p)), m ~ Bernoulli(1 − p) redrawn every step

Spectra: ``unstructured`` B = (G + Gᵀ)·scale, G Gaussian, c_th = 1e-3 (rotation-like symmetries);
``structured`` B = diag(v), v Gaussian, c_th = 1e-1 (discrete, axis-aligned symmetries).

Vectorised: all seeds of a trial train at once as a (seeds, d) batch; each seed draws its own B,
initial w and θ0 from (seed, name), so a row's result does not depend on its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from syre_tune import functional, metrics
from syre_tune._random import generator, per_seed, seeded_mask, seeded_normal
from syre_tune.benchmarks._common import Common, ConfigError, Report, at_least

NAME = "symmetry_objective"
METRICS = ("objective", "symmetry_degree")
METHODS = ("syre", "weight_decay", "w_fix", "dropout", "vanilla")
_MASK_BLOCK = 256  # dropout masks are drawn this many steps at a time
THRESHOLDS = {"unstructured": 1e-3, "structured": 1e-1}  # c_th of §6.2


@dataclass(frozen=True)
class Config(Common):
    # --- problem
    spectrum: Literal["unstructured", "structured"] = "unstructured"
    """unstructured: B = G + Gᵀ (c_th 1e-3); structured: B = diag(v) (c_th 1e-1)."""
    dim: int = 1000
    """d, the dimension of w (the paper: 1000)."""
    b_scale: float = 1.0
    """Multiplies B; G and v have standard normal entries."""
    init_std: float = 0.3
    """Std of the Gaussian initial w (per coordinate)."""
    relative: bool = True
    """σ0 in units of 1/√d (the paper's convention), else absolute."""

    # --- optimisation
    lr: float = 1e-4
    """Gradient-descent learning rate (the paper: 1e-4)."""
    steps: int = 20000
    """Gradient-descent steps."""
    report_every: int = 1000
    """Report f and the degree of symmetry every this many steps (and at the end)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "dim", "steps", "report_every")
        if self.lr <= 0 or self.init_std <= 0 or self.b_scale <= 0:
            raise ConfigError("lr/init_std/b_scale", (self.lr, self.init_std, self.b_scale), "numbers > 0")

    @property
    def c_th(self) -> float:
        return THRESHOLDS[self.spectrum]


def reports(cfg: Config) -> int:
    """How many times a trial reports (rows per seed): at step 0, every ``report_every``, at the end."""
    return -(-cfg.steps // cfg.report_every) + 1


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs, all its seeds: per seed the spectrum term and the eigenvectors (d × d,
    float64 as drawn and stacked, then float32), and a block of dropout masks."""
    return len(cfg.seeds) * (40 * cfg.dim**2 + 4 * _MASK_BLOCK * cfg.dim + 64 * cfg.dim)


def make_problem(cfg: Config, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per seed: the spectrum term (S, d, d) B or (S, d) diagonal v, and the eigenvectors
    (S, d, d) as columns (identity for the structured spectrum) with eigenvalues (S, d)."""
    spectra, eigvecs, eigvals = [], [], []
    for seed in cfg.seeds:
        gen = generator(seed, "B", cfg.spectrum)
        if cfg.spectrum == "unstructured":
            g = torch.randn(cfg.dim, cfg.dim, generator=gen, dtype=torch.float64)
            b = (g + g.T) * cfg.b_scale
            values, vectors = torch.linalg.eigh(b)
            spectra.append(b), eigvecs.append(vectors), eigvals.append(values)
        else:
            v = torch.randn(cfg.dim, generator=gen, dtype=torch.float64) * cfg.b_scale
            spectra.append(v), eigvals.append(v), eigvecs.append(torch.eye(cfg.dim, dtype=torch.float64))
    to = {"device": cfg.device, "dtype": dtype}
    return torch.stack(spectra).to(**to), torch.stack(eigvecs).to(**to), torch.stack(eigvals).to(**to)


def objective_and_grad(w: torch.Tensor, spectrum: torch.Tensor, structured: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """f(w) (S,) and ∇f(w) = 4(wᵀw)w − 2Bw (S, d), for w (S, d)."""
    bw = spectrum * w if structured else torch.bmm(spectrum, w.unsqueeze(-1)).squeeze(-1)
    norm2 = (w * w).sum(-1, keepdim=True)
    f = norm2.squeeze(-1) ** 2 - (w * bw).sum(-1)
    return f, 4.0 * norm2 * w - 2.0 * bw


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    dtype = torch.float32
    spectrum, eigvecs, _ = make_problem(cfg, dtype)
    structured = cfg.spectrum == "structured"
    mask_gens = [generator(seed, "w", "dropout") for seed in cfg.seeds]  # dropout only

    def draw(sampler, name: str, **kwargs) -> torch.Tensor:  # (S, d), one row per seed
        return per_seed(sampler, cfg.seeds, (cfg.dim,), name, **kwargs).to(cfg.device)

    w = draw(seeded_normal, "init", std=cfg.init_std, dtype=dtype)  # (S, d) trainable

    theta0 = torch.zeros_like(w)  # effective w = trainable + theta0 (nonzero for syre only)
    decay_diag = torch.ones_like(w)
    fixed_mask = torch.zeros_like(w, dtype=torch.bool)
    if cfg.method == "syre":  # θ0 and D from the functional core, one row per seed
        shapes, to = {"w": (cfg.dim,)}, {"seed": cfg.seeds, "device": cfg.device, "dtype": dtype}
        theta0 = functional.theta0(shapes, cfg.sigma0, relative=cfg.relative, **to)["w"]
        if cfg.sigma_d > 0:
            decay_diag = functional.diag(shapes, cfg.sigma_d, **to)["w"]
    elif cfg.method == "w_fix":
        fixed_mask = draw(seeded_mask, "w", fraction=cfg.phi)
        fixed_values = draw(seeded_normal, "w_fix", std=cfg.kappa, dtype=dtype)
        w = torch.where(fixed_mask, fixed_values, w)
    gamma = cfg.gamma if cfg.method in ("syre", "weight_decay") else 0.0

    keep = None  # the current block of dropout masks
    start = 0
    if resume is not None:  # continue right after the reported step `resume["step"]`
        start, w = int(resume["step"]), resume["w"].to(cfg.device, dtype)
        for gen, state in zip(mask_gens, resume["mask_rng"]):
            gen.set_state(state)
        keep = resume["keep"].to(cfg.device, dtype) if "keep" in resume else None

    def state(step: int) -> dict:
        saved = {"step": step, "w": w, "mask_rng": [g.get_state() for g in mask_gens]}
        return saved if keep is None else {**saved, "keep": keep}

    def measure(step: int) -> None:
        effective = w + theta0
        f, _ = objective_and_grad(effective, spectrum, structured)
        finite = torch.isfinite(effective).all(-1)
        degree = torch.full_like(f, float("nan"))
        if finite.any():
            degree[finite] = metrics.symmetry_degree(effective[finite], eigvecs[finite], cfg.c_th).to(f.dtype)
        report(step, {"objective": f, "symmetry_degree": degree}, state=lambda: state(step))

    for step in range(start, cfg.steps):
        if step % cfg.report_every == 0 and not (resume is not None and step == start):
            measure(step)
        if cfg.method == "dropout":
            if step % _MASK_BLOCK == 0:  # (S, block, d) masks, each seed from its own generator
                keep = torch.stack([torch.rand(_MASK_BLOCK, cfg.dim, generator=g) for g in mask_gens])
                keep = (keep >= cfg.dropout).to(cfg.device, dtype) / (1.0 - cfg.dropout)
            scale = keep[:, step % _MASK_BLOCK]
            _, grad = objective_and_grad(w * scale, spectrum, structured)
            grad = grad * scale
        else:
            _, grad = objective_and_grad(w + theta0, spectrum, structured)
        if gamma:
            grad = grad + 2.0 * gamma * decay_diag * w  # γ‖θ‖²_D, θ = the trainable offset
        if cfg.method == "w_fix":
            grad = grad.masked_fill(fixed_mask, 0.0)
        w = w - cfg.lr * grad  # a diverged seed turns nan/inf and is reported as such
    if resume is None or start < cfg.steps:
        measure(cfg.steps)
