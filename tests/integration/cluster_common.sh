# tests/integration/cluster_common.sh: what slurm_real.sh and mpirun_real.sh share (sourced).
# A model job small enough for seconds (a causal model of attention, window and local blocks over
# three DNA records), its output from a local `ringmaster run` of the same job, and the checks.
# Needs $binary (the ringmaster binary) and $work (a scratch directory) set by the caller.
# shellcheck shell=bash disable=SC2154

# note MESSAGE: MESSAGE, after the seconds since this file was sourced.
test_start=$EPOCHREALTIME
note() {
  awk -v a="$test_start" -v b="$EPOCHREALTIME" -v m="$*" \
    'BEGIN { printf "[%5.1f s] %s\n", b - a, m }'
}

# fail MESSAGE [LOG...]: each LOG, then MESSAGE, and the test fails.
fail() {
  local message=$1
  shift
  [[ $# -eq 0 ]] || cat "$@" >&2
  echo "FAIL: $message" >&2
  exit 1
}

# The tests skip (ctest's SKIP_RETURN_CODE, 77) when what they need is absent, loudly, except
# under CI=true, where that is a failure: bootstrap installs the packages.
skip_or_fail() {
  if [[ "${CI:-}" == true ]]; then
    fail "$* (CI=true: scripts/bootstrap installs it, so this is not skipped)"
  fi
  echo "SKIPPED: $* (scripts/bootstrap installs it; CI=true turns this skip into a failure)" >&2
  exit 77
}

# Inherited scheduler variables (a test run inside a SLURM or Open MPI job) would leak into the
# jobs this test starts.
clear_scheduler_environment() {
  local v
  for v in $(compgen -e); do
    case "$v" in
      SLURM_* | SBATCH_* | SRUN_* | SALLOC_* | OMPI_* | PMIX_* | PMI_* | RINGMASTER_*) unset "$v" ;;
    esac
  done
}

# The job: P = 2 workers of 1 thread each, zigzag, embed. Writes $work/model and $work/in.fa and
# sets job=(...), the flags every run of it takes.
make_model_job() {
  cat >"$work/model.json" <<'JSON'
{"format": "ringmaster-model/1", "vocab": "dna", "d_model": 32, "n_heads": 4, "n_kv_heads": 2,
 "head_dim": 8, "mlp_hidden": 64, "norm_eps": 1e-5, "rope_theta": 10000.0, "causal": true,
 "blocks": [{"mixer": "attention"}, {"mixer": "window", "window": 24},
            {"mixer": "local", "group": 32}, {"mixer": "attention"}]}
JSON
  "$binary" --log-level warn init --config "$work/model.json" --seed 11 --out "$work/model" \
    >/dev/null
  /usr/bin/python3 - "$work/in.fa" <<'PY'
import random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    for i, n in enumerate([900, 40, 1500]):
        f.write(">rec%d\n%s\n" % (i, "".join(rng.choice("ACGTN") for _ in range(n))))
PY
  job=(--model "$work/model" --input "$work/in.fa" --task embed --plan zigzag)
}

# The same job with `ringmaster run` on this host: same P, plan and threads, so the output must
# be byte-identical (a run is deterministic for a given P and plan; a different P is not: its
# shards sum in another order).
local_reference() {
  "$binary" --log-level warn run --workers 2 --threads 1 --quiet --out "$work/local" "${job[@]}" \
    >/dev/null
}

# same_output DIR LOG: DIR holds what the local run wrote, byte for byte.
same_output() {
  local f
  for f in embeddings.npy records.tsv; do
    cmp "$work/local/$f" "$1/$f" || fail "$1/$f is not the local run's" "$2"
  done
}

# joined LOG JOB_ID: both workers joined job JOB_ID, with the rank hints 0 and 1 that the
# scheduler's environment gave them (SLURM_PROCID, OMPI_COMM_WORLD_RANK).
joined() {
  local n hint
  n=$(grep -c "joined the coordinator at .* (job $2)" "$1" || true)
  [[ $n -eq 2 ]] || fail "$n of 2 workers joined job $2" "$1"
  for hint in 0 1; do
    grep -q "registered worker .* (rank hint $hint)" "$1" ||
      fail "no worker registered with rank hint $hint" "$1"
  done
}
