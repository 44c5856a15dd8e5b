#!/usr/bin/env bash
# Makes what tests/integration/model_coverage_test.cc shares, once per ctest run (a FIXTURES_SETUP
# test, like make_model_job_env.sh): models that the attention-only fixture lacks, each written
# by `ringmaster init`, their inputs, and the outputs of the independent PyTorch model
# (tests/reference/model_ref.py) reading the same stored weights.
#   fit_atlas/      causal, dna: fit (1 global layer), atlas (degree 1), window, atlas (degree 2),
#                   fit (no global layer); group 32, chunk 16
#   bytes/          causal, bytes vocabulary: attention, window, local
#   bf16/, f16/     the attention model of make_model_job_env.sh stored with `init --dtype`
#   in.fa           records of 300, 40, 517 and 9 bases; text.txt: 700 bytes, every byte value
# Usage: make_model_coverage_env.sh RINGMASTER_BINARY SOURCE_DIR OUT_DIR
set -euo pipefail
bin=$1 src=$2 out=$3
rm -rf "$out" && mkdir -p "$out"
head='"format": "ringmaster-model/1", "d_model": 32, "n_heads": 4, "n_kv_heads": 2,
 "head_dim": 8, "mlp_hidden": 48, "norm_eps": 1e-5, "rope_theta": 10000.0, "causal": true'
cat >"$out/fit_atlas.json" <<JSON
{$head, "vocab": "dna",
 "blocks": [{"mixer": "fit", "group": 32, "latents": 4, "global_layers": 1},
            {"mixer": "atlas", "chunk": 16, "omega_window": 24, "memory_hidden": 16,
             "feature_degree": 1},
            {"mixer": "window", "window": 24},
            {"mixer": "atlas", "chunk": 16, "omega_window": 8, "memory_hidden": 12,
             "feature_degree": 2},
            {"mixer": "fit", "group": 32, "latents": 4, "global_layers": 0}]}
JSON
cat >"$out/bytes.json" <<JSON
{$head, "vocab": "bytes",
 "blocks": [{"mixer": "attention"}, {"mixer": "window", "window": 24},
            {"mixer": "local", "group": 32}]}
JSON
cat >"$out/attention.json" <<JSON
{$head, "vocab": "dna",
 "blocks": [{"mixer": "attention"}, {"mixer": "window", "window": 24},
            {"mixer": "local", "group": 32}, {"mixer": "attention"}]}
JSON
init() {  # name config dtype
  "$bin" --log-level warn init --config "$out/$2.json" --seed 13 --dtype "$3" --out "$out/$1" \
    >/dev/null
}
init fit_atlas fit_atlas f32
init bytes bytes f32
init bf16 attention bf16
init f16 attention f16
/usr/bin/python3 - "$out" <<'PY'
import random, sys
out = sys.argv[1]
rng = random.Random(9)
records = []
for i, n in enumerate([300, 40, 517, 9]):
    seq = "".join(rng.choice("ACGTNacgt") for _ in range(n))
    lines = [seq[j:j + 60] for j in range(0, n, 60)]
    records.append(">rec%d\n%s\n" % (i, "\n".join(lines)))
open(out + "/in.fa", "w").write("".join(records))
# Every byte value once (NUL, newlines, non-UTF-8), then text.
text = bytes(range(256)) + b"Ringmaster reads a text file as its raw bytes.\r\n" * 9
text += bytes(rng.randrange(256) for _ in range(700 - len(text)))
open(out + "/text.txt", "wb").write(text)
PY
ref() {  # name model input task
  /usr/bin/python3 "$src/tests/reference/model_ref.py" --model "$out/$2" --input "$out/$3" \
    --task "$4" --out "$out/ref_$1"
}
ref fit_atlas_embed fit_atlas in.fa embed
ref fit_atlas_score fit_atlas in.fa score
ref bytes_score bytes text.txt score
ref bf16_embed bf16 in.fa embed
ref f16_score f16 in.fa score
touch "$out/complete"
