#!/usr/bin/env bash
# scripts/half_core_weights.sh: workers of different speeds (issue 18), measured. One worker runs
# on a full core, the other in a cgroup limited to half a core (CPU quota 50 ms per 100 ms); the
# same model job runs with equal shards, with --rank-weights 2,1 and with --rank-weights auto (the
# workers time themselves as they join; the weights they got are printed), and a single full-core
# worker gives the work T1. With capacities 1 and 0.5 the ideal wall is T1 / 1.5; each run's ratio
# to it is printed (1.00 is ideal; the equal split should come near 1.5, the weighted ones near 1).
#
# Usage (as root, from the repository root, with the binary built):
#   scripts/half_core_weights.sh [--bases N] [--repeat R] [--model DIR | --config FILE]
#                                [--plan P] [--bin PATH] [--out DIR]
# Defaults: 1M bases of scripts/demo_input.py's FASTA, models/demo_dna (--config: a model that
# `ringmaster init --seed 1` writes from that config.json), zigzag, build/launcher/ringmaster,
# 1 repeat, a temporary directory. Workers use 1 thread each; the workers are started by hand
# (`ringmaster coordinator` and two `ringmaster worker`s with --rank-hint) so that rank 1 can
# start inside the cgroup. cgroup v2 (cpu.max) when its cpu controller is available, else v1's
# cpu controller (cpu.cfs_quota_us); the cgroup is removed on exit. On a shared machine the
# "full core" must really be one: the full-speed worker runs pinned to the first CPU in a cgroup
# of its own (see below), the half-core one pinned to the second, and the single worker of T1
# like the full-speed one. Logs (info) land in OUT/logs. Prints a markdown table and
# the load average at the start and end.
set -euo pipefail

bases=1048576 repeat=1 model=models/demo_dna config="" plan=zigzag
bin=build/launcher/ringmaster out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bases) bases=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --plan) plan=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "half_core_weights.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
bin=$(realpath "$bin") model=$(realpath "$model")
[[ -z "$config" ]] || config=$(realpath "$config")
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
[[ -n "$out" ]] || out=$work/out
mkdir -p "$out"

# Two cgroups: "half" (the quota) and "full" (no quota); both weigh 10x the default, so that
# on a shared machine each gets what it is meant to. Being in a cgroup matters for the full one
# too: with sched_autogroup_enabled, a process in the root group competes as its whole session
# against every other session, nice or not, and gets about half a core here when others compile.
cgroups=()
cleanup() {
  local cg pid
  for cg in "${cgroups[@]}"; do
    [[ -d "$cg" ]] || continue
    # Anything still inside (a worker of a failed run) goes back to the root first.
    while read -r pid; do echo "$pid" >"$(dirname "$cg")/cgroup.procs" 2>/dev/null || true; done \
      <"$cg/cgroup.procs"
    rmdir "$cg"
  done
  rm -rf "$work"
}
trap cleanup EXIT

if [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers
then
  grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
  half=/sys/fs/cgroup/ringmaster-half-$$ full=/sys/fs/cgroup/ringmaster-full-$$
  mkdir "$half" "$full"
  cgroups=("$half" "$full")
  echo "50000 100000" >"$half/cpu.max"
  echo 1000 >"$half/cpu.weight"
  echo 1000 >"$full/cpu.weight"
  quota="cgroup v2 cpu.max = $(cat "$half/cpu.max")"
elif [[ -d /sys/fs/cgroup/cpu ]]; then
  half=/sys/fs/cgroup/cpu/ringmaster-half-$$ full=/sys/fs/cgroup/cpu/ringmaster-full-$$
  mkdir "$half" "$full"
  cgroups=("$half" "$full")
  echo 100000 >"$half/cpu.cfs_period_us"
  echo 50000 >"$half/cpu.cfs_quota_us"
  echo 10240 >"$half/cpu.shares"
  echo 10240 >"$full/cpu.shares"
  quota="cgroup v1 cpu.cfs_quota_us/cfs_period_us = $(cat "$half/cpu.cfs_quota_us")/$(cat "$half/cpu.cfs_period_us")"
else
  echo "half_core_weights.sh: no cgroup cpu controller (v2 cpu.max or v1 cpu)" >&2
  exit 1
fi

# in_cgroup CGROUP CPU COMMAND...: runs COMMAND inside CGROUP, pinned to CPU ("" : unpinned).
in_cgroup() {
  local cg=$1 cpu=$2
  shift 2
  if [[ -n "$cpu" ]]; then
    bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' _ "$cg" taskset -c "$cpu" "$@"
  else
    bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' _ "$cg" "$@"
  fi
}

/usr/bin/python3 "$root/scripts/demo_input.py" --bases "$bases" --out "$work/in.fa"
if [[ -n "$config" ]]; then
  "$bin" --log-level warn init --config "$config" --seed 1 --out "$work/model" >/dev/null
  model=$work/model
fi
RINGMASTER_TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export RINGMASTER_TOKEN

# run_job NAME WORKERS SLOW_RANK [JOB FLAGS...]: one job; SLOW_RANK (-1: none) starts in the
# half-core cgroup, the others in the full one. Prints the wall seconds, coordinator start to exit.
run_job() {
  local name=$1 workers=$2 slow=$3
  shift 3
  local state=$work/$name
  mkdir -p "$state"
  local start end
  start=$(date +%s.%N)
  in_cgroup "$full" "" "$bin" --log-level info coordinator --listen 127.0.0.1:0 \
    --port-file "$state/port" --job-id "$name" --workers "$workers" --threads 1 \
    --model "$model" --input "$work/in.fa" --task score --plan "$plan" --data-interface lo \
    --quiet --out "$out/$name" "$@" >"$state/coordinator.log" 2>&1 &
  local coordinator=$!
  for _ in $(seq 1 300); do [[ -s "$state/port" ]] && break; sleep 0.05; done
  local port
  port=$(cat "$state/port")
  local pids=()
  for ((r = 0; r < workers; ++r)); do
    local cg=$full cpu=0
    [[ $r -eq $slow ]] && cg=$half cpu=1
    in_cgroup "$cg" "$cpu" "$bin" --log-level info worker --coordinator "127.0.0.1:$port" \
      --job-id "$name" --rank-hint "$r" >"$state/worker$r.log" 2>&1 &
    pids+=($!)
  done
  if ! wait "$coordinator"; then
    cat "$state/coordinator.log" >&2
    return 1
  fi
  for pid in "${pids[@]}"; do wait "$pid"; done
  end=$(date +%s.%N)
  mkdir -p "$out/logs"
  for f in "$state"/*.log; do cp "$f" "$out/logs/$name-$(basename "$f")"; done
  echo "$end - $start" | bc
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "half_core_weights: $bases bases, $(basename "${config:-$model}"), plan $plan, $quota," \
  "load $load_start" >&2
rows=()
for ((i = 1; i <= repeat; ++i)); do
  t1=$(run_job "single-$i" 1 -1)
  equal=$(run_job "equal-$i" 2 1)
  weighted=$(run_job "weighted-$i" 2 1 --rank-weights 2,1)
  measured=$(run_job "measured-$i" 2 1 --rank-weights auto)
  weights=$(/usr/bin/python3 -c "
import json, sys
print(','.join('%g' % w for w in json.load(open(sys.argv[1]))['rank_weights']))" \
    "$out/measured-$i/summary.json")
  cmp -s "$out/equal-$i/scores.npy" "$out/weighted-$i/scores.npy" && same="bit-identical" ||
    same=$(/usr/bin/python3 -c "
import numpy as np, sys
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
print('max rel diff %.1e' % (abs(a - b).max() / max(abs(b).max(), 1e-30)))" \
      "$out/equal-$i/scores.npy" "$out/weighted-$i/scores.npy")
  rows+=("$t1 $equal $weighted $measured $weights $same")
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

echo "| run | 1 worker, full core (T1) | equal split, full + half core | --rank-weights 2,1 | --rank-weights auto (measured weights) | ideal T1 / 1.5 | equal / ideal | 2,1 / ideal | auto / ideal | outputs (equal vs 2,1) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for ((i = 0; i < ${#rows[@]}; ++i)); do
  read -r t1 equal weighted measured weights same <<<"${rows[$i]}"
  ideal=$(echo "$t1 / 1.5" | bc -l)
  printf "| %d | %.2f s | %.2f s | %.2f s | %.2f s (%s) | %.2f s | %.2f | %.2f | %.2f | %s |\n" \
    $((i + 1)) "$t1" "$equal" "$weighted" "$measured" "$weights" "$ideal" \
    "$(echo "$equal / $ideal" | bc -l)" "$(echo "$weighted / $ideal" | bc -l)" \
    "$(echo "$measured / $ideal" | bc -l)" "${same:-}"
done
echo
echo "$bases bases, $(basename "${config:-$model}"), plan $plan; load average (1, 5, 15 min):" \
  "$load_start at the start, $load_end at the end; $(nproc) cores"
