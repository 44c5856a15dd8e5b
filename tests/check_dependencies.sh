#!/usr/bin/env bash
# The room rule of ARCHITECTURE.md and STYLE.md 1, checked on the source tree:
#   launcher -> predict -> coordinator; launcher -> coordinator, worker -> model -> attention, memory -> comm, core;
#   proto beside core (it may know core and comm types, nothing above);
#   only proto, coordinator, worker and launcher (and fuzz) touch Boost.Asio.
# Every #include "room/..." of every source file, and every ringmaster::room a folder's
# CMakeLists.txt links, must be allowed for the room the file is in. Prints each violation and
# exits 1; exits 0 silently otherwise.
#   check_dependencies.sh [ROOT]      check a tree (default: this repository)
#   check_dependencies.sh --self-test plant a violation of each kind in a scratch tree; fail
#                                     unless each one is caught
set -euo pipefail

declare -A allowed=(
  [core]="core"
  [io]="core io"
  [comm]="core comm"
  [attention]="core comm attention"
  [memory]="core comm memory"
  [model]="core io comm attention memory model"
  [proto]="core comm proto"
  [bench]="core io comm attention memory model bench"
  [coordinator]="core io comm attention memory model proto coordinator"
  [worker]="core io comm attention memory model proto worker"
  [predict]="core io comm attention memory model proto coordinator predict"
  [launcher]="core io comm attention memory model proto coordinator worker bench predict launcher"
  [fuzz]="core io comm attention memory model proto fuzz"
)
asio_rooms=" proto coordinator worker launcher fuzz "

check_tree() {
  local root=$1 bad=0 room file dep line
  for room in "${!allowed[@]}"; do
    [[ -d "$root/$room" ]] || continue
    local ok=" ${allowed[$room]} "
    while IFS= read -r file; do
      while IFS= read -r dep; do
        if [[ "$ok" != *" $dep "* ]]; then
          echo "${file#"$root"/}: includes $dep/ (a $room file may include only: ${allowed[$room]})"
          bad=1
        fi
      done < <(sed -nE 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*"([a-z_]+)/.*|\1|p' "$file" |
                 sort -u)
      if [[ "$asio_rooms" != *" $room "* ]] &&
         grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<boost/' "$file"; then
        echo "${file#"$root"/}: includes Boost (only${asio_rooms% } may)"
        bad=1
      fi
    done < <(find "$root/$room" -type f \( -name '*.h' -o -name '*.cc' -o -name '*.cu' \
               -o -name '*.cuh' \))
    while IFS= read -r file; do
      while IFS= read -r line; do
        dep=${line%_cuda}
        if [[ "$ok" != *" $dep "* ]]; then
          echo "${file#"$root"/}: links ringmaster::$line (a $room target may link only: ${allowed[$room]})"
          bad=1
        fi
      done < <(grep -oE 'ringmaster::[a-z_]+' "$file" | sed 's/ringmaster:://' | sort -u)
    done < <(find "$root/$room" -name CMakeLists.txt)
  done
  return $bad
}

self_test() {
  local scratch
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' RETURN
  mkdir -p "$scratch"/{proto,attention,core}
  echo '#include "core/status.h"' >"$scratch/proto/fine.h"
  check_tree "$scratch" >/dev/null || { echo "self-test: a clean tree was refused"; return 1; }
  local planted
  for planted in 'proto/convert.h:#include "attention/check_job.h"' \
                 'core/tensor.h:#include "comm/communicator.h"' \
                 'attention/ring.cc:#include <boost/asio/io_context.hpp>' \
                 'proto/CMakeLists.txt:PUBLIC_DEPS ringmaster::attention' \
                 'attention/CMakeLists.txt:PUBLIC_DEPS ringmaster::model_cuda'; do
    rm -rf "${scratch:?}"/* && mkdir -p "$scratch"/{proto,attention,core}
    echo "${planted#*:}" >"$scratch/${planted%%:*}"
    if check_tree "$scratch" >/dev/null; then
      echo "self-test: not caught: ${planted%%:*} with '${planted#*:}'"
      return 1
    fi
  done
  echo "self-test: every planted violation was caught"
}

if [[ "${1:-}" == "--self-test" ]]; then
  self_test
else
  check_tree "${1:-$(cd "$(dirname "$0")/.." && pwd)}"
fi
