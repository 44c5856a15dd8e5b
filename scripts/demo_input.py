#!/usr/bin/python3
"""Writes the demo's FASTA input: the first --bases bases of the held-out genome's chromosome
(scripts/demo_data.py: NTUH-K2044, AP006725.1, which the trained demo model never saw), as one
record. Its first 1,048,576 bases hold seven later copies of exact repeats of >= 1 kb."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import demo_data  # noqa: E402
from ringmaster_torch.tokens import write_fasta  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bases", type=int, default=1 << 20)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    name, ids = demo_data.records(demo_data.HELD_OUT)[0]
    if args.bases > len(ids):
        raise SystemExit("--bases %d: %s has %d bases" % (args.bases, name, len(ids)))
    write_fasta(args.out, [("%s:1-%d" % (name, args.bases), ids[:args.bases])])


if __name__ == "__main__":
    main()
