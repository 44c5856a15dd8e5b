#!/usr/bin/env bash
# tests/gpu/run.sh: every GPU check, on a machine with a GPU. Builds for the local GPU's
# architecture, runs the ctest cases labelled gpu (a missing GPU is a failure here, not a skip),
# then the kernel benchmark: attention TFLOP/s next to cuBLAS's bf16 GEMM (about 20 s).
# Usage: tests/gpu/run.sh [build-dir]   (default: build-gpu in the repository root; JOBS=N)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build-gpu}

nvidia-smi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGMASTER_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=native
cmake --build "$build" -j "${JOBS:-$(nproc)}"
export RINGMASTER_REQUIRE_GPU=1  # gpu tests fail instead of skipping when no device is visible
ctest --test-dir "$build" -L gpu --output-on-failure --no-tests=error
# `ringmaster run --device cuda` against --device cpu: the attention check and a model job.
"$root/tests/gpu/device_run.sh" "$build/launcher/ringmaster"
"$build/bench/ringmaster_cuda_kernel_bench" --min-time 0.3
