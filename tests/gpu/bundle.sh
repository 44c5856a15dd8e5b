#!/usr/bin/env bash
# tests/gpu/bundle.sh: builds, here, everything the GPU checks run, for an H100/H200 machine that
# has no compiler dependencies: `ringmaster`, the test binaries labelled gpu and the CUDA kernel
# benchmark, Release, sm_90a and sm_90 (CUDA_ARCHS overrides), warnings as errors. Copies them,
# the shared libraries they need and the scripts that run them into one git-ignored folder that
# travels with the working tree (tests/gpu/README.md); tests/gpu/run_bundle.sh runs it there.
#
# Libraries: every one ldd names, except the GPU driver's (libcuda, libnvidia-*), glibc's and the
# CUDA toolkit's (libcudart, libcublas, libcublasLt, libnccl: about 800 MiB, and the GPU machine
# has the CUDA 13 toolkit; run_bundle.sh puts /usr/local/cuda/lib64 on LD_LIBRARY_PATH, else the
# pip nvidia-* libraries next to PyTorch). UCX's transport modules go in lib/ucx/, where libucs
# looks for them. Libraries over 1 MiB are gzipped (lib/*.gz), to keep the folder small.
#
# Usage: tests/gpu/bundle.sh [bundle-dir]   (default: gpu-bundle/ in the repository root; the
# build goes to build-gpu-bundle/; JOBS=N, default 2)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bundle=${1:-$root/gpu-bundle}
build=$root/build-gpu-bundle
archs=${CUDA_ARCHS:-90a;90}

# The gpu-labelled test binaries, from tests/CMakeLists.txt: each ringmaster_add_test(NAME ...)
# whose LABELS line says gpu. (Before a build ctest lists them only as NAME_NOT_BUILT, without
# labels; after it, the list is checked against `ctest -L gpu`.)
mapfile -t gpu_tests < <(awk '/ringmaster_add_test\(/ { sub(/.*ringmaster_add_test\(/, ""); name = $1 }
  /LABELS/ && / gpu/ { print name }' "$root/tests/CMakeLists.txt")
[[ ${#gpu_tests[@]} -gt 0 ]] || { echo "bundle.sh: no gpu tests in tests/CMakeLists.txt" >&2; exit 1; }
targets=(ringmaster ringmaster_cuda_kernel_bench "${gpu_tests[@]}")

source "$root/scripts/ccache-env"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${ccache_flags[@]}" \
  -DRINGMASTER_CUDA=ON -DRINGMASTER_NCCL=ON -DRINGMASTER_UCX=ON -DRINGMASTER_WERROR=ON \
  -DRINGMASTER_TESTING_FAULTS=OFF "-DCMAKE_CUDA_ARCHITECTURES=$archs" >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target "${targets[@]}"

# Every test ctest labels gpu must come from a binary in the bundle.
labelled=$(ctest --test-dir "$build" -L gpu --show-only=json-v1 |
  /usr/bin/python3 -c 'import json, os, sys
print("\n".join(sorted({os.path.basename(t["command"][0]) for t in json.load(sys.stdin)["tests"]})))')
for binary in $labelled; do
  printf '%s\n' "${gpu_tests[@]}" | grep -qx "$binary" ||
    { echo "bundle.sh: ctest -L gpu runs $binary, which the bundle lacks" >&2; exit 1; }
done

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib/ucx" "$bundle/tests/gpu"
for target in "${targets[@]}"; do
  path=$(find "$build" -name "$target" -type f -perm -u+x -not -path '*/CMakeFiles/*' | head -1)
  [[ -n "$path" ]] || { echo "bundle.sh: $target was not built" >&2; exit 1; }
  cp "$path" "$bundle/bin/"
done

# Libraries not to copy: the driver's, glibc's and the CUDA toolkit's (see the header).
skip='^(libcuda|libnvidia-|libc\.so|libm\.so|libmvec|libpthread|libdl|librt|libresolv|libutil|ld-linux|linux-vdso|libcudart|libcublas|libcublasLt|libnccl)'
copy_deps() {  # copies what ldd says $1 needs into lib/
  local name path
  while read -r name path; do
    [[ "$name" =~ $skip ]] && continue
    [[ -e "$bundle/lib/$name" ]] && continue
    [[ -f "$path" ]] || { echo "bundle.sh: $1 needs $name, not found here" >&2; exit 1; }
    cp -L "$path" "$bundle/lib/$name"
  done < <(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')
}
for binary in "$bundle"/bin/*; do copy_deps "$binary"; done
# UCX's shared-memory transport (cma); the InfiniBand modules would need rdma-core.
ucx_dir=$(dirname "$(ldd "$bundle/bin/ringmaster" | awk '$1 ~ /^libucs\.so/ { print $3 }')")/ucx
for module in "$ucx_dir"/libuct_cma.so.0; do
  [[ -f "$module" ]] && cp -L "$module" "$bundle/lib/ucx/" && copy_deps "$module"
done

# The newest glibc symbol version anything here asks for: the GPU machine's glibc must be as new.
glibc_needed=$(objdump -T "$bundle"/bin/* "$bundle"/lib/*.so* | grep -o 'GLIBC_[0-9.]*' |
  sort -uV | tail -1)

# The carried tree may take 64 MiB in all: libraries over 1 MiB travel gzipped (OpenBLAS alone
# is 36 MiB, 11 gzipped); run_bundle.sh unpacks them.
find "$bundle/lib" -maxdepth 1 -type f -size +1M -exec gzip -6 {} +

cp "$root/tests/gpu/run_bundle.sh" "$root/tests/gpu/device_run.sh" "$root/tests/gpu/README.md" \
  "$bundle/tests/gpu/"
{
  echo "commit $(git -C "$root" rev-parse HEAD)$(git -C "$root" diff --quiet HEAD || echo ' (+ local changes)')"
  echo "built $(date -u +%FT%TZ) on $(hostname), CUDA archs $archs, $(nvcc --version 2>/dev/null | tail -1 || /usr/local/cuda/bin/nvcc --version | tail -1)"
  echo "needs glibc >= ${glibc_needed#GLIBC_}, libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnccl.so.2"
  echo "gpu tests: ${gpu_tests[*]}"
} >"$bundle/MANIFEST"
cat "$bundle/MANIFEST"
(cd "$bundle" && find . -type f | sort | xargs ls -l | awk '{ printf "%10d  %s\n", $5, $9 }')
du -sh "$bundle"
size_kib=$(du -sk "$bundle" | cut -f1)
if ((size_kib > 60 * 1024)); then
  echo "bundle.sh: $bundle is $((size_kib / 1024)) MiB, over the 60 MiB a carried path may take" >&2
  exit 1
fi
