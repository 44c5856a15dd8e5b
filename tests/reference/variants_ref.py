#!/usr/bin/env python3
"""MODEL.md "variants", written from the page alone: the oracle of `ringmaster run --task variants`.

Every ALT allele is scored the slow, literal way: ref_seq and alt_seq are each fed as
`<bos> seq` through a FULL float64 forward (model_ref.py's), and LL(seq, |left|) is summed from
the log-softmax of those logits. Nothing is cached between variants except the result of a forward
over the very same tokens (a multi-allelic site's ref_seq), so the reference never relies on the
prefix property (a causal model's rows before p do not depend on what follows) that ringmaster's
branches are built on: if ringmaster's caches were wrong, the two would part.

The VCF reader is a small hand-written one (plain text, gzip or bgzip through Python's gzip; no
BCF): it needs only the fixed columns, so it stays independent of the htslib that ringmaster
uses.

    /usr/bin/python3 variants_ref.py --model DIR --input ref.fa --variants calls.vcf[.gz]
        [--downstream D] [--context C] [--rc-average] --out DIR
    (or model_ref.py --task variants with the same flags)
    /usr/bin/python3 model_ref.py --check-variants
        self_check() below: the oracle against whole-record forwards (no model needed)

writes DIR/variants_ref.tsv, a header line then one row per ALT in VCF order:
    chrom pos id ref alt dll dll_fwd dll_rc ll_alt_fwd ll_ref_fwd ll_alt_rc ll_ref_rc status
floats as Python's repr (shortest round trip), `.` where a value does not apply (a skipped row,
or the rc columns without --rc-average). The ll_* columns are LL(alt_seq, |left|) and
LL(ref_seq, |left|) per strand: MODEL.md's tolerance is relative to their absolute sum.
"""
import argparse
import gzip
import os
import sys
import zlib

DNA = "ACGTN"
IUPAC_N = set("RYKMSWBDHV")
COMPLEMENT = [3, 2, 1, 0, 4]  # A<->T, C<->G, N->N over the ids A C G T N
COLUMNS = ["chrom", "pos", "id", "ref", "alt", "dll", "dll_fwd", "dll_rc", "ll_alt_fwd",
           "ll_ref_fwd", "ll_alt_rc", "ll_ref_rc", "status"]
STATUSES = ["ok", "ref_mismatch", "skipped_symbolic", "skipped_allele"]


class VariantsError(Exception):
    """Bad input: the message names the file (and the line where there is one)."""


# ---------------------------------------------------------------------------------------------
# VCF: the fixed columns only

def read_vcf(path):
    """[(line number, chrom, pos, id, ref, [alt, ...])] of every data line, 1-based line numbers.
    Plain text, or gzip/bgzip (bgzip is a series of gzip members, which gzip.decompress reads
    whole); a truncated or corrupt compressed file is an error, never a short read."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise VariantsError(f"{path}: {e.strerror}")
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise VariantsError(f"{path}: not a complete gzip/bgzip file ({e})")
    if raw[:3] == b"BCF":
        raise VariantsError(f"{path}: BCF is not read by the reference")
    records = []
    seen_header = False
    for number, line in enumerate(raw.decode().split("\n"), start=1):
        line = line.rstrip("\r")
        if not line:
            continue
        if line.startswith("##"):
            continue
        if line.startswith("#"):
            seen_header = True
            continue
        if not seen_header:
            raise VariantsError(f"{path}: line {number}: a record before the #CHROM header")
        fields = line.split("\t")
        if len(fields) < 8:
            raise VariantsError(f"{path}: line {number}: {len(fields)} columns, VCF has 8 or more")
        chrom, pos, vid, ref, alt = fields[:5]
        try:
            pos = int(pos)
        except ValueError:
            raise VariantsError(f"{path}: line {number}: POS '{pos}' is not a number")
        if pos < 1 or not ref:
            raise VariantsError(f"{path}: line {number}: POS must be >= 1 and REF not empty")
        records.append((number, chrom, pos, vid, ref, alt.split(",")))
    return records


# ---------------------------------------------------------------------------------------------
# Alleles

def symbolic(alt):
    """MODEL.md: symbolic (<DEL>) or breakend ALTs (t[p[, ]p]t, and the single breakends .t and
    t.), the spanning deletion *, and the missing allele ."""
    return (alt.startswith("<") or "[" in alt or "]" in alt or alt in ("*", ".")
            or alt.startswith(".") or alt.endswith("."))


def allele_ids(text):
    """Token ids of an allele of letters A C G T N (either case), or None for any other letter."""
    text = text.upper()
    if any(ch not in DNA for ch in text):
        return None
    return [DNA.index(ch) for ch in text]


def ref_matches(x, a, ref):
    """REF against the record's bases at a (case-insensitive; IUPAC codes count as N, as in the
    FASTA reader); a REF that runs past the record's end does not match."""
    if a + len(ref) > len(x):
        return False
    want = [DNA.index("N") if ch in IUPAC_N else (DNA.index(ch) if ch in DNA else -1)
            for ch in ref.upper()]
    return want == x[a:a + len(ref)]


def status_of(x, a, ref, alt):
    """MODEL.md's row status. The page gives no order for a row with more than one reason; this
    takes ringmaster's (io/variants.h): what the ALT is first (skipped_symbolic, skipped_allele),
    then whether REF matches. The tests' VCFs give each row one reason."""
    if symbolic(alt):
        return "skipped_symbolic"
    if allele_ids(alt) is None:
        return "skipped_allele"
    if not ref_matches(x, a, ref):
        return "ref_mismatch"
    return "ok"


def revcomp(ids):
    return [COMPLEMENT[t] for t in reversed(ids)]


# ---------------------------------------------------------------------------------------------
# Scoring

class Scorer:
    """LL(seq, from) by a full forward of <bos> seq. `logits(fed)` is the model's [len(fed), V]
    float64 logits; results are kept per exact token sequence only (a multi-allelic site's ref_seq
    is then run once), never shared between different sequences."""

    def __init__(self, logits, bos, torch):
        self.logits, self.bos, self.torch = logits, bos, torch
        self.memo = {}
        self.forwards = 0

    def log_probs(self, seq):
        """log p(seq_i | <bos>, seq_<i) for every i: row i of the logits predicts seq_i."""
        key = tuple(seq)
        if key not in self.memo:
            torch = self.torch
            logp = torch.log_softmax(self.logits([self.bos] + list(seq))[:-1], dim=-1)
            self.memo[key] = logp[torch.arange(len(seq)), torch.tensor(seq)].tolist()
            self.forwards += 1
        return self.memo[key]

    def ll(self, seq, start):
        return sum(self.log_probs(seq)[start:])

    def strand(self, x, a, R, A, context, downstream):
        """(LL(alt_seq, |left|), LL(ref_seq, |left|)) on the strand whose tokens are x."""
        left = x[max(0, a - context) if context is not None else 0:a]
        right = x[a + len(R):a + len(R) + downstream]
        return (self.ll(left + A + right, len(left)), self.ll(left + R + right, len(left)))


def score(records, variants_path, scorer, downstream, context, rc_average):
    """Rows (dicts of COLUMNS) for every ALT of the VCF, in VCF order. records: [(name, ids)] of
    the reference (first record of a name wins, though the tests' references have none twice).
    Raises VariantsError for a CHROM that names no reference record."""
    by_name = {}
    for name, ids in records:
        by_name.setdefault(name, ids)
    revcomps = {}
    rows = []
    for number, chrom, pos, vid, ref, alts in read_vcf(variants_path):
        if chrom not in by_name:
            raise VariantsError(f"{variants_path}: line {number}: CHROM '{chrom}' is not a "
                                f"record of the reference")
        x = by_name[chrom]
        a = pos - 1
        for alt in alts:
            row = dict.fromkeys(COLUMNS, ".")
            row.update(chrom=chrom, pos=pos, id=vid, ref=ref, alt=alt,
                       status=status_of(x, a, ref, alt))
            if row["status"] == "ok":
                R, A = x[a:a + len(ref)], allele_ids(alt)
                alt_ll, ref_ll = scorer.strand(x, a, R, A, context, downstream)
                row.update(ll_alt_fwd=alt_ll, ll_ref_fwd=ref_ll, dll_fwd=alt_ll - ref_ll)
                row["dll"] = row["dll_fwd"]
                if rc_average:
                    if chrom not in revcomps:
                        revcomps[chrom] = revcomp(x)
                    # The reverse strand's coordinates: the allele that covers [a, a + |R|) on the
                    # forward strand starts at |x| - (a + |R|) on the reverse one.
                    a_rc = len(x) - (a + len(R))
                    alt_rc, ref_rc = scorer.strand(revcomps[chrom], a_rc, revcomp(R), revcomp(A),
                                                   context, downstream)
                    row.update(ll_alt_rc=alt_rc, ll_ref_rc=ref_rc, dll_rc=alt_rc - ref_rc)
                    row["dll"] = (row["dll_fwd"] + row["dll_rc"]) / 2
            rows.append(row)
    return rows


def write_tsv(path, rows):
    def text(v):
        return repr(v) if isinstance(v, float) else str(v)
    with open(path, "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for row in rows:
            f.write("\t".join(text(row[c]) for c in COLUMNS) + "\n")


def run(model, model_dir, input_path, variants_path, downstream, context, rc_average, out):
    """The whole job; `model` is the model_ref module (passed in, not imported here, so that
    model_ref.py can call this without a circular import). Returns the process exit code."""
    if downstream < 0 or (context is not None and context < 0):
        raise SystemExit("--downstream and --context must be >= 0")
    config, w = model.load_model(model_dir)
    if config["vocab"] != "dna" or not config["causal"]:
        raise SystemExit(f"{model_dir}: the variants task needs a causal dna model")
    records = model.read_fasta(input_path)
    scorer = Scorer(lambda fed: model.forward(fed, config, w)[1], model.specials(config)[0],
                    model.torch)
    try:
        rows = score(records, variants_path, scorer, downstream, context, rc_average)
    except VariantsError as e:
        raise SystemExit(f"variants_ref: {e}")
    os.makedirs(out, exist_ok=True)
    write_tsv(os.path.join(out, "variants_ref.tsv"), rows)
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    print(f"variants_ref: {len(rows)} rows {counts}, {scorer.forwards} forwards", file=sys.stderr)
    return 0


def self_check(model, seed=0):
    """--check-variants without a model: on a random causal model of attention, window and local
    blocks (model_ref.random_weights) and a random two-record reference,
    - every row's status, for VCF lines built to hit each rule once (a lower-case REF, REF N over
      an IUPAC base, a REF past the record's end, <DEL>, *, ., a breakend, a single breakend, a
      letter outside ACGTN);
    - at full context, each strand's LL(ref_seq, |left|) against the sum of ONE forward of the
      whole record (or of its reverse complement) over [a, a + |R| + D): a causal model's prefix
      property, derived differently from the two forwards it checks; and an SNV's dll_fwd with D
      past the end against the difference of two whole-record forwards;
    - a CHROM not in the reference and a truncated .vcf.gz are errors naming the file (and line).
    Raises AssertionError on any mismatch."""
    import tempfile
    torch = model.torch
    config = {"vocab": "dna", "d_model": 16, "n_heads": 4, "n_kv_heads": 2, "head_dim": 4,
              "mlp_hidden": 24, "norm_eps": 1e-5, "rope_theta": 10000.0, "causal": True,
              "blocks": [{"mixer": "attention"}, {"mixer": "window", "window": 7},
                         {"mixer": "local", "group": 16}]}
    gen = torch.Generator().manual_seed(seed)
    w = model.random_weights(config, gen)
    bos = model.specials(config)[0]
    seqs = {name: "".join(DNA[i] for i in torch.randint(0, 4, (n,), generator=gen).tolist())
            for name, n in (("c1", 70), ("c2", 45))}
    seqs["c1"] = seqs["c1"][:30] + "R" + seqs["c1"][31:]
    other = lambda b: "ACGT"[("ACGT".index(b) + 1) % 4]
    c1, c2 = seqs["c1"], seqs["c2"]
    lines = [  # (chrom, pos, ref, alt, expected statuses per ALT)
        ("c1", 1, c1[0], other(c1[0]), ["ok"]),
        ("c1", 5, c1[4:9].lower(), c1[4] + "," + other(c1[4]) + "GA", ["ok", "ok"]),
        ("c1", 12, c1[11], c1[11] + "TTAC,*", ["ok", "skipped_symbolic"]),
        ("c1", 31, "N", "A", ["ok"]),
        ("c1", 40, other(c1[39]), "A", ["ref_mismatch"]),
        ("c1", 44, c1[43], "<DEL>", ["skipped_symbolic"]),
        ("c1", 46, c1[45], ".", ["skipped_symbolic"]),
        ("c1", 48, c1[47], c1[47] + "[c2:3[", ["skipped_symbolic"]),
        ("c1", 50, c1[49], "." + c1[49], ["skipped_symbolic"]),
        ("c1", 52, c1[51], c1[51] + "XG", ["skipped_allele"]),
        ("c1", 69, c1[68:70], c1[68], ["ok"]),
        ("c2", 44, c2[43:45] + "A", c2[43], ["ref_mismatch"]),
        ("c2", 45, c2[44], other(c2[44]), ["ok"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        fasta = os.path.join(tmp, "ref.fa")
        with open(fasta, "w") as f:
            f.write("".join(f">{n} x\n{s}\n" for n, s in seqs.items()))
        vcf = os.path.join(tmp, "calls.vcf")
        with open(vcf, "w") as f:
            f.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
            f.write("".join(f"{c}\t{p}\t.\t{r}\t{a}\t.\t.\t.\n" for c, p, r, a, _ in lines))
        records = model.read_fasta(fasta)
        scorer = Scorer(lambda fed: model.forward(fed, config, w)[1], bos, torch)
        whole = {}
        for name, ids in records:
            for strand, x in (("fwd", ids), ("rc", revcomp(ids))):
                logp = torch.log_softmax(model.forward([bos] + x, config, w)[1][:-1], dim=-1)
                whole[name, strand] = logp[torch.arange(len(x)), torch.tensor(x)].tolist()
        x_of = dict(records)
        for downstream in (0, 6, 1000):
            rows = score(records, vcf, scorer, downstream, None, True)
            want = [s for line in lines for s in line[4]]
            got = [r["status"] for r in rows]
            if got != want:
                raise AssertionError(f"statuses {got}, expected {want}")
            for r in rows:
                if r["status"] != "ok":
                    continue
                x, a, n = x_of[r["chrom"]], r["pos"] - 1, len(r["ref"])
                for strand, start in (("fwd", a), ("rc", len(x) - (a + n))):
                    lp = whole[r["chrom"], strand]
                    expect = sum(lp[start:min(len(x), start + n + downstream)])
                    if abs(r["ll_ref_" + strand] - expect) > 1e-9 * max(1, abs(expect)):
                        raise AssertionError(f"{r['chrom']}:{r['pos']} D={downstream} {strand}: "
                                             f"LL_ref {r['ll_ref_' + strand]}, "
                                             f"one forward {expect}")
                if downstream == 1000 and len(r["alt"]) == n == 1:
                    alt_x = x[:a] + allele_ids(r["alt"]) + x[a + 1:]
                    logp = torch.log_softmax(model.forward([bos] + alt_x, config, w)[1][:-1], -1)
                    diff = logp[torch.arange(len(x)), torch.tensor(alt_x)].sum().item() - \
                        sum(whole[r["chrom"], "fwd"])
                    if abs(r["dll_fwd"] - diff) > 1e-9 * max(1, abs(diff)):
                        raise AssertionError(f"{r['chrom']}:{r['pos']}: dll_fwd {r['dll_fwd']}, "
                                             f"whole records {diff}")
        with open(vcf, "a") as f:
            f.write("c3\t2\t.\tA\tC\t.\t.\t.\n")
        try:
            score(records, vcf, scorer, 4, None, False)
            raise AssertionError("a CHROM not in the reference was accepted")
        except VariantsError as e:
            if f"line {len(lines) + 3}" not in str(e) or "c3" not in str(e):
                raise AssertionError(f"the CHROM error does not name the line: {e}")
        with open(vcf, "rb") as f:
            packed = gzip.compress(f.read())
        with open(vcf + ".gz", "wb") as f:
            f.write(packed[:len(packed) // 2])
        try:
            read_vcf(vcf + ".gz")
            raise AssertionError("a truncated .vcf.gz was read")
        except VariantsError as e:
            if vcf + ".gz" not in str(e):
                raise AssertionError(f"the truncation error does not name the file: {e}")
    print("check-variants: statuses, LL against whole-record forwards on both strands, and the "
          "input errors agree")


def add_flags(ap):
    """The variants flags, shared with model_ref.py."""
    ap.add_argument("--variants", help="variants: a VCF, plain or gzip/bgzip")
    ap.add_argument("--downstream", type=int, default=1024, help="variants: D (default 1024)")
    ap.add_argument("--context", type=int, default=None,
                    help="variants: left context C in bases (default: unlimited)")
    ap.add_argument("--rc-average", action="store_true",
                    help="variants: average with the reverse-complement strand")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    add_flags(ap)
    args = ap.parse_args()
    if args.variants is None:
        ap.error("--variants is required")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import model_ref
    return run(model_ref, args.model, args.input, args.variants, args.downstream, args.context,
               args.rc_average, args.out)


if __name__ == "__main__":
    sys.exit(main())
