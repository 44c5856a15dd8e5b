"""The genomes the trained demo model learns from and is judged on: Klebsiella pneumoniae
sequences that Debian packages ship (no download at run time).

    training   kleborate-examples: HS11286, Kp1084, MGH 78578 (complete genomes and plasmids)
               kaptive-example: four draft assemblies (SPAdes contigs)
    held out   kleborate-examples: NTUH-K2044, both records (AP006725.1, the 5.25 Mb
               chromosome with 12 exact repeats of >= 1 kb; AP006726.1, its plasmid)

Every record is a separate sequence, as ringmaster treats FASTA records.
"""
import gzip
import lzma
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from ringmaster_torch.tokens import parse_fasta  # noqa: E402

KLEBORATE = "/usr/share/doc/kleborate/examples/data"
KAPTIVE = "/usr/share/doc/kaptive/examples"
TRAIN = [os.path.join(KLEBORATE, f) for f in ("Klebs_HS11286.fna.xz", "Klebs_Kp1084.fna.xz",
                                              "MGH78578.fna.xz")]
TRAIN += [os.path.join(KAPTIVE, f) for f in ("exact_match.fasta.gz", "fragmented_assembly.fasta.gz",
                                             "inexact_match.fasta.gz", "very_poor_match.fasta.gz")]
HELD_OUT = [os.path.join(KLEBORATE, "NTUH-K2044.fna.xz")]
PACKAGES = "kleborate-examples kaptive-example"


def read_genome(path):
    """[(name, uint8 ids)] of a .fna.xz, .fasta.gz or plain FASTA file."""
    if not os.path.exists(path):
        raise SystemExit("%s is missing: install %s (scripts/bootstrap does)" % (path, PACKAGES))
    opener = lzma.open if path.endswith(".xz") else gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return parse_fasta(f.read(), path)


def records(paths):
    return [record for path in paths for record in read_genome(path)]


def plant_repeat(window, rng, min_gap=600):
    """Copies window[s:s+n] over window[t:t+n], t >= s + n + min_gap, in place: a repeat that
    the 512-base local context cannot see. Returns (s, t, n)."""
    L = len(window)
    n = int(rng.integers(64, min(600, L // 4) + 1))
    s = int(rng.integers(0, L - 2 * n - min_gap + 1))
    t = int(rng.integers(s + n + min_gap, L - n + 1))
    window[t:t + n] = window[s:s + n]
    return s, t, n
