#!/usr/bin/env bash
# Makes what the model-job integration tests share, once per ctest run (a FIXTURES_SETUP test):
# a causal and a bidirectional model (attention, window, local blocks) written by `ringmaster
# init`, a FASTA input with records of very different lengths, and the outputs of the
# independent PyTorch model (tests/reference/model_ref.py) for them.
# Usage: make_model_job_env.sh RINGMASTER_BINARY SOURCE_DIR OUT_DIR
set -euo pipefail
bin=$1 src=$2 out=$3
rm -rf "$out" && mkdir -p "$out"
for kind in causal bidirectional; do
  causal=$([ "$kind" = causal ] && echo true || echo false)
  cat >"$out/$kind.json" <<JSON
{"format": "ringmaster-model/1", "vocab": "dna", "d_model": 32, "n_heads": 4, "n_kv_heads": 2,
 "head_dim": 8, "mlp_hidden": 64, "norm_eps": 1e-5, "rope_theta": 10000.0, "causal": $causal,
 "blocks": [{"mixer": "attention"}, {"mixer": "window", "window": 24},
            {"mixer": "local", "group": 32}, {"mixer": "attention"}]}
JSON
  "$bin" --log-level warn init --config "$out/$kind.json" --seed 11 --out "$out/$kind" >/dev/null
done
# Records of 900, 40, 1500, 7 and 333 bases (one shorter than a group), with lower case and IUPAC
# codes, wrapped at 60 columns. rec2 alone goes to rec2.fa.
/usr/bin/python3 - "$out" <<'PY'
import random, sys
out = sys.argv[1]
rng = random.Random(5)
records = []
for i, n in enumerate([900, 40, 1500, 7, 333]):
    seq = "".join(rng.choice("ACGTNacgtRY") for _ in range(n))
    lines = [seq[j:j + 60] for j in range(0, n, 60)]
    records.append(">rec%d test record\n%s\n" % (i, "\n".join(lines)))
open(out + "/in.fa", "w").write("".join(records))
open(out + "/rec2.fa", "w").write(records[2])
PY
ref() {  # name model task pool
  /usr/bin/python3 "$src/tests/reference/model_ref.py" --model "$out/$2" --input "$out/in.fa" \
    --task "$3" --pool "$4" --out "$out/ref_$1"
}
ref causal_embed causal embed none
ref causal_score causal score none
ref causal_mean causal embed mean
ref bidirectional_embed bidirectional embed none
touch "$out/complete"
