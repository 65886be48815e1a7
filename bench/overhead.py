"""The paper's Table 2/3 as a command: syre's per-batch time and memory against vanilla AdamW.

What it measures
    One training step (zero_grad, forward, cross-entropy, backward, decay, AdamW step) on a fixed,
    pre-generated CIFAR-shaped batch (random 3×32×32 images, random labels of 10 classes), for the
    paper's Table 2/3 models at each batch size:

    - ``mlp``: MLP 4×300, 3·32·32 → 300 → 300 → 300 → 300 → 10, ReLU (the input flattened);
    - ``resnet18``: torchvision's ``resnet18(num_classes=10)`` as is (ImageNet stem: 7×7 stride-2 conv
      and max-pool; probably the paper's model, REFERENCE.md);
    - ``resnet18_cifar``: the CIFAR variant of ``syre_tune/benchmarks/_resnet.py`` (3×3 stride-1 stem,
      no max-pool);
    - ``vit``: ViT 6×512 of ``syre_tune/benchmarks/vit_cifar.py`` with its defaults (patch 4, 8 heads,
      MLP 512, dropout 0.1);
    - ``resnet18_w2``: the CIFAR ResNet18's 62 tensors at width 2 (11k parameters): almost no arithmetic,
      so its times are each variant's fixed cost per step (Python, dispatch, kernel launches), the cost
      that a GPU step of a small or launch-bound model (torchvision's ResNet18 on 32×32 images) is
      made of. Not a paper row: a CPU-measurable proxy for the per-tensor overheads.

    Variants, each training its own copy of the same initial weights:

    - ``vanilla``: ``AdamW(lr, weight_decay=2γ)``, torch's decoupled decay (2γ maps γ‖θ‖²);
    - ``bias/buffer``, ``bias/seed``, ``anchor/buffer``, ``anchor/seed``: ``Syre(σ0, γ, σ_D, mode=...,
      store=...)`` attached, ``AdamW(lr, weight_decay=0)`` and ``syre.decay_(model, lr)`` — the same
      decoupled step, toward θ0 in anchor mode (toward 0 of the offset θ in bias mode). It is called
      right before ``opt.step()`` because AdamW decays the parameters first and then adds the Adam
      update; with σ0 = 0 every variant then follows vanilla's trajectory exactly (the test checks it).

How to run
    python bench/overhead.py                                   # CUDA if present: every model, batch 512 256 128
    python bench/overhead.py --quick                           # CPU, batch 32, 5 rounds of 2 steps
    python bench/overhead.py --quick --threads 1               # steadier where other jobs share the cores
    python bench/overhead.py --models resnet18 --batches 512 --rounds 20 --out /tmp/overhead

Methodology
    Time: warm-up steps per variant, then ``--rounds`` interleaved rounds; in each round every variant
    runs ``--steps-per-round`` consecutive steps in a freshly shuffled order and the round's mean step
    time is recorded (CUDA events on a GPU, read after one synchronize per round; ``perf_counter`` on a
    CPU, torch using ``--threads``, every core by default). Reported: the median over rounds, its ratio
    to vanilla's median, and the min–max over rounds of the ratio to the same round's vanilla time.
    Memory: each variant's runner is built and stepped (``--memory-steps``, so the Adam state and the
    gradients exist) one at a time; on CUDA, ``torch.cuda.max_memory_allocated`` after a reset, minus
    what was allocated before the runner was built: its weights, θ0, gradients, optimizer state and the
    step's activations and temporaries. On a CPU there is no allocator peak to read, so the ratio is of
    persistent state only (parameters, buffers, gradients, optimizer state, counted once per storage):
    it shows the stored θ0's cost and misses activations and any transient θ0 that ``store="seed"``
    draws. Both are in the output (``peak_bytes`` is empty on a CPU, ``state_bytes`` always there).
    The fp32 defaults throughout (no autocast, no TF32 switch, cudnn.benchmark off).

Output
    The paper's layout on stdout (rows model × batch, a column per variant: "time ratio · memory ratio"),
    with the device's name and torch's version; ``--out DIR`` writes overhead.parquet and overhead.csv
    (one row per model × batch × variant, the settings and versions in every row).
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torchvision
from torch import nn

from syre_tune import Syre

VARIANTS = ("vanilla", "bias/buffer", "bias/seed", "anchor/buffer", "anchor/seed")
IMAGE_SHAPE = (3, 32, 32)
CLASSES = 10


# --- settings -------------------------------------------------------------------------------------------------------


@dataclass
class Settings:
    # --- infrastructure
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    """Where the models train: cuda (CUDA events, allocator peak) or cpu (perf_counter, state bytes)."""
    out: str | None = None
    """Folder for overhead.parquet and overhead.csv; none: print only."""
    seed: int = 0
    """Seeds the initial weights, the batch and the rounds' order."""
    threads: int = os.cpu_count() or 1
    """torch's CPU threads (every core by default; 1 is steadier on a machine other jobs share)."""

    # --- what is measured
    models: list[str] = field(default_factory=lambda: ["mlp", "resnet18", "resnet18_cifar", "vit"])
    """Which of MODELS."""
    batches: list[int] = field(default_factory=lambda: [512, 256, 128])
    """Batch sizes (the paper's Table 2/3: 512, 256, 128)."""
    rounds: int = 12
    """Interleaved rounds R; the median over them is reported."""
    steps_per_round: int = 10
    """Consecutive steps K of one variant in a round."""
    warmup: int = 3
    """Untimed steps per variant before the rounds."""
    memory_steps: int = 2
    """Steps of each freshly built runner while its memory is measured."""

    # --- the method (Table 2/3 compare costs; the values barely matter)
    lr: float = 1e-3
    """AdamW's learning rate."""
    sigma0: float = 0.01
    """syre's σ0 (relative: std σ0/√fan_in)."""
    gamma: float = 5e-4
    """syre's γ; vanilla's weight_decay is 2γ."""
    sigma_d: float = 0.0
    """syre's σ_D (0: D = I, the paper's default)."""

    @property
    def memory_kind(self) -> str:
        if torch.device(self.device).type == "cuda":
            return "cuda peak allocated (weights, θ0, grads, optimizer state, activations)"
        return "state bytes (parameters, buffers, grads, optimizer state; no activations, no transient θ0)"


QUICK = {"device": "cpu", "batches": [32], "rounds": 5, "steps_per_round": 2, "warmup": 1}
"""--quick: a CPU run (the issue's CPU target is at batch 32); flags given explicitly win."""


# --- models ---------------------------------------------------------------------------------------------------------


def make_mlp() -> nn.Module:
    """MLP 4×300 on CIFAR-shaped input: (B, 3, 32, 32) → flatten → 4 × (Linear 300, ReLU) → Linear 10."""
    widths = [IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2], 300, 300, 300, 300]
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], CLASSES))


def make_resnet18() -> nn.Module:
    return torchvision.models.resnet18(num_classes=CLASSES)


def make_resnet18_cifar() -> nn.Module:
    from syre_tune.benchmarks._resnet import ResNet18

    return ResNet18(num_classes=CLASSES)


def make_resnet18_w2() -> nn.Module:
    from syre_tune.benchmarks._resnet import ResNet18

    return ResNet18(num_classes=CLASSES, width=2)


def make_vit() -> nn.Module:
    from syre_tune.benchmarks._methods import Parts
    from syre_tune.benchmarks.vit_cifar import Config, ViT

    return ViT(Config(), CLASSES, Parts("weight_decay", seed=0))  # plain GELU; syre is attached by the runner


MODELS: dict[str, tuple[str, Callable[[], nn.Module]]] = {
    "mlp": ("MLP 4×300", make_mlp),
    "resnet18": ("ResNet18 (torchvision, ImageNet stem)", make_resnet18),
    "resnet18_cifar": ("ResNet18 (CIFAR variant)", make_resnet18_cifar),
    "vit": ("ViT 6×512", make_vit),
    "resnet18_w2": ("ResNet18 at width 2 (fixed per-step cost)", make_resnet18_w2),
}


# --- one variant ----------------------------------------------------------------------------------------------------


class Runner:
    """One variant: its own copy of the model on the device, its AdamW and (for syre) its attached Syre."""

    def __init__(self, variant: str, base: nn.Module, settings: Settings) -> None:
        self.lr = settings.lr
        self.model = copy.deepcopy(base).to(settings.device).train()
        self.loss_fn = nn.CrossEntropyLoss()
        self.syre: Syre | None = None
        if variant == "vanilla":
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=2.0 * settings.gamma)
        else:
            mode, store = variant.split("/")
            self.syre = Syre(settings.sigma0, settings.gamma, sigma_d=settings.sigma_d, mode=mode, store=store)
            self.syre.attach(self.model)
            # Collected after attach: in bias mode the leaves are the parametrizations' θ.
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=0.0)

    def step(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.loss_fn(self.model(inputs), targets).backward()
        if self.syre is not None:  # AdamW's order: decay first, then the Adam update
            self.syre.decay_(self.model, self.lr)
        self.opt.step()

    def state_bytes(self) -> int:
        """Bytes of the persistent state: parameters, buffers, gradients, optimizer state (each storage once)."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        tensors += [p.grad for p in self.model.parameters() if p.grad is not None]
        tensors += [v for state in self.opt.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
        return sum(storages.values())


class Clock:
    """Times blocks of steps: CUDA events on a GPU (read after one synchronize), perf_counter elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def start(self) -> object:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def seconds(self, start: object, end: object) -> float:
        """Call after synchronize() when on CUDA."""
        return start.elapsed_time(end) / 1e3 if self.cuda else end - start  # type: ignore[union-attr,operator]

    def synchronize(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


def build_measured(
    variant: str, base: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, settings: Settings
) -> tuple[Runner, int | None]:
    """A fresh runner, stepped ``memory_steps`` times, and its peak allocated bytes on CUDA (None elsewhere)."""
    device = torch.device(settings.device)
    gc.collect()
    if device.type != "cuda":
        runner = Runner(variant, base, settings)
        for _ in range(settings.memory_steps):
            runner.step(inputs, targets)
        return runner, None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)  # the batch and the runners built earlier
    runner = Runner(variant, base, settings)
    for _ in range(settings.memory_steps):
        runner.step(inputs, targets)
    torch.cuda.synchronize(device)
    return runner, torch.cuda.max_memory_allocated(device) - before


# --- one model × batch ----------------------------------------------------------------------------------------------


def bench(model: str, batch: int, settings: Settings) -> list[dict]:
    """One row per variant: times over interleaved rounds and memory, with ratios to vanilla."""
    device = torch.device(settings.device)
    torch.manual_seed(settings.seed)
    label, factory = MODELS[model]
    base = factory()
    inputs = torch.randn(batch, *IMAGE_SHAPE, device=device)
    targets = torch.randint(0, CLASSES, (batch,), device=device)

    if device.type == "cuda":  # cuBLAS/cuDNN workspaces stay allocated after first use: not vanilla's cost
        Runner("vanilla", base, settings).step(inputs, targets)
    runners, peak = {}, {}
    for variant in VARIANTS:
        runners[variant], peak[variant] = build_measured(variant, base, inputs, targets, settings)
        for _ in range(settings.warmup):
            runners[variant].step(inputs, targets)

    clock = Clock(device)
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    order, shuffle = list(VARIANTS), random.Random(settings.seed)
    for _ in range(settings.rounds):
        shuffle.shuffle(order)
        gc.collect()
        clock.synchronize()
        marks = {}
        for variant in order:
            start = clock.start()
            for _ in range(settings.steps_per_round):
                runners[variant].step(inputs, targets)
            marks[variant] = (start, clock.start())
        clock.synchronize()
        for variant, (start, end) in marks.items():
            seconds[variant].append(clock.seconds(start, end) / settings.steps_per_round)

    state = {v: runners[v].state_bytes() for v in VARIANTS}
    memory = peak if device.type == "cuda" else state
    vanilla_median = statistics.median(seconds["vanilla"])
    rows = []
    for variant in VARIANTS:
        per_round = [t / v for t, v in zip(seconds[variant], seconds["vanilla"], strict=True)]
        median = statistics.median(seconds[variant])
        mode, _, store = variant.partition("/")
        rows.append(
            {
                "model": model,
                "model_label": label,
                "batch": batch,
                "variant": variant,
                "mode": mode if store else None,
                "store": store or None,
                "median_ms": 1e3 * median,
                "time_ratio": median / vanilla_median,
                "round_ratio_min": min(per_round),
                "round_ratio_max": max(per_round),
                "peak_bytes": peak[variant],
                "state_bytes": state[variant],
                "memory_ratio": memory[variant] / memory["vanilla"],
                "parameters": sum(p.numel() for p in base.parameters()),
            }
        )
    del runners
    return rows


# --- the paper's layout (data step, then printing) ------------------------------------------------------------------


def layout(results: pd.DataFrame) -> pd.DataFrame:
    """Rows model × batch (in the order run), a column per syre variant holding "time ratio · memory ratio",
    and vanilla's ms per step."""
    variants = [v for v in VARIANTS[1:] if v in set(results["variant"])]
    rows = []
    for (label, batch), group in results.groupby(["model_label", "batch"], sort=False):
        by_variant = group.set_index("variant")
        row = {"model": label, "batch": int(batch), "vanilla ms/step": f"{by_variant.at['vanilla', 'median_ms']:.2f}"}
        for variant in variants:
            row[variant] = "—"  # not measured for this row
            if variant in by_variant.index:
                time_ratio, memory_ratio = by_variant.loc[variant, ["time_ratio", "memory_ratio"]]
                row[variant] = f"{time_ratio:.2f}× · {memory_ratio:.2f}×"
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")  # Linux; elsewhere platform's (often vaguer) name
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    name = names[0] if names else platform.processor() or platform.machine()
    return f"{name} (CPU), {torch.get_num_threads()} torch threads"


def write(results: pd.DataFrame, out: Path) -> None:
    """overhead.parquet and overhead.csv in ``out``, each written to a temporary name and renamed."""
    out.mkdir(parents=True, exist_ok=True)
    for name, writer in (("overhead.parquet", results.to_parquet), ("overhead.csv", results.to_csv)):
        partial = out / f".{name}.partial"
        writer(partial, index=False)
        os.replace(partial, out / name)


# --- command line ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Settings:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--device", default=None, help=f"cuda | cpu (default here: {defaults.device})")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=None, help=f"default: {defaults.models}")
    parser.add_argument("--batches", nargs="+", type=int, default=None, help=f"default: {defaults.batches}")
    parser.add_argument("--rounds", type=int, default=None, help=f"interleaved rounds (default {defaults.rounds})")
    parser.add_argument("--steps-per-round", type=int, default=None, help=f"default {defaults.steps_per_round}")
    parser.add_argument("--warmup", type=int, default=None, help=f"steps per variant (default {defaults.warmup})")
    parser.add_argument("--memory-steps", type=int, default=defaults.memory_steps, help="steps while memory is read")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch CPU threads (default: all cores)")
    parser.add_argument("--quick", action="store_true", help=f"CPU-sized defaults: {QUICK}")
    parser.add_argument("--out", default=None, metavar="DIR", help="write overhead.parquet and overhead.csv here")
    args = parser.parse_args(argv)
    given = {key: value for key, value in vars(args).items() if value is not None and key != "quick"}
    settings = Settings(**({**QUICK, **given} if args.quick else given))
    for key in ("rounds", "steps_per_round", "memory_steps", "threads"):
        if getattr(settings, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1, got {getattr(settings, key)}")
    if settings.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {settings.warmup}")
    if any(batch < 1 for batch in settings.batches):
        parser.error(f"--batches must all be >= 1, got {settings.batches}")
    if torch.device(settings.device).type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {settings.device}: CUDA is not available here (use --device cpu)")
    return settings


def main(argv: list[str] | None = None) -> pd.DataFrame:
    settings = parse_args(argv)
    device = torch.device(settings.device)
    torch.set_num_threads(settings.threads)
    start = time.perf_counter()
    rows = []
    for model in settings.models:
        for batch in settings.batches:
            rows += bench(model, batch, settings)
            print(f"  {model} batch {batch} done ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    provenance = {
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "memory_kind": settings.memory_kind,
        **{key: value for key, value in asdict(settings).items() if key not in ("device", "out", "models", "batches")},
    }
    results = pd.DataFrame([{**row, **provenance} for row in rows]).astype({"peak_bytes": "Int64"})

    print(f"device: {provenance['device_name']} | torch {torch.__version__} | torchvision {torchvision.__version__}")
    print(
        f"cells: time ratio · memory ratio to vanilla AdamW(weight_decay=2γ); ratio of medians over "
        f"{settings.rounds} interleaved rounds of {settings.steps_per_round} steps"
    )
    print(f"memory: {settings.memory_kind}")
    print(f"syre: σ0={settings.sigma0} (relative), γ={settings.gamma}, σ_D={settings.sigma_d}; AdamW lr={settings.lr}")
    print()
    print(markdown(layout(results)))
    print("\nper variant: median ms/step, ratio of medians, per-round ratio min–max (the spread of a round's noise)")
    for (label, batch), group in results.groupby(["model_label", "batch"], sort=False):
        cells = [
            f"{r.variant} {r.median_ms:.2f} ms {r.time_ratio:.2f}× [{r.round_ratio_min:.2f}–{r.round_ratio_max:.2f}]"
            for r in group.itertuples()
        ]
        print(f"  {label}, {batch}: " + "; ".join(cells))
    print(f"\nwall time: {time.perf_counter() - start:.0f} s")
    if settings.out is not None:
        write(results, Path(settings.out))
        print(f"wrote {Path(settings.out) / 'overhead.parquet'} and overhead.csv")
    return results


if __name__ == "__main__":
    main()
