#!/usr/bin/python3
"""Writes the demo's FASTA input: four records ("chromosomes") of random bases with a fixed seed,
of different lengths that add up to --bases, wrapped at 60 columns, with a few soft-masked
(lower-case) stretches and N runs as real assemblies have."""
import argparse
import random


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bases", type=int, default=1 << 20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    shares = [0.4, 0.3, 0.2, 0.1]
    lengths = [int(args.bases * s) for s in shares]
    lengths[0] += args.bases - sum(lengths)
    with open(args.out, "w") as out:
        for i, n in enumerate(lengths):
            seq = rng.choices("ACGT", k=n)
            for _ in range(n // 50000):  # soft-masked repeats and assembly gaps
                start = rng.randrange(n)
                for j in range(start, min(n, start + 300)):
                    seq[j] = seq[j].lower()
                start = rng.randrange(n)
                for j in range(start, min(n, start + 100)):
                    seq[j] = "N"
            out.write(">chr%d demo record %d bases\n" % (i + 1, n))
            text = "".join(seq)
            out.write("\n".join(text[j:j + 60] for j in range(0, n, 60)))
            out.write("\n")


if __name__ == "__main__":
    main()
