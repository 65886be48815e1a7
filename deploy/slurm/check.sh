#!/bin/bash
# The Slurm template end to end on a single-node Slurm started on this machine
# (deploy/slurm/local-slurm.sh; needs `apt-get install slurm-wlm munge` and the repository's
# .venv): a smoke study submitted with `sbatch --wait` finishes, every row once, its token gone
# afterwards; a broken study makes the job fail. Exit 0 when all of that holds.
#
#   bash deploy/slurm/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(deploy/slurm/local-slurm.sh start)"
work=$(mktemp -d /tmp/syre-slurm-check.XXXXXX)
mkdir -p "$work/studies"
cat > "$work/studies/smoke.yaml" <<'STUDY'
name: slurm_smoke
benchmark: theorem4
config: {n_symmetries: 2, steps: 50, report_every: 10}
sweep: {sigma0: {grid: [0.0, 0.5, 1.0, 2.0]}}
seeds: 3
STUDY
printf 'benchmark: theorem4\nsweep: {sigma0: {grid: [-1.0]}}\n' > "$work/studies/broken.yaml"
export SYRE_VENV=$PWD/.venv
cd "$work"
start=$(date +%s)
sbatch --wait --output="$work/smoke-%j.log" "$OLDPWD/deploy/slurm/syre-tune.sbatch" studies/smoke.yaml "$work/store" --no-analyze
echo "smoke job: finished in $(( $(date +%s) - start )) s"
"$SYRE_VENV/bin/python" - "$work/store/slurm_smoke" <<'PY'
import sys
from syre_tune import results
df = results.read(sys.argv[1], measurements=True)
assert len(df) == 4 * 3 * 5, len(df)  # 4 trials, 3 seeds, reports at steps 10, 20, ..., 50
assert not df.duplicated(["trial_id", "seed", "iteration"]).any()
print(f"rows: {len(df)} of {df.trial_id.nunique()} trials, each (trial, seed, iteration) once")
PY
if ls "$work"/.ray-token-* 2> /dev/null; then echo "the job's token was left behind" >&2; exit 1; fi
if sbatch --wait --output="$work/broken-%j.log" "$OLDPWD/deploy/slurm/syre-tune.sbatch" studies/broken.yaml "$work/store2"; then
    echo "a broken study's job succeeded" >&2
    exit 1
fi
grep -h "syre-tune: error" "$work"/broken-*.log
echo "broken study: the job failed, as it should"
echo "slurm check: ok ($work)"
