#!/usr/bin/env bash
# scripts/cluster/ringmaster-mpirun.sh with Debian's Open MPI (openmpi-bin): `mpirun -np 2
# ringmaster worker` beside a coordinator.
#   - a model job: the output is byte-identical to a local `ringmaster run` of the same job, and
#     both workers (rank hints from OMPI_COMM_WORLD_RANK) joined the job mpirun-<hex>;
#   - the same job on two "hosts" (a hostfile of two names that mpirun reaches through an ssh
#     stand-in, --mca plm_rsh_agent, which starts Open MPI's orted here with an empty
#     environment, as ssh to another host would): the workers, children of those orted, get the
#     token only through the script's `-x RINGMASTER_TOKEN`, and no command line carries it;
#     --job-id=given-id among the job flags reaches them;
#   - a bad job flag: the coordinator's usage code (2) is the script's exit code, and no output.
# Skips (exit 77) when Open MPI's mpirun is absent, except under CI=true, where it fails.
# Usage: mpirun_real.sh RINGMASTER_BINARY
set -euo pipefail
binary=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/integration/cluster_common.sh
source "$root/tests/integration/cluster_common.sh"

command -v mpirun >/dev/null || skip_or_fail "mpirun is not installed (Debian: openmpi-bin)"
mpirun --version 2>&1 | grep -q "Open MPI" ||
  skip_or_fail "mpirun is not Open MPI's ($(mpirun --version 2>&1 | head -n 1))"
clear_scheduler_environment
# Open MPI refuses root without these (CI runs as root); mpirun passes OMPI_* on to its orted.
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
make_model_job
local_reference
note "the local reference run"

# launch NAME MPIRUN_FLAGS... -- JOB_FLAGS...: the example script, bounded; sets rc.
launch() {
  local name=$1
  shift
  rc=0
  RINGMASTER=$binary OUT=$work/$name timeout -k 5 90 \
    bash "$root/scripts/cluster/ringmaster-mpirun.sh" "$@" >"$work/$name.log" 2>&1 || rc=$?
}

# One host: the local run's output, both workers in the script's own job id.
launch job -np 2 --oversubscribe -- "${job[@]}"
[[ $rc -eq 0 ]] || fail "exit $rc" "$work/job.log"
same_output "$work/job" "$work/job.log"
job_id=$(sed -n 's/.*joined the coordinator at .* (job \(mpirun-[^)]*\)).*/\1/p' "$work/job.log" |
  head -n 1)
[[ "$job_id" =~ ^mpirun-[0-9a-f]{8}$ ]] ||
  fail "job id '$job_id' is not mpirun-<hex>" "$work/job.log"
joined "$work/job.log" "$job_id"
note "mpirun -np 2: the local run's output, both workers in job $job_id"

# Two "hosts" through an ssh stand-in: it logs its command line and starts it here with nothing
# of this environment, so the workers have the token only if mpirun forwarded it. Each "host"
# gets its own Open MPI session directory, as on separate machines: sharing /tmp/ompi.<host>.<uid>,
# two orted race to create it and to map the hwloc topology each writes there.
cat >"$work/ssh" <<EOF
#!/usr/bin/env bash
printf '%s\\n' "\$*" >>"$work/ssh.log"
while [[ "\$1" == -* ]]; do shift; done  # ssh's options (Open MPI passes -x), then the host
host=\$1
shift
mkdir -p "$work/tmp-\$host"
exec env -i PATH="\$PATH" HOME="\$HOME" OMPI_MCA_orte_tmpdir_base="$work/tmp-\$host" \\
  /bin/sh -c "\$*"
EOF
chmod +x "$work/ssh"
printf 'node-a slots=1\nnode-b slots=1\n' >"$work/hosts"
launch remote -np 2 --hostfile "$work/hosts" --mca plm_rsh_agent "$work/ssh" -- \
  "${job[@]}" --job-id=given-id
[[ $rc -eq 0 ]] || fail "exit $rc" "$work/remote.log" "$work/ssh.log"
same_output "$work/remote" "$work/remote.log"
joined "$work/remote.log" given-id
[[ $(grep -c orted "$work/ssh.log" || true) -eq 2 ]] ||
  fail "mpirun did not start an orted per host" "$work/ssh.log"
! grep -Eq '[0-9a-f]{64}' "$work/ssh.log" || fail "a token on orted's command line" "$work/ssh.log"
note "mpirun on two hosts via orted: the token through -x only, --job-id=given-id reached both"

# A bad job flag: the coordinator's usage code (2), and no output.
launch bad -np 2 --oversubscribe -- "${job[@]}" --plan diagonal
[[ $rc -eq 2 ]] || fail "expected exit 2 for a bad flag, got $rc" "$work/bad.log"
[[ ! -e "$work/bad" ]] || fail "a failed job left an output"
note "mpirun test passed"
