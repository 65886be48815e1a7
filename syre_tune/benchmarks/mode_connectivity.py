"""Linear mode connectivity: loss and accuracy along λθ1 + (1 − λ)θ2 between two trained MLPs (paper App. B.7, Fig. 13).

Setup (paper App. B.7, "the same setting as Lim et al. (2024)"): two MLPs (``hidden`` widths,
default 784-512-512-10 with ReLU) are trained on an MNIST-family data set from different random
initialisations and mini-batch orders, then the MLP with parameters λθ1 + (1 − λ)θ2 is evaluated
on the test set for ``lambdas`` evenly spaced λ in [0, 1]. Permutation symmetry lets two runs land
in basins that are permutations of each other, with a loss barrier between them; removing the
symmetry should make the straight path between them low-loss (Fig. 13 compares vanilla, syre and
Lim et al.'s W-asymmetric networks, here ``w_fix``; σ-Asym is offered too).

One seed = one pair. Seed s trains two members, A (λ = 1 end, θ1) and B (λ = 0 end, θ2), as
members 2k and 2k + 1 of one vectorised population; everything the *method* draws comes from s
and is shared by the pair, everything of the *run* differs:

- shared: syre's θ0 and D (so both train on l(θ + θ0) + γ‖θ‖²_D around the same θ0 and the
  interpolation θ0 + λθ1 + (1 − λ)θ2 stays anchored: with a θ0 per network interpolating would be
  meaningless), W-fix's mask and fixed values (Lim et al. fix the same entries in both networks),
  σ-Asym's gate matrices;
- per member: the initial weights (drawn under ``seeded_init(s, "memberA"/"memberB")``) and the
  batch order. The population is built with seeds (s, s), which shares the method's draws, and
  each member's initial weights are then replaced by its own draw (the method's offsets kept:
  φ = init + θ0 for syre; W-fix's fixed entries put back).

Interpolation acts on the effective parameters (θ + θ0 for syre; the W-fix entries are equal at
both ends, so they stay fixed); buffers (σ-Asym gates) are shared.

Reported (one value per seed, i.e. per pair): first the training curve every ``report_every``
steps, ``iteration`` = SGD steps done, with ``test_loss`` and ``test_accuracy`` the mean over the
pair's two networks (``lam`` and ``barrier`` NaN); then ``lambdas`` interpolation rows with
``iteration`` = steps + 1 + i for λ_i = i / (lambdas − 1) (λ = 0 is network B, λ = 1 network A),
``lam`` = λ_i, ``test_loss`` and ``test_accuracy`` of the interpolated MLP, and in every one of
them ``barrier`` = max_λ [L(λθ1 + (1 − λ)θ2) − (λ L(θ1) + (1 − λ) L(θ2))], the test-loss barrier
over the grid (Entezari et al. 2022; Lim et al. 2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from syre_tune._random import generator
from syre_tune.benchmarks import _memory
from syre_tune.benchmarks._common import ConfigError, DataConfig, Report, at_least, check_data, data_sizes, load_data
from syre_tune.benchmarks._loop import Loop
from syre_tune.benchmarks._methods import Parts, seeded_init
from syre_tune.benchmarks._population import Population
from syre_tune.benchmarks._supervised import MemberBatches, cross_entropy, evaluate

NAME = "mode_connectivity"
METRICS = ("test_loss", "test_accuracy", "lam", "barrier")
METHODS = ("vanilla", "syre", "w_fix", "sigma_asym")
check = check_data

MEMBERS = ("memberA", "memberB")  # the λ = 1 and λ = 0 ends of a pair


@dataclass(frozen=True)
class Config(DataConfig):
    # --- model
    hidden: tuple[int, ...] = (512, 512)
    """Hidden widths of the MLP (784 → hidden... → 10, ReLU)."""

    # --- optimisation
    steps: int = 3000
    """SGD steps for each network."""
    batch_size: int = 128
    """Mini-batch size."""
    lr: float = 0.05
    """SGD learning rate."""
    momentum: float = 0.9
    """SGD momentum."""
    gamma: float = 1e-3
    """Weight decay γ of syre's penalty γ‖θ‖²_D (around the shared θ0)."""
    sigma0: float = 1.0
    """Scale of the static bias θ0 (syre), in units of 1/√fan_in."""

    # --- measurement
    report_every: int = 500
    """Report the training curve every this many steps (and at the end)."""
    lambdas: int = 11
    """Points of the interpolation grid λ = 0, 1/(n−1), ..., 1 (both ends included)."""
    eval_chunk: int = 2000
    """Test images evaluated at once (memory bound; does not change results)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.hidden or any(width < 1 for width in self.hidden):
            raise ConfigError("hidden", self.hidden, "a non-empty list of widths >= 1")
        at_least(self, 1, "steps", "batch_size", "report_every", "eval_chunk")
        if self.lambdas < 2:
            raise ConfigError("lambdas", self.lambdas, "an integer >= 2 (the grid includes both ends)")
        if self.lr <= 0:
            raise ConfigError("lr", self.lr, "a number > 0")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError("momentum", self.momentum, "a number in [0, 1)")


def mlp_builder(inputs: int, hidden: tuple[int, ...], classes: int):
    """The builder of the MLP inputs → hidden... → classes (ReLU, or the method's nonlinearity)."""

    def build(parts: Parts) -> nn.Module:
        layers: list[nn.Module] = [nn.Flatten()]
        width = inputs
        for index, out in enumerate(hidden):
            layers += [nn.Linear(width, out), parts.activation("relu", out, f"hidden{index}")]
            width = out
        layers.append(nn.Linear(width, classes))
        return nn.Sequential(*layers)

    return build


def member_seeds(seeds: tuple[int, ...]) -> tuple[int, ...]:
    """The population's seeds: each pair seed twice (members 2k, 2k+1 share the method's draws)."""
    return tuple(seed for seed in seeds for _ in MEMBERS)


def batch_seed(seed: int, member: str) -> int:
    """The batch-order seed of one network of pair ``seed``."""
    return generator(seed, member, "batches").initial_seed()


@torch.no_grad()
def own_initial_weights_(population: Population, build, seeds: tuple[int, ...]) -> None:
    """Give member 2k + j the initial weights of ``seeded_init(seeds[k], MEMBERS[j])`` in place of
    the pair's shared draw, keeping what the method added to them (syre's θ0) and W-fix's fixed
    entries: φ += init_j − init_shared, then refix."""
    for k, seed in enumerate(seeds):
        with seeded_init(seed):
            shared = dict(build(Parts(population.method, seed=seed)).named_parameters())
        for j, member in enumerate(MEMBERS):
            with seeded_init(seed, member):
                own = dict(build(Parts(population.method, seed=seed)).named_parameters())
            for name, stack in population.params.items():
                stack[2 * k + j].add_((own[name] - shared[name]).to(stack.device))
    population.refix_()


def interpolate(params: dict[str, torch.Tensor], lam: float) -> dict[str, torch.Tensor]:
    """(K, ...) stacks λ·(member 2k) + (1 − λ)·(member 2k + 1) from the (2K, ...) population stacks."""
    return {name: lam * p[0::2].detach() + (1.0 - lam) * p[1::2].detach() for name, p in params.items()}


def loss_barrier(lams: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    """max_i [L_i − (λ_i L(λ=1) + (1 − λ_i) L(λ=0))] over a grid ``lams`` (L,) from 0 to 1 and
    ``losses`` (L, K); returns (K,)."""
    lam = lams.to(losses.dtype)[:, None]
    linear = lam * losses[-1] + (1.0 - lam) * losses[0]
    return (losses - linear).max(0).values


def reports(cfg: Config) -> int:
    """How many times a trial reports (rows per seed): every ``report_every`` and at the end of training, then one
    per point of the interpolation curve (``lambdas``)."""
    return Loop.reports(cfg.steps, cfg.report_every, initial=False) + cfg.lambdas


def trial_memory(cfg: Config) -> int:
    """Bytes a trial needs (:mod:`._memory`): two networks per seed with their gradients and
    momentum, a batch's activations for every network, or an evaluation chunk's."""
    sizes = data_sizes(cfg)
    members = len(MEMBERS) * len(cfg.seeds)
    return _memory.trial_bytes(
        _memory.shapes(mlp_builder(math.prod(sizes.shape), cfg.hidden, sizes.classes), sizes.shape),
        members=members,
        optimizer_states=int(cfg.momentum > 0),
        batch=cfg.batch_size,
        together=True,
        evaluated=min(cfg.eval_chunk, sizes.test),
        data=_memory.data_numbers(sizes.train, sizes.test, sizes.shape) * (1 + members / 2),
    )  # a test chunk expanded to every network


def run(cfg: Config, report: Report, resume: dict | None = None) -> None:
    data = load_data(cfg)
    pairs = len(cfg.seeds)
    build = mlp_builder(data.input_dim, cfg.hidden, data.num_classes)
    population = Population(cfg, build, member_seeds(cfg.seeds))  # 2K members, method draws per pair
    own_initial_weights_(population, build, cfg.seeds)
    optimizer = torch.optim.SGD(population.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    orders = [batch_seed(seed, member) for seed in cfg.seeds for member in MEMBERS]
    batches = MemberBatches(len(data.y_train), cfg.batch_size, seeds=orders, device=cfg.device)
    loop = Loop(
        report,
        steps=cfg.steps,
        every=cfg.report_every,
        resume=resume,
        state={"model": population, "optimizer": optimizer, "batches": batches},
    )
    nan = torch.full((pairs,), float("nan"), device=cfg.device)

    def test_inputs(count: int):
        return lambda rows: data.x_test[rows].expand(count, *data.x_test[rows].shape)

    def pair_mean(values: torch.Tensor) -> torch.Tensor:  # (2K,) → (K,)
        return values.view(pairs, len(MEMBERS)).mean(1)

    for _ in loop:
        idx = batches.next()  # (2K, B)
        logits = population(data.x_train[idx])  # (2K, B, classes)
        y = data.y_train[idx]
        population.step_(optimizer, cross_entropy(logits, y))
        if loop.due:
            loss, accuracy = evaluate(population, test_inputs(2 * pairs), data.y_test, chunk=cfg.eval_chunk)
            loop.report(
                {"test_loss": pair_mean(loss), "test_accuracy": pair_mean(accuracy), "lam": nan, "barrier": nan}
            )

    # --- the interpolation curve (Fig. 13), after training: reports steps + 1 .. steps + lambdas
    shared_buffers = {name: b[0::2] for name, b in population.buffers.items()}  # equal within a pair

    def interpolated(params: dict[str, torch.Tensor]):
        def one(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(population.base, (p, b), (x,))

        return lambda x: torch.func.vmap(one)(params, shared_buffers, x)

    lams = torch.linspace(0.0, 1.0, cfg.lambdas, dtype=torch.float64)
    curve = [
        evaluate(
            interpolated(interpolate(population.params, float(lam))),
            test_inputs(pairs),
            data.y_test,
            chunk=cfg.eval_chunk,
        )
        for lam in lams
    ]
    losses = torch.stack([loss for loss, _ in curve])  # (lambdas, K)
    barrier = loss_barrier(lams.to(cfg.device), losses)
    for index, (lam, (loss, accuracy)) in enumerate(zip(lams.tolist(), curve)):
        if index < loop.extra.get("points_reported", 0):  # resumed after this point
            continue
        loop.extra["points_reported"] = index + 1
        lam_column = torch.full((pairs,), lam, device=cfg.device)
        metrics = {"test_loss": loss, "test_accuracy": accuracy, "lam": lam_column, "barrier": barrier}
        loop.report(metrics, iteration=cfg.steps + 1 + index)
