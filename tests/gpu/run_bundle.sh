#!/usr/bin/env bash
# tests/gpu/run_bundle.sh: the GPU checks from a bundle made by tests/gpu/bundle.sh, on a GPU
# machine with no build: every gpu test binary, the CUDA kernel benchmark, and device_run.sh's
# attention check, model job and no-GPU refusal, each under its own `timeout` and all within
# about 5.5 minutes. Writes summary.json (each step: name, rc, seconds, log; rc null for a step
# skipped, with the reason) and the logs to the folder given, else $OUT, else ./gpu-run-out.
#
# With a GPU visible the tests run with RINGMASTER_REQUIRE_GPU=1 (a missing device fails them);
# without one they skip, the steps that need a GPU are skipped, and the script still finishes.
# Libraries: the bundle's lib/, then the CUDA toolkit's (/usr/local/cuda/lib64, else the pip
# nvidia-* packages of the python3 on PATH). Exit status 0 when no step failed.
#
# Usage: gpu-bundle/tests/gpu/run_bundle.sh [out-dir]   (or tests/gpu/run_bundle.sh from the
# repository, which runs gpu-bundle/)
set -uo pipefail
start=$EPOCHREALTIME
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bundle=$here
[[ -f "$bundle/MANIFEST" ]] || bundle=$here/gpu-bundle
[[ -f "$bundle/MANIFEST" ]] || { echo "run_bundle.sh: no bundle at $bundle (tests/gpu/bundle.sh)" >&2; exit 2; }
out=${1:-${OUT:-$PWD/gpu-run-out}}
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
budget_s=${RUN_BUNDLE_BUDGET_S:-330}

# ---- libraries ----
# bundle.sh gzipped the large ones: unpack them into a temporary folder, removed at exit.
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
for packed in "$bundle"/lib/*.gz; do
  [[ -e "$packed" ]] && gzip -dc "$packed" >"$unpacked/$(basename "${packed%.gz}")"
done
cuda_libs=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnccl.so.2)
lib_path=$bundle/lib:$unpacked
missing=()
for lib in "${cuda_libs[@]}"; do
  found=""
  for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [[ -e "$dir/$lib" ]] && found=$dir && break
  done
  if [[ -z "$found" ]] && command -v python3 >/dev/null; then
    # PyTorch's wheels bring the CUDA libraries as nvidia-* packages (nvidia/<name>/lib).
    found=$(python3 -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null |
      while read -r sp; do ls -d "$sp"/nvidia/*/lib/"$lib" 2>/dev/null; done | head -1)
    found=${found:+$(dirname "$found")}
  fi
  if [[ -n "$found" ]]; then
    [[ ":$lib_path:" == *":$found:"* ]] || lib_path=$lib_path:$found
  else
    missing+=("$lib")
  fi
done
export LD_LIBRARY_PATH=$lib_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export UCX_MODULE_DIR=$bundle/lib/ucx

# ---- the machine ----
gpu=""
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
  export RINGMASTER_REQUIRE_GPU=1
fi
{
  echo "bundle: $bundle"
  cat "$bundle/MANIFEST"
  echo "out: $out"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "missing CUDA libraries: ${missing[*]:-none}"
  echo "glibc here: $(ldd --version | head -1)"
  echo "python3: $(command -v python3 || echo none)"
  if [[ -n "$gpu" ]]; then
    echo "GPU (name, driver, memory): $gpu; RINGMASTER_REQUIRE_GPU=1"
    nvidia-smi
  else
    echo "no GPU visible: the gpu tests skip, the steps that need a GPU are skipped"
  fi
  echo "unresolved libraries:"
  for binary in "$bundle"/bin/*; do ldd "$binary" | grep 'not found' | sed "s|^|  $(basename "$binary"): |"; done
} 2>&1 | tee "$out/logs/machine.log"

# ---- steps ----
steps=()
failed=0
json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
record() {  # name rc seconds log [skipped-reason]
  local entry="{\"name\": $(json_string "$1"), \"rc\": $2, \"seconds\": $3, \"log\": $(json_string "$4")"
  [[ -n "${5:-}" ]] && entry+=", \"skipped\": $(json_string "$5")"
  steps+=("$entry}")
  printf '%-44s rc %-4s %7ss  %s\n' "$1" "$2" "$3" "${5:-$4}"
}
# step NAME TIMEOUT_S COMMAND...: runs COMMAND under `timeout`, cut to what is left of the budget.
step() {
  local name=$1 limit=$2 log=logs/$1.log t0 rc elapsed left
  shift 2
  left=$(awk -v a="$start" -v b="$EPOCHREALTIME" -v n="$budget_s" 'BEGIN { printf "%d", n - (b - a) }')
  if ((left < 10)); then
    record "$name" null 0 "" "out of time (budget ${budget_s} s)"
    failed=1
    return
  fi
  ((limit > left)) && limit=$left
  t0=$EPOCHREALTIME
  timeout -k 5 "$limit" "$@" >"$out/$log" 2>&1
  rc=$?
  elapsed=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  ((rc == 124 || rc == 137)) && echo "run_bundle.sh: timed out after ${limit} s" >>"$out/$log"
  ((rc != 0)) && failed=1
  record "$name" "$rc" "$elapsed" "$log"
}
needs_gpu() {  # NAME: records NAME as skipped and returns 1 when no GPU is visible
  [[ -n "$gpu" ]] && return 0
  record "$1" null 0 "" "no GPU visible"
  return 1
}

for binary in "$bundle"/bin/ringmaster_*_test; do
  name=$(basename "$binary")
  step "$name" 90 "$binary" --gtest_output="xml:$out/logs/$name.xml"
done
if needs_gpu cuda_kernel_bench; then
  step cuda_kernel_bench 90 "$bundle/bin/ringmaster_cuda_kernel_bench" --min-time 0.3
fi
device_run=("$bundle/tests/gpu/device_run.sh" "$bundle/bin/ringmaster")
if needs_gpu device_run_attention; then step device_run_attention 150 "${device_run[@]}" attention; fi
if needs_gpu device_run_model; then step device_run_model 90 "${device_run[@]}" model; fi
step device_run_no_device 30 "${device_run[@]}" no-device

# The skips of the gpu tests, counted from their XML (a GPU machine must show none).
skipped_cases=$(cat "$out"/logs/*.xml 2>/dev/null | grep -c '<skipped' || true)
total=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
{
  printf '{\n  "manifest": %s,\n' "$(json_string "$(head -1 "$bundle/MANIFEST")")"
  printf '  "gpu": %s,\n' "$([[ -n "$gpu" ]] && json_string "$gpu" || echo null)"
  printf '  "missing_cuda_libraries": %s,\n' "$(json_string "${missing[*]:-}")"
  printf '  "skipped_test_cases": %s,\n  "total_seconds": %s,\n  "passed": %s,\n  "steps": [\n' \
    "$skipped_cases" "$total" "$([[ $failed -eq 0 ]] && echo true || echo false)"
  for i in "${!steps[@]}"; do
    printf '    %s%s\n' "${steps[$i]}" "$([[ $i -lt $((${#steps[@]} - 1)) ]] && echo ,)"
  done
  printf '  ]\n}\n'
} >"$out/summary.json"
cat "$out/summary.json"
exit "$failed"
