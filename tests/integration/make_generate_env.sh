#!/usr/bin/env bash
# Makes what tests/integration/generate_test.cc shares, once per ctest run (a FIXTURES_SETUP test,
# like make_model_job_env.sh): causal models written by `ringmaster init`, their prompts, and the
# continuations of the float64 reference (tests/reference/model_ref.py --task generate), which
# runs a full forward pass per step over the same stored weights.
#   attention/ window/ local/ fit/ atlas/   one mixer alone (dna)
#   all/            the five together (dna): attention, window, local, fit, atlas
#   bytes/          attention and window over the bytes vocabulary
#   bidirectional/  the attention model with "causal": false (generate refuses it)
#   in.fa           prompts of 40, 77, 9, 130 and 31 bases: fed with <bos> they end inside a
#                   fit/local group of 32 and an atlas chunk of 16 (41, 78, 10, 131) or on a
#                   boundary (32), and 24 new tokens cross group and chunk boundaries
#   text.txt        a 90-byte prompt for bytes/
#   ref_<model>_<greedy|sampled>/generate.json: greedy with --ignore-eos (random weights draw
#                   <eos> early, and every continuation should cross its boundaries); sampled
#                   with --temperature 0.8 --top-k 3 --seed 7, stopping at <eos>
# Usage: make_generate_env.sh RINGMASTER_BINARY SOURCE_DIR OUT_DIR
set -euo pipefail
bin=$1 src=$2 out=$3
rm -rf "$out" && mkdir -p "$out"
head='"format": "ringmaster-model/1", "d_model": 32, "n_heads": 4, "n_kv_heads": 2,
 "head_dim": 8, "mlp_hidden": 48, "norm_eps": 1e-5, "rope_theta": 10000.0'
attention='{"mixer": "attention"}'
window='{"mixer": "window", "window": 24}'
local_='{"mixer": "local", "group": 32}'
fit='{"mixer": "fit", "group": 32, "latents": 4, "global_layers": 1}'
atlas='{"mixer": "atlas", "chunk": 16, "omega_window": 24, "memory_hidden": 16, "feature_degree": 1}'
model() {  # name vocab causal blocks
  echo "{$head, \"vocab\": \"$2\", \"causal\": $3, \"blocks\": [$4]}" >"$out/$1.json"
  "$bin" --log-level warn init --config "$out/$1.json" --seed 17 --out "$out/$1" >/dev/null
}
model attention dna true "$attention"
model window dna true "$window"
model local dna true "$local_"
model fit dna true "$fit"
model atlas dna true "$atlas"
model all dna true "$attention, $window, $local_, $fit, $atlas"
model bytes bytes true "$attention, $window"
model bidirectional dna false "$attention"
/usr/bin/python3 - "$out" <<'PY'
import random, sys
out = sys.argv[1]
rng = random.Random(23)
records = []
for i, n in enumerate([40, 77, 9, 130, 31]):
    seq = "".join(rng.choice("ACGTacgtN") for _ in range(n))
    lines = [seq[j:j + 60] for j in range(0, n, 60)]
    records.append(">p%d prompt\n%s\n" % (i, "\n".join(lines)))
open(out + "/in.fa", "w").write("".join(records))
open(out + "/text.txt", "wb").write(b"Ringmaster continues this text one byte at a time, "
                                    b"exactly as its reference does.\n")
PY
ref() {  # model input max_new_tokens mode
  local sampling=(--ignore-eos)
  [ "$4" = sampled ] && sampling=(--temperature 0.8 --top-k 3 --seed 7)
  /usr/bin/python3 "$src/tests/reference/model_ref.py" --task generate --model "$out/$1" \
    --input "$out/$2" --max-new-tokens "$3" "${sampling[@]}" --out "$out/ref_$1_$4"
  [ -f "$out/ref_$1_$4/generate.json" ] || { echo "no $out/ref_$1_$4/generate.json" >&2; exit 1; }
}
for m in attention window local fit atlas all; do
  for mode in greedy sampled; do ref "$m" in.fa 24 "$mode"; done
done
for mode in greedy sampled; do ref bytes text.txt 16 "$mode"; done
touch "$out/complete"
