#!/usr/bin/env bash
# Makes what tests/integration/variants_test.cc shares, once per ctest run (a FIXTURES_SETUP test,
# like make_generate_env.sh): causal dna models written by `ringmaster init`, a reference FASTA,
# VCFs, and the scores of the float64 reference (tests/reference/variants_ref.py, through
# model_ref.py --task variants), which runs two full forwards per ALT over the same stored weights.
#   all/            local, fit, atlas, window, attention (dna, causal); group 128, chunk 32
#   attention/      attention, window, attention (dna, causal)
#   bidirectional/  attention with "causal": false; bytes/: attention over bytes (both refused)
#   ref.fa          chr1 (2400 bases), chr2 (1700), chr3 (500, no variants): lower case runs, Ns
#                   and one IUPAC R (chr1 POS 800), wrapped at 60 columns
#   calls.vcf       contigs and one sample column; see the table in the Python below: SNVs, MNV,
#                   insertions, deletions, first and last bases, inside the first FIT group,
#                   across FIT group and ATLAS chunk boundaries (an indel's shift among them),
#                   multi-allelic sites, <DEL>, *, ., a breakend, a REF mismatch, a lower-case REF,
#                   REF N over the IUPAC R, an ALT letter outside ACGTN, missing IDs
#   calls.vcf.gz    the same, bgzip-compressed; calls.vcf.gz.tbi beside it is not needed by the
#                   reference
#   skipped.vcf     only rows that are not scored (a job with nothing to score still writes)
#   bad_chrom.vcf   two good records, then CHROM chrZ (not in ref.fa) on line 7
#   truncated.vcf.gz  calls.vcf.gz cut in half
#   ref_<case>/variants_ref.tsv for the cases of variants_test.cc (see `ref` calls below)
# Usage: make_variants_env.sh RINGMASTER_BINARY SOURCE_DIR OUT_DIR
set -euo pipefail
bin=$1 src=$2 out=$3
rm -rf "$out" && mkdir -p "$out"
head='"format": "ringmaster-model/1", "d_model": 32, "n_heads": 4, "n_kv_heads": 2,
 "head_dim": 8, "mlp_hidden": 48, "norm_eps": 1e-5, "rope_theta": 10000.0'
attention='{"mixer": "attention"}'
window='{"mixer": "window", "window": 48}'
local_='{"mixer": "local", "group": 128}'
fit='{"mixer": "fit", "group": 128, "latents": 4, "global_layers": 1}'
atlas='{"mixer": "atlas", "chunk": 32, "omega_window": 24, "memory_hidden": 16, "feature_degree": 1}'
model() {  # name vocab causal blocks
  echo "{$head, \"vocab\": \"$2\", \"causal\": $3, \"blocks\": [$4]}" >"$out/$1.json"
  "$bin" --log-level warn init --config "$out/$1.json" --seed 29 --out "$out/$1" >/dev/null
}
model all dna true "$local_, $fit, $atlas, $window, $attention"
model attention dna true "$attention, $window, $attention"
model bidirectional dna false "$attention"
model bytes bytes true "$attention"
/usr/bin/python3 - "$out" <<'PY'
import random, sys
out = sys.argv[1]
rng = random.Random(31)
lengths = {"chr1": 2400, "chr2": 1700, "chr3": 500}
seqs = {name: [rng.choice("ACGT") for _ in range(n)] for name, n in lengths.items()}
seqs["chr1"][799] = "R"                    # IUPAC: N to the model; the VCF's REF there is N
seqs["chr1"][900:904] = list("NNNN")
seqs["chr2"][300:312] = list("N" * 12)
fasta = []
for name, seq in seqs.items():
    text = "".join(seq)
    text = text[:1100] + text[1100:1300].lower() + text[1300:]  # soft-masked run
    fasta.append(">%s test contig\n%s\n" % (name, "\n".join(text[j:j + 60]
                                                           for j in range(0, len(text), 60))))
open(out + "/ref.fa", "w").write("".join(fasta))


def base(chrom, pos, n=1):
    """The reference bases at 1-based POS (as the FASTA has them, IUPAC included)."""
    return "".join(seqs[chrom][pos - 1:pos - 1 + n]).upper()


def other(b, k=1):
    """The k-th base of ACGT after b (a base that differs from b)."""
    order = "ACGT"
    return order[(order.index(b) + k) % 4] if b in order else "A"


# Boundaries (full context: base POS sits at sequence position POS, <bos> at 0): FIT groups of
# 128 positions (POS 128, 256, ... open a group), ATLAS chunks of 32 (POS 32, 64, ...).
rows = []  # (chrom, pos, id, ref, alts, info)
def add(chrom, pos, ref, alts, vid=".", info="."):
    rows.append((chrom, pos, vid, ref, alts, info))
c = "chr1"
add(c, 1, base(c, 1), [other(base(c, 1))], "rs1")                       # the first base
add(c, 40, base(c, 40), [other(base(c, 40), 2)])                        # inside the first group
add(c, 60, base(c, 60), [base(c, 60) + "ACGTA"], "ins60")               # insertion, group 0
add(c, 120, base(c, 120, 13), [base(c, 120)], "del120")                 # deletion over POS 128
add(c, 250, base(c, 250), [base(c, 250) + "GATTACA"], "ins250")         # shift over POS 256
b = base(c, 300)                                                        # multi-allelic, 3 ALTs
add(c, 300, b, [other(b, 1), other(b, 2), b + "AC"], "multi300")
add(c, 414, base(c, 414, 6), [base(c, 414)], "del414")                  # deletion over POS 416
add(c, 500, base(c, 500), ["<DEL>"], "sv500", "SVTYPE=DEL;END=520")    # symbolic
add(c, 520, base(c, 520), [other(base(c, 520)), "*"], "star520")         # an SNV and a *
add(c, 600, other(base(c, 600)), [other(base(c, 600), 2)], "mismatch600")  # REF is wrong
add(c, 650, base(c, 650), [base(c, 650) + "XG"], "letter650")            # X is not a base
add(c, 700, base(c, 700).lower(), [other(base(c, 700))], "lower700")      # REF in lower case
add(c, 800, "N", ["A"], "iupac800")                                     # REF N over the R
add(c, 1000, base(c, 1000, 3), ["".join(other(x) for x in base(c, 1000, 3))], "mnv1000")
add(c, 1200, base(c, 1200), ["."], "noalt1200")                         # no ALT at all
add(c, 1250, base(c, 1250), [other(base(c, 1250), 3)])                  # inside the lower run
add(c, 1500, base(c, 1500), [base(c, 1500) + "]chr2:100]"], "bnd1500")   # a breakend
add(c, 1800, base(c, 1800), [base(c, 1800) + "ACGGTCATTGCAAGTCCATGGATCCGTAGGCTAT"], "ins1800")
add(c, 2398, base(c, 2398, 3), [base(c, 2398)], "del2398")              # ends at the last base
add(c, 2400, base(c, 2400), [other(base(c, 2400))], "last2400")          # the last base
c = "chr2"
add(c, 5, base(c, 5), [other(base(c, 5))])
add(c, 128, base(c, 128), [other(base(c, 128), 2)], "grp128")            # a group's first base
add(c, 192, base(c, 192, 4), [base(c, 192)], "del192")                  # at a chunk's start
add(c, 1000, base(c, 1000), [base(c, 1000) + "TTTTT"], "ins1000")
b = base(c, 1650, 3)                                                    # deletion and MNV
add(c, 1650, b, [b[0], other(b[0]) + b[1:]], "multi1650")
add(c, 1699, base(c, 1699), [other(base(c, 1699))], "snv1699")
add(c, 1700, base(c, 1700), [base(c, 1700) + "GG"], "ins1700")          # after the last base

header = ["##fileformat=VCFv4.2",
          '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
          '##INFO=<ID=END,Number=1,Type=Integer,Description="End position">',
          '##ALT=<ID=DEL,Description="Deletion">',
          '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">']
header += ["##contig=<ID=%s,length=%d>" % (n, l) for n, l in lengths.items()]
columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1"
def line(r):
    chrom, pos, vid, ref, alts, info = r
    return "\t".join([chrom, str(pos), vid, ref, ",".join(alts), "50", "PASS", info, "GT", "0/1"])
def vcf(path, records):
    open(path, "w").write("\n".join(header + [columns] + [line(r) for r in records]) + "\n")
vcf(out + "/calls.vcf", rows)
vcf(out + "/skipped.vcf", [r for r in rows if r[2] in ("sv500", "mismatch600", "letter650")])
# bad_chrom.vcf: 3 header lines, #CHROM, two good records (lines 5, 6), then chrZ on line 7.
short = [header[0], header[4], header[5]]
bad = [rows[0], rows[1], ("chrZ", 10, "bad", "A", ["C"], ".")]
open(out + "/bad_chrom.vcf", "w").write(
    "\n".join(short + [columns] + [line(r) for r in bad]) + "\n")
PY
bgzip -c "$out/calls.vcf" >"$out/calls.vcf.gz"
tabix -p vcf "$out/calls.vcf.gz"
size=$(stat -c %s "$out/calls.vcf.gz")
head -c $((size / 2)) "$out/calls.vcf.gz" >"$out/truncated.vcf.gz"

ref() {  # case model vcf flags...
  local name=$1 m=$2 v=$3
  shift 3
  /usr/bin/python3 "$src/tests/reference/model_ref.py" --task variants --model "$out/$m" \
    --input "$out/ref.fa" --variants "$out/$v" "$@" --out "$out/ref_$name"
  [ -f "$out/ref_$name/variants_ref.tsv" ] || {
    echo "no $out/ref_$name/variants_ref.tsv" >&2
    exit 1
  }
}
# The cases of variants_test.cc (its kCases names them): full context and windows, with and
# without the reverse strand; D = 40 and 24 (not multiples of a chunk or a group, so downstream
# windows end inside them); the attention model at the default D (1024), which runs past the ends.
ref all_full all calls.vcf --downstream 40
ref all_full_rc all calls.vcf.gz --downstream 40 --rc-average
ref all_window all calls.vcf --downstream 24 --context 150
ref all_window_rc all calls.vcf.gz --downstream 24 --context 150 --rc-average
ref attention_full attention calls.vcf.gz
ref attention_skipped attention skipped.vcf --downstream 40
# The reference refuses what ringmaster must refuse.
for v in bad_chrom.vcf truncated.vcf.gz; do
  if /usr/bin/python3 "$src/tests/reference/model_ref.py" --task variants --model "$out/all" \
       --input "$out/ref.fa" --variants "$out/$v" --out "$out/refused" 2>/dev/null; then
    echo "the reference accepted $v" >&2
    exit 1
  fi
done
touch "$out/complete"
