"""How closely the GPU's θ0 (Triton's generator in the kernel) agrees with the CPU's (the same Philox
stream in numpy/PyTorch): the bound the README quotes for "CPU and GPU draws agree to float32 rounding".

What it measures
    For every parameter of torchvision's ``resnet18(num_classes=10)`` (62 tensors, 11.2M values), θ0 is
    drawn on the CPU and on the CUDA device (``syre_tune.functional.theta0``, σ0 = 1, relative), and
    one fused seeded anchor step (``anchor_decay_``, rate 0.1, σ_D = 0.3) is applied to the same
    weights on both. Reported: for the unit normals z = θ0/std, the largest absolute difference, the
    largest difference in float32 ulps, the share of bit-identical values; for D and for the step's
    result, the largest absolute difference and the share bit-identical. The integers are identical by
    construction (tested in the Triton interpreter); only log/cos (libdevice or approximate
    instructions on a GPU, libm/SLEEF on a CPU) can differ.

How to run (needs a CUDA GPU)
    python bench/gpu_agreement.py [--json /tmp/agreement.json]

Without CUDA it refuses with one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
import torchvision

from syre_tune import functional
from syre_tune._random import fan_ins, normal_std
from syre_tune.kernels import anchor_decay_, stream_key


def ulps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a − b| in float32 ulps (same-sign values; adjacent floats differ by 1)."""
    return (a.float().view(torch.int32).long() - b.float().view(torch.int32).long()).abs()


def compare(cpu: torch.Tensor, gpu: torch.Tensor) -> dict:
    gpu = gpu.cpu()
    return {
        "max_abs": float((cpu - gpu).abs().max()),
        "max_ulps": int(ulps(cpu, gpu).max()),
        "bit_identical": float((cpu == gpu).float().mean()),
        "count": cpu.numel(),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=None, metavar="FILE")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_agreement: error: needs a CUDA device (torch sees none)", file=sys.stderr)
        raise SystemExit(2)
    named = {n: p.detach() for n, p in torchvision.models.resnet18(num_classes=10).named_parameters()}
    shapes = {n: tuple(p.shape) for n, p in named.items()}
    fans = fan_ins(shapes)
    stds = {n: normal_std(1.0, shapes[n], relative=True, fan=fans[n]) for n in named}
    theta0 = {device: functional.theta0(shapes, 1.0, seed=0, device=device) for device in ("cpu", "cuda")}
    normals = {d: torch.cat([(theta0[d][n] / stds[n]).reshape(-1).cpu() for n in named]) for d in theta0}
    diag = {d: functional.diag(shapes, 0.3, seed=0, device=d) for d in ("cpu", "cuda")}
    diags = {d: torch.cat([diag[d][n].reshape(-1).cpu() for n in named]) for d in diag}
    stepped = {}
    for device in ("cpu", "cuda"):
        params = [named[n].clone().to(device) for n in named]
        keys = [stream_key(0, n, "theta0") for n in named]
        diag_keys = [stream_key(0, n, "diag") for n in named]
        anchor_decay_(params, keys, [stds[n] for n in named], rate=0.1, sigma_d=0.3, diag_keys=diag_keys)
        stepped[device] = torch.cat([p.reshape(-1).cpu() for p in params])
    result = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "normals": compare(normals["cpu"], normals["cuda"]),
        "diag": compare(diags["cpu"], diags["cuda"]),
        "step": compare(stepped["cpu"], stepped["cuda"]),
    }
    print(f"device: {result['device']} | torch {result['torch']} | ResNet18's 62 tensors, 11.2M values")
    for what in ("normals", "diag", "step"):
        row = result[what]
        print(
            f"  {what:8s} max |cpu − gpu| {row['max_abs']:.3g}, max {row['max_ulps']} ulps, "
            f"{100 * row['bit_identical']:.1f} % bit-identical"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
    return result


if __name__ == "__main__":
    main()
