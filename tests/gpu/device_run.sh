#!/usr/bin/env bash
# tests/gpu/device_run.sh: `ringmaster run --device cuda` against `--device cpu`, end to end, on a
# machine with a GPU (tests/gpu/run.sh runs it). The attention check (1 worker: q, k, v and the
# ring's buffers stay on the device; 2 and 4 workers over the data plane share the one GPU, each
# block uploaded by the CUDA backend) and a small model job (attention, window, local, attention,
# fit and atlas blocks, head_dim 64 as the CUDA kernel needs; the atlas chains, norms and MLPs run
# on the GPU too; f32, with --rank-weights auto, and bf16 compute against the CPU's bf16) must
# agree within 2e-2 of max |out|: the GPU rounds f32 inputs to f16 before its tensor cores. The
# comparisons run in the python3 on PATH (numpy), or in $RINGMASTER_PYTHON when set.
# Usage: tests/gpu/device_run.sh RINGMASTER_BINARY [all|attention|model|no-device]
#   attention  the attention check; model  the model job; no-device  the refusal without a GPU
#   (the one part that needs no GPU); all (default)  the three in turn.
set -euo pipefail
bin=$1
part=${2:-all}
case "$part" in
  all | attention | model | no-device) ;;
  *) echo "usage: $0 RINGMASTER_BINARY [all|attention|model|no-device]" >&2; exit 2 ;;
esac
python=${RINGMASTER_PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

compare() {  # cpu.npy cuda.npy what
  "$python" - "$1" "$2" "$3" <<'PY'
import sys
import numpy as np
cpu, cuda, what = np.load(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3]
assert cpu.shape == cuda.shape, (what, cpu.shape, cuda.shape)
assert not np.isnan(cuda).any(), what + ": NaN in the cuda output"
err = float(np.abs(cpu - cuda).max() / max(np.abs(cpu).max(), 1e-30))
print("%-40s shape %-16s relative error %.2e" % (what, cpu.shape, err))
sys.exit(0 if err <= 2e-2 else 1)
PY
}

# More than one worker needs the UCX data plane.
worker_counts=(1)
if grep -q libucp <(ldd "$bin"); then worker_counts=(1 2 4); fi
check=(--tokens 4096 --heads 8 --kv-heads 2 --head-dim 128 --plan zigzag --threads 4)

attention_check() {
  for workers in "${worker_counts[@]}"; do
    for mask in --causal --bidirectional; do
      for device in cpu cuda; do
        "$bin" --log-level warn run --workers "$workers" "${check[@]}" "$mask" --device "$device" \
          --out "$work/check_${workers}${mask}_$device.npy"
      done
      compare "$work/check_${workers}${mask}_cpu.npy" "$work/check_${workers}${mask}_cuda.npy" \
        "attention check, $workers worker(s) $mask"
    done
  done
  echo "device_run: attention check passed"
}

model_job() {
  cat >"$work/model.json" <<JSON
{"format": "ringmaster-model/1", "vocab": "dna", "d_model": 256, "n_heads": 4, "n_kv_heads": 2,
 "head_dim": 64, "mlp_hidden": 512, "norm_eps": 1e-5, "rope_theta": 10000.0, "causal": true,
 "blocks": [{"mixer": "attention"}, {"mixer": "window", "window": 200},
            {"mixer": "local", "group": 256}, {"mixer": "attention"},
            {"mixer": "fit", "group": 256, "latents": 4, "global_layers": 1},
            {"mixer": "atlas", "chunk": 64, "omega_window": 16, "memory_hidden": 64,
             "feature_degree": 1}]}
JSON
  "$bin" --log-level warn init --config "$work/model.json" --seed 11 --out "$work/model" >/dev/null
  "$python" - "$work/in.fa" <<'PY'
import random, sys
rng = random.Random(5)
with open(sys.argv[1], "w") as f:
    for i, n in enumerate([3000, 500, 1700]):
        f.write(">rec%d\n%s\n" % (i, "".join(rng.choice("ACGT") for _ in range(n))))
PY
  for workers in "${worker_counts[@]:0:2}"; do
    for device in cpu cuda; do
      "$bin" --log-level warn run --workers "$workers" --model "$work/model" --input "$work/in.fa" \
        --task embed --quiet --threads 4 --device "$device" --out "$work/model_${workers}_$device"
    done
    compare "$work/model_${workers}_cpu/embeddings.npy" "$work/model_${workers}_cuda/embeddings.npy" \
      "model embed, $workers worker(s)"
  done
  # --rank-weights auto: each worker times its GPU's MLP before registering (worker/calibration.h)
  # and the job is cut for the speeds; the rows are the CPU's whatever the cut.
  local weighted=${worker_counts[1]:-1}
  "$bin" --log-level warn run --workers "$weighted" --model "$work/model" --input "$work/in.fa" \
    --task embed --quiet --threads 4 --device cuda --rank-weights auto \
    --out "$work/model_auto_cuda"
  compare "$work/model_${weighted}_cpu/embeddings.npy" "$work/model_auto_cuda/embeddings.npy" \
    "model embed, $weighted worker(s), measured weights"
  # bf16 compute: the GPU's bf16 MLP GEMMs and attention tiles against the CPU's bf16 products.
  for device in cpu cuda; do
    "$bin" --log-level warn run --workers 1 --model "$work/model" --input "$work/in.fa" \
      --task embed --quiet --threads 4 --device "$device" --compute-dtype bf16 \
      --out "$work/model_bf16_$device"
  done
  compare "$work/model_bf16_cpu/embeddings.npy" "$work/model_bf16_cuda/embeddings.npy" \
    "model embed bf16, 1 worker"
  echo "device_run: model job passed"
}

# A worker asked for cuda where none is visible fails before running, with one clear line.
no_device() {
  if CUDA_VISIBLE_DEVICES= "$bin" --log-level warn run --workers 1 "${check[@]}" --device cuda \
    --out "$work/none.npy" >"$work/none.log" 2>&1; then
    echo "--device cuda without a visible GPU succeeded" && exit 1
  fi
  grep -q "no CUDA device is visible" "$work/none.log" || { cat "$work/none.log"; exit 1; }
  echo "device_run: refusal without a GPU passed"
}

case "$part" in
  attention) attention_check ;;
  model) model_job ;;
  no-device) no_device ;;
  all)
    attention_check
    model_job
    no_device
    echo "device_run: all passed"
    ;;
esac
