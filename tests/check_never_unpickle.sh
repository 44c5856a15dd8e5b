#!/usr/bin/env bash
# RELIABILITY.md S11, never unpickle: no tracked source or script loads pickle data (Python's
# pickle, torch.load, numpy's allow_pickle=True, joblib). Weights come only from safetensors.
#   check_never_unpickle.sh [ROOT]      check a tree (default: this repository); prints each hit
#   check_never_unpickle.sh --self-test plant each pattern in a scratch file; fail unless caught
set -euo pipefail

pattern='import pickle|from pickle|pickle\.load|cPickle|torch\.load|allow_pickle *= *True|joblib\.load'

check_tree() {
  local root=$1
  # This script names the patterns itself, so it is the one file left out.
  if (cd "$root" && git ls-files -z -- '*.py' '*.sh' '*.cc' '*.h' '*.cu' '*.cuh' 2>/dev/null |
      grep -zv '^tests/check_never_unpickle.sh$' | xargs -0 -r grep -nE "$pattern"); then
    echo "check_never_unpickle: the lines above load pickle data (RELIABILITY.md S11)"
    return 1
  fi
}

self_test() {
  local scratch planted
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' RETURN
  git -C "$scratch" init -q
  for planted in 'import pickle' 'w = torch.load("m.pt")' 'np.load(p, allow_pickle=True)'; do
    echo "$planted" >"$scratch/ref.py"
    git -C "$scratch" add ref.py
    if check_tree "$scratch" >/dev/null; then
      echo "self-test: not caught: $planted"
      return 1
    fi
  done
  echo "safe = np.load(p)" >"$scratch/ref.py"
  git -C "$scratch" add ref.py
  check_tree "$scratch" >/dev/null || { echo "self-test: a clean tree was refused"; return 1; }
  echo "self-test: every planted load was caught"
}

if [[ "${1:-}" == "--self-test" ]]; then
  self_test
else
  check_tree "${1:-$(cd "$(dirname "$0")/.." && pwd)}"
fi
