#!/usr/bin/env bash
# Every GPU figure issue 10 asks for, in one run of about 10 minutes on one GPU (H100/H200 class):
# the CPU/GPU agreement of the generator, the paper's Table 2/3 (bench/overhead.py), the vectorised
# population against sequential runs (bench/population.py) and trials packed per GPU
# (bench/gpu_packing.py). Results go to ${OUT:-gpu-results}/ (JSON, Parquet, CSV and the printed tables).
#
#   OUT=/tmp/gpu bash bench/gpu_checks.sh            # on a machine with a CUDA GPU and this package installed
#
# Each step has its own time limit, so one slow step cannot starve the others; a step that fails is
# reported and the next one runs.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if ! "$PY" -c "import syre_tune, torch; assert torch.cuda.is_available()" 2>/dev/null; then
    "$PY" -m pip install -q -e . >"$OUT/install.log" 2>&1 || true
fi
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0), torch.__version__)" \
    | tee "$OUT/device.txt" || { echo "gpu_checks: no CUDA device or no torch" >&2; exit 2; }
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s)"
    local began=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.txt" 2>"$OUT/$name.err"
    local rc=$?
    echo "   exit $rc after $((SECONDS - began)) s"
    tail -n 40 "$OUT/$name.txt"
}

step agreement 120 "$PY" bench/gpu_agreement.py --json "$OUT/agreement.json"
step overhead 300 "$PY" bench/overhead.py --models mlp resnet18 resnet18_cifar vit --batches 512 256 128 \
    --rounds 12 --steps-per-round 10 --out "$OUT/overhead"
step population 90 "$PY" bench/population.py --device cuda --members 1 8 64 --json "$OUT/population.json"
step anchor_kernel 60 "$PY" bench/anchor_kernel.py --device cuda --rounds 20 --steps 50 --json "$OUT/anchor_kernel.json"
step packing 240 "$PY" bench/gpu_packing.py --fractions 1 0.25 --trials 8 --steps 1500 --out "$OUT/packing"
