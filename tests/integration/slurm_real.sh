#!/usr/bin/env bash
# scripts/cluster/ringmaster.sbatch through a real single-node SLURM: this script starts munged,
# slurmctld and slurmd (Debian's munge, slurmctld, slurmd, slurm-client) in the foreground from a
# slurm.conf of its own, in a scratch directory, on free ports, so nothing of the host's (its
# /etc/slurm, /run/munge, a SLURM already running) is used or touched. Then, through `sbatch`
# (one node, two tasks of one CPU), each job waited for to its end:
#   - a model job: the output is byte-identical to a local `ringmaster run` of the same job, both
#     workers (real srun tasks, rank hints from SLURM_PROCID) joined the job slurm-<jobid>-<hex>;
#   - the same with --job-id=given-id among the job flags: the workers join that id;
#   - a bad job flag: the coordinator's usage code (2) is the job's exit code, and no output.
# Every daemon is bounded (timeout) and stopped by the EXIT trap, pass or fail, and the scratch
# directory removed. Skips (exit 77) when the packages are absent or not root, except under
# CI=true, where it fails.
# Usage: slurm_real.sh RINGMASTER_BINARY
set -euo pipefail
binary=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/integration/cluster_common.sh
source "$root/tests/integration/cluster_common.sh"
started=$SECONDS
budget=160  # seconds; ctest's TIMEOUT is 180, and every daemon dies by itself after this

for tool in munged mungekey munge slurmctld slurmd sbatch sinfo squeue scancel scontrol srun; do
  command -v "$tool" >/dev/null ||
    skip_or_fail "$tool is not installed (Debian: munge, slurmctld, slurmd, slurm-client)"
done
# slurmd starts job steps as the submitting user, which needs root.
[[ $(id -u) -eq 0 ]] || skip_or_fail "a SLURM node (slurmd) needs root"
clear_scheduler_environment

# munged wants execute permission for all on every directory above its socket, so the scratch
# directory is 0755 (what is secret in it, the munge key, sits in a 0700 directory below); /tmp,
# not $TMPDIR, keeps the socket's path under the 108 bytes a Unix socket's address holds.
work=$(mktemp -d /tmp/ringmaster-slurm.XXXXXX)
chmod 755 "$work"
mkdir -m 700 "$work/munge"
mkdir "$work/state" "$work/spool" "$work/log"
pids=()
# shellcheck disable=SC2317  # (run by the EXIT trap)
teardown() {
  local rc=$? pid i
  # Jobs first, while slurmctld and slurmd can still end them (a job still there after a failure
  # is shown), then the daemons in reverse order.
  if [[ -n "${SLURM_CONF:-}" && $rc -ne 0 ]]; then
    squeue -o '%i %j %T %r' >&2 2>/dev/null || true
  fi
  if [[ -n "${SLURM_CONF:-}" ]] && scancel --quiet --user=root 2>/dev/null; then
    for ((i = 0; i < 100; i++)); do
      [[ -z "$(squeue -h -o %i 2>/dev/null)" ]] && break
      sleep 0.1
    done
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[$i]}
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    for f in "$work"/log/*; do echo "=== $f"; tail -n 30 "$f"; done >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 1' INT TERM

# The job and its local reference run, before any daemon starts.
make_model_job
local_reference
note "the local reference run"

# munge: a fresh key, the daemon in the foreground with every path in the scratch directory.
mungekey --create --keyfile="$work/munge/munge.key" --bits=1024
socket=$work/munge.socket
timeout -k 5 "$budget" munged --foreground --socket="$socket" --key-file="$work/munge/munge.key" \
  --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/munged.seed" \
  --log-file="$work/log/munged.log" >"$work/log/munged.out" 2>&1 &
pids+=($!)
for ((i = 0; i < 100; i++)); do
  munge --no-input --socket="$socket" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "munged exited"
  sleep 0.1
done
munge --no-input --socket="$socket" | unmunge --socket="$socket" >/dev/null
note "munged up"

# Two free TCP ports, for slurmctld and slurmd, so a second run alongside does not clash.
read -r ctld_port slurmd_port < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("", 0))
print(*(x.getsockname()[1] for x in s))')

# This host as the one node, as slurmd -C describes it (CPUs, sockets, cores, threads), less its
# memory (a node configured with more than it has is drained, and memory is not scheduled here).
node=$(hostname -s)
node_line=$(slurmd -C | sed -n '1s/ RealMemory=[0-9]*//p')
[[ "$node_line" == "NodeName=$node "* ]] || fail "slurmd -C said '$node_line'"
cat >"$work/slurm.conf" <<EOF
ClusterName=ringmastertest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
# No cgroups: job steps are tracked by their process tree, and tasks are not bound.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=2
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$work/slurm.conf

left=$((budget - (SECONDS - started)))
timeout -k 5 "$left" slurmctld -D -i >"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
timeout -k 5 "$left" slurmd -D -N "$node" >"$work/log/slurmd.out" 2>&1 &
pids+=($!)
# Ready when the node is idle (seconds).
state=""
for ((i = 0; i < 300; i++)); do
  state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
  [[ "$state" == idle ]] && break
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || fail "a daemon exited"
  done
  sleep 0.1
done
[[ "$state" == idle ]] || fail "node $node is '$state', not idle, after 30 s"
note "SLURM up: node $node idle (slurmctld port $ctld_port, slurmd port $slurmd_port)"

# submit NAME JOB_FLAGS...: the sbatch script over one node, two tasks of one CPU (the script's
# own #SBATCH lines ask for two nodes), waited for; sets slurm_job and rc, the job's exit code as
# SLURM records it. Not `sbatch --wait`: it polls at 2 s, then 8 s, so each job would take 10 s,
# and the MinJobAge that keeps it at 2 s lets SLURM purge a finished job before sbatch reads its
# exit code (it then says "exit code not found" and exits 0 for a failed job). scontrol every
# 0.1 s, with the default MinJobAge (300 s), has neither problem.
submit() {
  local name=$1 info="" state="" i
  shift
  slurm_job=$(cd "$work" && RINGMASTER=$binary OUT=$work/$name \
    sbatch --parsable --job-name="$name" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
      --output="$work/log/$name.log" "$root/scripts/cluster/ringmaster.sbatch" "$@")
  for ((i = 0; i < 900; i++)); do  # 90 s
    info=$(scontrol --oneliner show job "$slurm_job")
    state=$(sed -n 's/.* JobState=\([A-Z_]*\) .*/\1/p' <<<"$info")
    case "$state" in
      COMPLETED | FAILED) break ;;
      PENDING | CONFIGURING | RUNNING | COMPLETING) sleep 0.1 ;;
      *) break ;;
    esac
  done
  case "$state" in
    COMPLETED | FAILED) rc=$(sed -n 's/.* ExitCode=\([0-9]*\):0 .*/\1/p' <<<"$info") ;;
    *) fail "job $slurm_job ($name): $info" "$work/log/$name.log" ;;
  esac
  [[ -n "$rc" ]] || fail "job $slurm_job ($name) has no exit code: $info"
}

# The model job: the local run's output, and both workers in the job's own id.
submit job "${job[@]}"
[[ $rc -eq 0 ]] || fail "the job's exit code is $rc" "$work/log/job.log"
same_output "$work/job" "$work/log/job.log"
job_id=$(sed -n 's/.*joined the coordinator at .* (job \(slurm-[^)]*\)).*/\1/p' \
  "$work/log/job.log" | head -n 1)
[[ "$job_id" =~ ^slurm-${slurm_job}-[0-9a-f]{8}$ ]] ||
  fail "job id '$job_id' is not slurm-$slurm_job-<hex>" "$work/log/job.log"
joined "$work/log/job.log" "$job_id"
note "sbatch job $slurm_job: the local run's output, both workers in job $job_id"

# A --job-id among the job flags is the one the workers get.
submit given "${job[@]}" --job-id=given-id
[[ $rc -eq 0 ]] || fail "the job's exit code is $rc" "$work/log/given.log"
same_output "$work/given" "$work/log/given.log"
joined "$work/log/given.log" given-id
note "sbatch job $slurm_job: --job-id=given-id reached both workers"

# A bad job flag: the coordinator's usage code (2) is the job's, as SLURM records it.
submit bad "${job[@]}" --plan diagonal
[[ $rc -eq 2 ]] || fail "expected exit 2 for a bad flag, got $rc" "$work/log/bad.log"
[[ ! -e "$work/bad" ]] || fail "a failed job left an output"
note "sbatch job $slurm_job: a bad flag, exit 2"
note "SLURM test passed"
