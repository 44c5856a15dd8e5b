#!/usr/bin/env bash
# Runs scripts/cluster/ringmaster.sbatch as SLURM would, with stand-ins for srun and scontrol:
# srun starts --ntasks copies of its command with SLURM_PROCID set and fails if any does, so the
# script's real logic (token, job id, coordinator, port file, workers, exit code) runs unchanged.
# The output is compared with a one-worker `ringmaster run` of the same job, and every worker
# must have been started with the coordinator's --job-id and joined that job.
# Usage: sbatch_smoke.sh <ringmaster binary>
set -euo pipefail
binary=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir "$work/bin"
cat > "$work/bin/srun" <<'EOF'
#!/usr/bin/env bash
ntasks=1
args=()
for a in "$@"; do
  case "$a" in
    --ntasks=*) ntasks=${a#--ntasks=} ;;
    --kill-on-bad-exit=*) ;;
    *) args+=("$a") ;;
  esac
done
printf '%s\n' "${args[@]}" >> "$SRUN_ARGS"
pids=()
for ((i = 0; i < ntasks; i++)); do
  SLURM_PROCID=$i "${args[@]}" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
exit $rc
EOF
cat > "$work/bin/scontrol" <<'EOF'
#!/usr/bin/env bash
echo localhost
EOF
chmod +x "$work/bin/srun" "$work/bin/scontrol"

run() {
  PATH="$work/bin:$PATH" SRUN_ARGS="$work/srun_args" RINGMASTER="$binary" SLURM_NTASKS=$1 \
    SLURM_JOB_ID=smoke SLURM_JOB_NODELIST=localhost SLURM_CPUS_PER_TASK=1 \
    RINGMASTER_LISTEN_ADDR=127.0.0.1 OUT="$work/out.npy" \
    timeout 120 bash "$root/scripts/cluster/ringmaster.sbatch" "${@:2}"
}

# Two workers, a small causal job: success, and the same output as `ringmaster run` of the same
# job with one worker (same shape, finite, every element within 1e-6 + 1e-5 |ref|, the tolerance
# of the integration tests' matches_reference).
job=(--tokens 512 --heads 2 --kv-heads 1 --head-dim 16 --plan zigzag)
run 2 "${job[@]}" 2> "$work/log" || { cat "$work/log"; echo "the job failed"; exit 1; }
[[ -s "$work/out.npy" ]] || { cat "$work/log"; echo "no output file"; exit 1; }
# The script's job id (slurm-<SLURM_JOB_ID>-<random>) went to every worker, which joined it.
job_id=$(sed -n 's/^--job-id=//p' "$work/srun_args")
[[ "$job_id" =~ ^slurm-smoke-[0-9a-f]{8}$ ]] || { echo "workers got no --job-id: '$job_id'"; exit 1; }
joined=$(grep -c "joined the coordinator at .* (job $job_id)" "$work/log" || true)
[[ $joined -eq 2 ]] || { cat "$work/log"; echo "$joined of 2 workers joined job $job_id"; exit 1; }
"$binary" --log-level warn run --workers 1 --out "$work/ref.npy" "${job[@]}" >/dev/null
/usr/bin/python3 - "$work/out.npy" "$work/ref.npy" <<'PY'
import sys
import numpy as np
got, want = np.load(sys.argv[1]), np.load(sys.argv[2]).astype(np.float64)
if got.shape != want.shape or got.size == 0:
    sys.exit(f"shape {got.shape}, one worker gave {want.shape}")
if not (np.isfinite(got).all() and np.isfinite(want).all()):
    sys.exit("non-finite values in the output")
err = np.abs(got.astype(np.float64) - want)
bad = np.argwhere(err > 1e-6 + 1e-5 * np.abs(want))
if bad.size:
    i = tuple(bad[0])
    sys.exit(f"{len(bad)} elements differ from the one-worker run; first at {i}: "
             f"{got[i]} vs {want[i]}")
PY

# A --job-id among the job flags is the one the workers get.
rm -f "$work/out.npy" "$work/srun_args"
run 2 "${job[@]}" --job-id=given-id 2> "$work/log" || { cat "$work/log"; echo "failed"; exit 1; }
[[ $(sed -n 's/^--job-id=//p' "$work/srun_args") == given-id ]] ||
  { echo "workers did not get --job-id=given-id"; exit 1; }
[[ $(grep -c "joined the coordinator at .* (job given-id)" "$work/log" || true) -eq 2 ]] ||
  { cat "$work/log"; echo "workers did not join job given-id"; exit 1; }

# A bad job flag: the coordinator's usage code (2) comes back as the script's exit code.
rm -f "$work/out.npy"
set +e
run 2 --plan diagonal >/dev/null 2>&1
rc=$?
set -e
[[ $rc -eq 2 ]] || { echo "expected exit 2 for a bad flag, got $rc"; exit 1; }
[[ ! -e "$work/out.npy" ]] || { echo "a failed job left an output file"; exit 1; }
echo "sbatch smoke test passed"
