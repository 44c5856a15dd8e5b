#!/usr/bin/env bash
# scripts/cluster/ringmaster-mpirun.sh: one ringmaster job whose workers Open MPI's mpirun starts.
#
# Run it on the job's first host: it draws a job token, starts the coordinator on this host's
# address, and mpirun starts one worker per process, each taking its rank hint from
# OMPI_COMM_WORLD_RANK. Flags before `--` go to mpirun and must say how many workers (-np N);
# flags after it are the job's and go to the coordinator:
#
#   scripts/cluster/ringmaster-mpirun.sh -np 4 --hostfile hosts --map-by ppr:1:node -- \
#     --model m/ --input in.fa --task embed --plan zigzag --threads 8
#
# The token stays in a shell variable and the environment, never on a command line (any user can
# read those in ps): `-x RINGMASTER_TOKEN` makes mpirun hand it to the workers on other hosts in
# its launch message to their orted, whose ssh command line does not carry it (that message, like
# srun's, is not encrypted: on a network you do not trust, give every process a --token-file on a
# shared filesystem instead). As root, Open MPI also wants --allow-run-as-root.
#
# Environment knobs, as in ringmaster.sbatch: RINGMASTER (the binary, default `ringmaster` on PATH,
# at the same path on every host), OUT (the .npy or, for a model job, the output directory; default
# ./ringmaster-mpirun-<8 random hex digits>.npy), RINGMASTER_LISTEN_ADDR (the address workers reach
# the coordinator at, default this host's first IPv4 address), RINGMASTER_DATA_INTERFACE (the
# interface the workers' data plane listens and connects on, passed as --data-interface and
# forwarded as NCCL_SOCKET_IFNAME; default: every interface), RINGMASTER_JOB_ID (default mpirun-<the
# same 8 hex digits>; a --job-id among the job flags wins): every worker is started with --job-id=ID
# and joins only this job's coordinator.
# The exit code is the coordinator's (README "Exit codes"), or mpirun's if only mpirun failed. When
# mpirun fails and the coordinator is still waiting 15 s later (workers that never started), the
# coordinator is stopped and mpirun's code returned.
# tests/integration/mpirun_real.sh (ctest RingmasterCluster.Mpirun) runs this script with
# Debian's Open MPI, on this host and on two hosts that an ssh stand-in makes of it.
set -euo pipefail

usage() {
  echo "usage: ringmaster-mpirun.sh -np N [mpirun flags] -- [job flags]" >&2
  exit 2
}

# Split the arguments at `--`, and find the worker count among mpirun's flags.
mpirun_flags=()
while [[ $# -gt 0 && "$1" != -- ]]; do
  mpirun_flags+=("$1")
  shift
done
[[ $# -gt 0 ]] || usage
shift
workers=""
for ((i = 0; i < ${#mpirun_flags[@]}; i++)); do
  case "${mpirun_flags[$i]}" in
    -np | --np | -n | --n | -c) workers=${mpirun_flags[$((i + 1))]:-} ;;
    -np=* | --np=* | -n=* | --n=*) workers=${mpirun_flags[$i]#*=} ;;
  esac
done
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || usage

ringmaster=${RINGMASTER:-ringmaster}
suffix=$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
out=${OUT:-$PWD/ringmaster-mpirun-$suffix.npy}

# A 256-bit token, kept in a shell variable and the environment only.
RINGMASTER_TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export RINGMASTER_TOKEN
forward=(-x RINGMASTER_TOKEN)

# The job id: the one among the job flags, else RINGMASTER_JOB_ID, else a fresh one.
job_id=${RINGMASTER_JOB_ID:-mpirun-$suffix}
job_id_flags=(--job-id "$job_id")
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --job-id=*) job_id=${args[$i]#--job-id=} job_id_flags=() ;;
    --job-id) job_id=${args[$((i + 1))]:-} job_id_flags=() ;;
  esac
done
if [[ -z "$job_id" ]]; then
  echo "ringmaster-mpirun.sh: --job-id is empty" >&2
  exit 2
fi

host=$(hostname)
addr=${RINGMASTER_LISTEN_ADDR:-$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }' || true)}
if [[ -z "$addr" ]]; then
  echo "ringmaster-mpirun.sh: $host has no IPv4 address; set RINGMASTER_LISTEN_ADDR" >&2
  exit 2
fi
data_interface_flags=()
if [[ -n "${RINGMASTER_DATA_INTERFACE:-}" ]]; then
  data_interface_flags=(--data-interface "$RINGMASTER_DATA_INTERFACE")
  export NCCL_SOCKET_IFNAME=$RINGMASTER_DATA_INTERFACE
  forward+=(-x NCCL_SOCKET_IFNAME)
fi
state=$(mktemp -d)
coordinator_pid=""
# shellcheck disable=SC2317  # (run by the EXIT trap)
cleanup() {
  if [[ -n "$coordinator_pid" ]]; then kill "$coordinator_pid" 2>/dev/null || true; fi
  rm -rf "$state"
}
trap cleanup EXIT

"$ringmaster" coordinator --listen "$addr:0" --port-file "$state/port" --workers "$workers" \
  --out "$out" "${data_interface_flags[@]}" "${job_id_flags[@]}" "$@" &
coordinator_pid=$!

# The coordinator writes the port file atomically once it listens (within seconds).
for _ in $(seq 1 300); do
  [[ -s "$state/port" ]] && break
  kill -0 "$coordinator_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ ! -s "$state/port" ]]; then
  echo "ringmaster-mpirun.sh: the coordinator did not start" >&2
  wait "$coordinator_pid" || exit $?
  exit 1
fi
port=$(cat "$state/port")

mpirun_rc=0
mpirun "${mpirun_flags[@]}" "${forward[@]}" \
  "$ringmaster" worker --coordinator "$addr:$port" --job-id="$job_id" || mpirun_rc=$?

if [[ $mpirun_rc -ne 0 ]]; then
  for _ in $(seq 1 150); do
    kill -0 "$coordinator_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$coordinator_pid" 2>/dev/null; then
    echo "ringmaster-mpirun.sh: mpirun failed ($mpirun_rc); stopping the coordinator" >&2
    kill "$coordinator_pid" 2>/dev/null || true
    wait "$coordinator_pid" || true
    exit "$mpirun_rc"
  fi
fi
coordinator_rc=0
wait "$coordinator_pid" || coordinator_rc=$?
coordinator_pid=""
if [[ $coordinator_rc -ne 0 ]]; then exit "$coordinator_rc"; fi
exit "$mpirun_rc"
