"""Inputs as ringmaster reads them (MODEL.md "Vocabularies and sequences"): FASTA records to dna
token ids, text to byte ids, so that training data and a `ringmaster run` input agree.

FASTA rules: a CR before LF and trailing spaces/tabs are dropped, blank lines skipped, gzip
read the same; `>name ...` opens a record (name: the first word); sequence letters are
upper-cased, IUPAC R Y K M S W B D H V become N; anything else is an error naming the file,
line and byte column. A record is an independent sequence.
"""
import gzip

import numpy as np

DNA_IDS = {"A": 0, "C": 1, "G": 2, "T": 3, "N": 4}
BAD = 255

# One lookup table over bytes: ACGTN and IUPAC codes in either case, BAD for the rest.
_TABLE = np.full(256, BAD, dtype=np.uint8)
for _letter, _id in list(DNA_IDS.items()) + [(c, 4) for c in "RYKMSWBDHV"]:
    _TABLE[ord(_letter)] = _TABLE[ord(_letter.lower())] = _id


def read_fasta(path):
    """[(name, uint8 ids [n])] in file order. Raises ValueError("path:line:column: ...")."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return parse_fasta(raw, path)


def parse_fasta(raw, path):
    """read_fasta of the bytes `raw` (already decompressed); `path` names them in errors."""
    if not raw:
        raise ValueError("%s: empty file" % path)
    records, parts = [], None
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        line = line.rstrip(b" \t")
        if not line:
            continue
        if line[:1] == b">":
            words = line[1:].split()
            if not words:
                raise ValueError("%s:%d: a header with no name" % (path, number))
            _close(records, parts, path)
            parts = (words[0].decode("utf-8", "replace"), [], number)
            continue
        if parts is None:
            raise ValueError("%s:%d: sequence before the first header" % (path, number))
        ids = _TABLE[np.frombuffer(line, dtype=np.uint8)]
        bad = np.flatnonzero(ids == BAD)
        if len(bad):
            raise ValueError("%s:%d:%d: %r is not a base" % (path, number, bad[0] + 1,
                                                             line[bad[0]:bad[0] + 1].decode(
                                                                 "latin-1")))
        parts[1].append(ids)
    _close(records, parts, path)
    if not records:
        raise ValueError("%s: no records" % path)
    return records


def _close(records, parts, path):
    if parts is None:
        return
    name, chunks, line = parts
    if not chunks:
        raise ValueError("%s:%d: record %s has no sequence" % (path, line, name))
    records.append((name, np.concatenate(chunks)))


def read_text(path):
    """The file's raw bytes as ids [n] (bytes vocabulary: one sequence)."""
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8).copy()


def write_fasta(path, records, width=80):
    """Writes [(name, ids)] (ids 0..4) as FASTA, `width` bases a line."""
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)
    with open(path, "w") as f:
        for name, ids in records:
            seq = letters[np.asarray(ids)].tobytes().decode()
            f.write(">%s\n" % name)
            for i in range(0, len(seq), width):
                f.write(seq[i:i + width] + "\n")
