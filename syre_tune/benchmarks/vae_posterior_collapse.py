"""β-VAE posterior collapse on Fashion-MNIST: encoder rank and reconstruction loss against β (Fig. 9, Fig. 10).

Paper §6.4 (Fig. 9, Fig. 10), following Wang & Ziyin (2022, "Posterior collapse of a linear
latent variable model", code zihao-wang/LinearVAE): a β-VAE whose encoder and decoder are
two-layer SiLU networks (hidden and latent size 200), the KL term weighted by β, the prior of the
latent N(0, η_enc·I) with η_enc = 0.01. Weight decay acts on the encoder only (``params`` =
``["encoder.*"]``): the collapse is the encoder's. As β grows the posterior collapses (β ≈ 5–10):
the encoder output loses rank and the reconstruction loss rises. The paper's claim: with syre
(γ = 1000 in Fig. 10) the rank stays up and the reconstructions stay sharp, while "vanilla weight
decay" at the same γ collapses.

Methods: vanilla (no decay: Fig. 10 left), weight_decay (the paper's "vanilla with weight decay":
γ‖θ_enc‖² in the loss), syre (anchor form: γ‖φ_enc − θ0‖²_D in the loss, θ0 ~ N(0, σ0²/fan_in)).

The objective of one example x (784 pixels in [0, 1], as torchvision's ``ToTensor`` gives them:
the data are *not* standardised, as in Wang & Ziyin's code), with z = μ(x) + σ(x) ⊙ ε, ε ~ N(0, I):

    recon(x) = ‖x − decoder(z)‖² / (2 η_dec)                              (Gaussian decoder, variance η_dec)
    kl(x)    = ½ Σ_j [ (σ_j² + μ_j²) / η_enc − 1 − log(σ_j² / η_enc) ]    (KL(q(z|x) ‖ N(0, η_enc I)))
    loss     = mean over the batch of recon + β · kl

Choices the paper leaves open (taken from Wang & Ziyin's code where it has them):

- η_enc = 0.01 is read as the prior's *variance* (the paper: "the prior variance of the latent
  variable to be η_enc = 0.01"; Wang & Ziyin's code calls it ``eta_prior_sq``), ``prior_variance``;
  the decoder variance η_dec = 1 (their default), ``decoder_variance``.
- The encoder is two two-layer nets, one for μ and one for log σ² (Wang & Ziyin's ReLU encoder,
  with SiLU), ``encoder.mean`` and ``encoder.log_variance``; the decoder is one two-layer net with a
  linear output (the Gaussian mean). All layers have biases.
- Adam, lr 1e-3 (their code); batch 128 and 20 Fashion-MNIST epochs (their 256 epochs at batch 16
  are not the paper's budget, which it does not state).
- σ0 = 1 (relative units: θ0's std is 1/√fan_in, a default initialisation's scale); the paper
  does not state σ0. γ = 1000 is Fig. 10's. β's sweep is the study's.
- "Rank of the encoder output": the covariance rank of μ(x) (the encoder's mean, the latent code)
  over the first ``rank_samples`` = 1000 training images, eigenvalues > 1e-6 (Fig. 9's caption).
- "Reconstruction loss": recon above, averaged over the first ``eval_size`` training images
  (``recon_loss``) and over the test split (``test_recon_loss``), with the noise ε drawn from a
  generator seeded by (seed, "eval") afresh at every report, so a report does not depend on what
  ran before it.

Metrics, every ``report_every`` steps, one value per seed: ``train_loss`` (the β-VAE objective
without the method's penalty, on the eval images), ``recon_loss``, ``kl`` (unweighted, per image),
``test_recon_loss``, ``rank``.

Then Fig. 10's reconstructions, as successive reports after training (the runner writes rows
only): report ``steps + 1 + i·P + p`` carries test image ``recon_image`` = i (i < ``reconstructions``),
pixel ``recon_pixel`` = p (row-major, P = pixels per image), its value ``recon_input`` and the
decoder's output at z = μ(x) ``recon_output`` (the posterior mean's reconstruction, no noise). In
those reports the training metrics repeat their final values (so a run's last row carries its
result); in the training reports the ``recon_*`` metrics are NaN. These reports carry no checkpoint state (a resumed
trial redoes them from the last training report). The figure module draws the grid from them.

Seeds run side by side as :class:`~syre_tune.benchmarks._members.Members` (each its own model,
Adam, batch order and noise generator). ``precision: bf16`` autocasts the layers (the loss terms
are computed in fp32); ``channels_last`` has no effect here (no convolutions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from syre_tune import metrics
from syre_tune._random import generator
from syre_tune.benchmarks import _memory
from syre_tune.benchmarks._common import ConfigError, Report, above, at_least, data_sizes
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._members import Members
from syre_tune.benchmarks._methods import Parts
from syre_tune.benchmarks._supervised import MemberBatches
from syre_tune.benchmarks._vision import VisionConfig, autocast, check_vision

NAME = "vae_posterior_collapse"
METRICS = (
    "train_loss",
    "recon_loss",
    "kl",
    "test_recon_loss",
    "rank",
    "recon_image",
    "recon_pixel",
    "recon_input",
    "recon_output",
)
METHODS = ("vanilla", "weight_decay", "syre")
RECONSTRUCTION_METRICS = ("recon_image", "recon_pixel", "recon_input", "recon_output")


@dataclass(frozen=True)
class Config(VisionConfig):
    # --- data and method (the paper: Fashion-MNIST, decay on the encoder only, γ = 1000 in Fig. 10)
    dataset: str = "fashion_mnist"
    """The data set (pixels in [0, 1], not standardised); digits is the MNIST-family stand-in."""
    params: tuple[str, ...] | None = ("encoder.*",)
    """fnmatch patterns of the parameters weight decay / syre act on (the paper: the encoder only)."""
    gamma: float = 1000.0
    """Weight decay γ of the encoder penalty (weight_decay, syre; Fig. 10: 1000)."""
    sigma0: float = 1.0
    """Scale of syre's θ0 in units of 1/√fan_in (the paper does not state it)."""

    # --- model and objective
    beta: float = 10.0
    """β: the weight of the KL term (Fig. 10: 10; the study sweeps it)."""
    prior_variance: float = 0.01
    """η_enc: the variance of the latent's prior N(0, η_enc·I) (the paper: 0.01)."""
    decoder_variance: float = 1.0
    """η_dec: the Gaussian decoder's variance, recon = ‖x − x̂‖² / (2 η_dec) (Wang & Ziyin: 1)."""
    hidden: int = 200
    """Hidden units of each two-layer net (the paper: 200)."""
    latent: int = 200
    """Latent dimension (the paper: 200)."""

    # --- optimisation
    lr: float = 1e-3
    """Adam's learning rate (Wang & Ziyin: 1e-3)."""
    batch_size: int = 128
    """Mini-batch size."""
    steps: int = 9375
    """Optimisation steps (20 Fashion-MNIST epochs at batch 128)."""
    report_every: int = 937
    """Report (and allow a checkpoint) every this many steps, and at the end."""

    # --- measurement
    eval_size: int | None = 10000
    """train_loss / recon_loss / kl on the first n training images (None: all of them)."""
    rank_samples: int = 1000
    """Training images the encoder output's covariance is taken over (the paper: 1000)."""
    rank_threshold: float = 1e-6
    """Covariance eigenvalues above this count toward the rank (the paper: 1e-6)."""
    reconstructions: int = 8
    """Test images whose reconstructions are reported after training, pixel by pixel (0: none)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "hidden", "latent", "batch_size", "steps", "report_every", "eval_size", "eval_chunk")
        at_least(self, 2, "rank_samples", expected="an integer >= 2 (a covariance needs two samples)")
        at_least(self, 0, "reconstructions")
        at_least(self, 0, "beta", "rank_threshold", expected="a number >= 0")
        above(self, 0, "prior_variance", "decoder_variance", "lr")


class BetaVAE(nn.Module):
    """x (B, ...) → flatten (B, inputs) → μ, log σ² (B, latent) each from a two-layer SiLU net;
    z (B, latent) → a two-layer SiLU net → x̂ (B, inputs), linear output."""

    def __init__(self, inputs: int, hidden: int, latent: int, parts: Parts) -> None:
        super().__init__()

        def two_layer(a: int, b: int, name: str) -> nn.Sequential:
            return nn.Sequential(nn.Linear(a, hidden), parts.activation("silu", hidden, name), nn.Linear(hidden, b))

        self.encoder = nn.ModuleDict(
            {
                "mean": two_layer(inputs, latent, "encoder.mean"),
                "log_variance": two_layer(inputs, latent, "encoder.log_variance"),
            }
        )
        self.decoder = two_layer(latent, inputs, "decoder")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²) of q(z | x), each (B, latent)."""
        h = x.flatten(1)
        return self.encoder["mean"](h), self.encoder["log_variance"](h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's Gaussian mean x̂ (B, inputs)."""
        return self.decoder(z)


def vae_terms(
    x: torch.Tensor,
    reconstruction: torch.Tensor,
    mean: torch.Tensor,
    log_variance: torch.Tensor,
    *,
    prior_variance: float,
    decoder_variance: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image (B,): recon = ‖x − x̂‖² / (2 η_dec) and kl = KL(N(μ, σ²) ‖ N(0, η_enc I)) =
    ½ Σ_j [(σ_j² + μ_j²)/η_enc − 1 − log(σ_j²/η_enc)]. ``x`` (B, ...), the others (B, dims)."""
    recon = (x.flatten(1) - reconstruction).square().sum(1) / (2.0 * decoder_variance)
    log_ratio = log_variance - torch.log(torch.as_tensor(prior_variance, dtype=log_variance.dtype))
    kl = 0.5 * ((log_variance.exp() + mean.square()) / prior_variance - 1.0 - log_ratio).sum(1)
    return recon, kl


class Noise:
    """Each member's reparameterisation noise ε ~ N(0, I): its own generator on the trial's device,
    seeded by (seed, "vae", "noise"), its state kept in the checkpoint."""

    def __init__(self, seeds: Sequence[int], device: str | torch.device) -> None:
        self.generators = []
        for seed in seeds:
            gen = torch.Generator(device=device)
            gen.manual_seed(generator(int(seed), "vae", "noise").initial_seed())
            self.generators.append(gen)

    def draw(self, k: int, shape: tuple[int, ...]) -> torch.Tensor:
        gen = self.generators[k]
        return torch.randn(shape, generator=gen, device=gen.device)

    def state_dict(self) -> dict[str, list]:
        return {"states": [gen.get_state() for gen in self.generators]}

    def load_state_dict(self, state: dict[str, list]) -> None:
        for gen, saved in zip(self.generators, state["states"], strict=True):
            gen.set_state(saved.cpu())  # a checkpoint loaded onto cuda moved the byte state there


def _builder(cfg: Config, inputs: int):
    def build(parts: Parts) -> BetaVAE:
        return BetaVAE(inputs, cfg.hidden, cfg.latent, parts)

    return build


def check(cfg: Config) -> None:
    # the parameter names do not depend on the input size: check the patterns on a 784-pixel model
    check_vision(cfg, _builder(cfg, 784))


def reports(cfg: Config) -> int:
    """Rows per seed: before training, every ``report_every`` steps and at the end, then one per
    pixel of each of the ``reconstructions`` test images."""
    pixels = math.prod(data_sizes(cfg).shape)
    return Loop.reports(cfg.steps, cfg.report_every) + cfg.reconstructions * pixels


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs (:mod:`._memory`): every seed's VAE with its gradients and Adam moments,
    and one VAE's batch of activations at a time (or an evaluation chunk's)."""
    sizes = data_sizes(cfg)
    pixels = math.prod(sizes.shape)
    found = _memory.shapes(_builder(cfg, pixels), (pixels,), lambda model, x: model.decode(model.encode(x)[0]))
    evaluated = max(cfg.eval_chunk, cfg.rank_samples)
    return _memory.per_seed(found, cfg, sizes, optimizer_states=2, together=False, evaluated=evaluated)


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    from syre_tune import data as datasets

    # pixels in [0, 1] (not standardised), as Wang & Ziyin's ToTensor: the scale sets where β collapses
    data = datasets.load(
        cfg.dataset,
        root=cfg.data_root,
        download=cfg.data_download,
        device=cfg.device,
        train_size=cfg.train_size,
        test_size=cfg.test_size,
        normalize=False,
    )
    x_train, x_test = data.x_train.flatten(1), data.x_test.flatten(1)  # (N, P), (M, P)
    if cfg.batch_size > len(x_train):
        raise ConfigError("batch_size", cfg.batch_size, f"at most the {len(x_train)} training images")
    if cfg.reconstructions > len(x_test):
        raise ConfigError("reconstructions", cfg.reconstructions, f"at most the {len(x_test)} test images")
    pixels = x_train.shape[1]
    members = Members(
        cfg,
        _builder(cfg, pixels),
        cfg.seeds,
        optimizer=lambda params, **kw: torch.optim.Adam(params, lr=cfg.lr, **kw),
        params=cfg.params,
    )
    batches = MemberBatches(len(x_train), cfg.batch_size, seeds=cfg.seeds, device=data.device)
    noise = Noise(cfg.seeds, data.device)
    eval_x, rank_x = x_train[: cfg.eval_size], x_train[: cfg.rank_samples]
    shown = x_test[: cfg.reconstructions]  # (images, P)
    terms = {"prior_variance": cfg.prior_variance, "decoder_variance": cfg.decoder_variance}

    def objective(model: BetaVAE, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image recon and kl with z = μ + σ ⊙ ε (in fp32: the autocast covers the layers only)."""
        with autocast(cfg):
            mean, log_variance = model.encode(x)
            reconstruction = model.decode(mean + (0.5 * log_variance).exp() * eps)
        return vae_terms(x, reconstruction.float(), mean.float(), log_variance.float(), **terms)

    @torch.no_grad()
    def averages(model: BetaVAE, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean recon and kl over ``x``, ``eval_chunk`` images at a time, with the seed's eval noise."""
        gen = torch.Generator(device=data.device)
        gen.manual_seed(generator(seed, "vae", "eval").initial_seed())
        recon_sum = kl_sum = torch.zeros((), device=data.device)
        for start in range(0, len(x), cfg.eval_chunk):
            chunk = x[start : start + cfg.eval_chunk]
            eps = torch.randn((len(chunk), cfg.latent), generator=gen, device=data.device)
            recon, kl = objective(model, chunk, eps)
            recon_sum, kl_sum = recon_sum + recon.sum(), kl_sum + kl.sum()
        return recon_sum / len(x), kl_sum / len(x)

    @torch.no_grad()
    def measure() -> dict[str, torch.Tensor]:
        rows: dict[str, list[torch.Tensor]] = {name: [] for name in METRICS}
        for member in members:
            model = member.model
            recon, kl = averages(model, eval_x, member.seed)
            test_recon, _ = averages(model, x_test, member.seed)
            with autocast(cfg):
                mean = model.encode(rank_x)[0].float()  # (rank_samples, latent): the encoder output
            finite = bool(torch.isfinite(mean).all())
            rank = metrics.covariance_rank(mean, cfg.rank_threshold).float() if finite else torch.tensor(torch.nan)
            values = {"train_loss": recon + cfg.beta * kl, "recon_loss": recon, "kl": kl}
            values |= {"test_recon_loss": test_recon, "rank": rank.to(data.device)}
            for name in METRICS:
                rows[name].append(values.get(name, torch.tensor(torch.nan, device=data.device)))
        return {name: torch.stack(values) for name, values in rows.items()}

    loop = Loop(
        report,
        steps=cfg.steps,
        every=cfg.report_every,
        resume=resume,
        state={"models": members, "batches": batches, "noise": noise},
    )
    if loop.fresh:
        loop.report(measure())
    members.train()
    for _ in loop:
        index = batches.next()  # (K, batch): each member its own batch
        for k, member in enumerate(members):
            x = x_train[index[k]]
            recon, kl = objective(member.model, x, noise.draw(k, (len(x), cfg.latent)))
            member.step_((recon + cfg.beta * kl).mean())
        if loop.due:
            loop.report(measure())

    # Fig. 10: the reconstructions of the first test images, one report per (image, pixel), no state.
    if not len(shown):
        return
    with torch.no_grad():
        final = {name: value.cpu() for name, value in measure().items() if name not in RECONSTRUCTION_METRICS}
        outputs = []
        for member in members:
            with autocast(cfg):
                outputs.append(member.model.decode(member.model.encode(shown)[0]).float())
        # on the CPU once: thousands of small reports should not each wait for the device
        outputs_by_seed, shown = torch.stack(outputs, 1).cpu(), shown.cpu()  # (images, K, P), (images, P)
    count = len(members)
    for i in range(len(shown)):
        for p in range(pixels):
            values = {
                **final,
                "recon_image": torch.full((count,), float(i)),
                "recon_pixel": torch.full((count,), float(p)),
                "recon_input": shown[i, p].expand(count),
                "recon_output": outputs_by_seed[i, :, p],
            }
            report(cfg.steps + 1 + i * pixels + p, values)
