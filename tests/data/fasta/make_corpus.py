#!/usr/bin/env python3
"""Writes the FASTA corpus in this directory and expected.tsv, the answer for each file.

The answers are written by hand from MODEL.md ("Vocabularies and sequences"), not taken from the
reader. tests/unit/io/fasta_test.cc reads every file here and compares with expected.tsv; a file
without an answer fails the test. The files also seed the FASTA fuzzer.

expected.tsv columns: file, then either
  ok     <name>=<sequence as A C G T N> ... (one per record, in order)
  <code> <message>   ({file} stands for the path the reader was given)

Run it from anywhere: python3 tests/data/fasta/make_corpus.py
"""
import gzip
import io
import os
import random
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def gz(data: bytes) -> bytes:
    # mtime=0 and no file name: the same bytes on every run.
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as f:
        f.write(data)
    return out.getvalue()


GOOD = b">chr1 first record\nACGTNacgtn\nRYKMSWBDHV\n>chr2\nGGGG\n"
# 20000 random bases in 60-column lines: compresses poorly, so a cut lands mid-stream.
_rng = random.Random(11)
_bases = "".join(_rng.choice("ACGT") for _ in range(20000))
LONG = (">rand\n" + "".join(_bases[i:i + 60] + "\n" for i in range(0, 20000, 60))).encode()

CASES = [
    # Good inputs: name, bytes, expected records.
    ("good_basic.fa", GOOD, "ok chr1=ACGTNACGTNNNNNNNNNNN chr2=GGGG"),
    ("good_crlf.fa", b">chr1 desc\r\nACGT\r\nacgt\r\n\r\n>chr2\r\nNNRY\r\n",
     "ok chr1=ACGTACGT chr2=NNNN"),
    ("good_lowercase.fa", b">soft\nacgtn\nACgt\n", "ok soft=ACGTNACGT"),
    ("good_iupac.fa", b">amb\nRYKMSWBDHV\nrykmswbdhv\nA\n", "ok amb=" + "N" * 20 + "A"),
    ("good_trailing_blanks.fa", b">t\nAC  \t\nGT \t \r\n  \n\t\r\nA\t\n",
     "ok t=ACGTA"),
    ("good_no_final_newline.fa", b">x\nACGT\n>y\nTT", "ok x=ACGT y=TT"),
    ("good_repeated_names.fa", b">dup\nA\n>dup\nC\n>dup\nG\n", "ok dup=A dup=C dup=G"),
    ("good_blank_lines.fa", b"\n\r\n>a\n\nAC\n\n\nGT\n\n>b\nN\n\n", "ok a=ACGT b=N"),
    ("good_header_spacing.fa", b">\t chr1\t\tsome description\nAC\n> chr2\nG\n",
     "ok chr1=AC chr2=G"),
    ("good_header_only_name_cr.fa", b">name\r\nA\r\n", "ok name=A"),
    ("good_gzip.fa.gz", gz(GOOD), "ok chr1=ACGTNACGTNNNNNNNNNNN chr2=GGGG"),
    ("good_gzip_multimember.fa.gz", gz(b">m1\nAC") + gz(b"GT\n>m2\nNN\n"),
     "ok m1=ACGT m2=NN"),
    ("good_gzip_named.fasta", gz(b">noext\nACGT\n"), "ok noext=ACGT"),
    # Empty, blank, garbage.
    ("bad_empty.fa", b"", "invalid_argument {file}: empty file"),
    ("bad_empty.fa.gz", gz(b""), "invalid_argument {file}: empty file"),
    ("bad_blank_only.fa", b"\n  \n\t\r\n", "invalid_argument {file}: no FASTA record (only blank lines)"),
    ("bad_garbage.bin", bytes([0]) + random.Random(7).randbytes(511),
     "invalid_argument {file}:1:1: sequence before the first '>' header"),
    ("bad_sequence_before_header.fa", b"ACGT\n>r1\nACGT\n",
     "invalid_argument {file}:1:1: sequence before the first '>' header"),
    ("bad_sequence_before_header_after_blanks.fa", b"\n\nNNNN\n>r\nA\n",
     "invalid_argument {file}:3:1: sequence before the first '>' header"),
    ("bad_header_no_name.fa", b">\nACGT\n", "invalid_argument {file}:1:1: header has no name"),
    ("bad_header_blank_name.fa", b">r1\nA\n>  \t\r\nACGT\n",
     "invalid_argument {file}:3:1: header has no name"),
    ("bad_record_no_sequence.fa", b">r1\nACGT\n>r2\n\n>r3\nAC\n",
     "invalid_argument {file}:3:1: record 'r2' has no sequence"),
    ("bad_record_no_sequence_at_end.fa", b">r1\nAC\n>r2 last\n",
     "invalid_argument {file}:3:1: record 'r2' has no sequence"),
    # Invalid residues: line and column, 1-based, column in bytes.
    ("bad_digit.fa", b">r1\nACGT\nAC7T\n", "invalid_argument {file}:3:3: invalid residue '7'"),
    ("bad_gap.fa", b">aln\nAC--GT\n", "invalid_argument {file}:2:3: invalid residue '-'"),
    ("bad_protein.fa", b">prot\nMKVLE\n", "invalid_argument {file}:2:4: invalid residue 'L'"),
    ("bad_star.fa", b">r\nACGT*\n", "invalid_argument {file}:2:5: invalid residue '*'"),
    ("bad_dot.fa", b">r\nAC.GT\n", "invalid_argument {file}:2:3: invalid residue '.'"),
    ("bad_rna.fa", b">rna\nACGU\n", "invalid_argument {file}:2:4: invalid residue 'U'"),
    ("bad_rna_lower.fa", b">rna\nacgu\n", "invalid_argument {file}:2:4: invalid residue 'u'"),
    ("bad_inner_space.fa", b">r\nACG TA\n", "invalid_argument {file}:2:4: invalid residue ' '"),
    ("bad_inner_tab.fa", b">r\nACG\t\tTA\n", "invalid_argument {file}:2:4: invalid residue '\\t'"),
    ("bad_leading_space.fa", b">r\n ACGT\n", "invalid_argument {file}:2:1: invalid residue ' '"),
    ("bad_inner_cr.fa", b">r\nAC\rGT\n", "invalid_argument {file}:2:3: invalid residue '\\r'"),
    ("bad_double_cr.fa", b">r\nACGT\r\r\n", "invalid_argument {file}:2:5: invalid residue '\\r'"),
    ("bad_cr_then_space.fa", b">r\nACGT\r \n", "invalid_argument {file}:2:5: invalid residue '\\r'"),
    ("bad_utf8.fa", b">r\nAC\xc3\xa9GT\n", "invalid_argument {file}:2:3: invalid residue '\\xC3'"),
    ("bad_nul.fa", b">r\nACGT\nA\x00\n", "invalid_argument {file}:3:2: invalid residue '\\x00'"),
    ("bad_gt_inside_line.fa", b">r\nAC>GT\n", "invalid_argument {file}:2:3: invalid residue '>'"),
    ("bad_semicolon_comment.fa", b">r\nAC\n;comment\n", "invalid_argument {file}:3:1: invalid residue ';'"),
    ("bad_residue_in_gzip.fa.gz", gz(b">z\nACGT\nACGX\n"),
     "invalid_argument {file}:3:4: invalid residue 'X'"),
    # Broken gzip.
    ("bad_truncated_trailer.fa.gz", gz(LONG)[:-4],
     "data_loss {file}: gzip data ends early (truncated file?) after " + str(len(LONG)) +
     " decompressed bytes"),
    ("bad_truncated_header.fa.gz", gz(GOOD)[:5],
     "data_loss {file}: gzip data ends early (truncated file?) after 0 decompressed bytes"),
    ("bad_gzip_trailing_garbage.fa.gz", gz(b">g\nAC\n") + b"junk",
     "data_loss {file}: garbage after gzip data at compressed byte " + str(len(gz(b">g\nAC\n")))),
]


def truncated_case():
    # Cut inside the deflate data; Python's zlib says how much of it still inflates.
    data = gz(LONG)[:len(gz(LONG)) // 2]
    inflated = len(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data))
    return ("bad_truncated.fa.gz", data,
            "data_loss {file}: gzip data ends early (truncated file?) after " + str(inflated) +
            " decompressed bytes")


def corrupt_case():
    data = bytearray(gz(GOOD))
    data[-8] ^= 0xFF  # the CRC32 in the trailer; zlib notices once it has read those 4 bytes
    return ("bad_gzip_crc.fa.gz", bytes(data),
            "data_loss {file}: corrupt gzip data at compressed byte " + str(len(data) - 4) +
            ": incorrect data check")


def main():
    cases = CASES + [truncated_case(), corrupt_case()]
    lines = []
    for name, data, expected in cases:
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        code, _, rest = expected.partition(" ")
        lines.append(f"{name}\t{code}\t{rest}\n")
    with open(os.path.join(HERE, "expected.tsv"), "w") as f:
        f.write("# file\tok|code\trecords (name=sequence ...) or message ({file} = path)\n")
        f.writelines(lines)


if __name__ == "__main__":
    main()
