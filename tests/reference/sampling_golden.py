#!/usr/bin/env python3
"""Prints the golden table of tests/unit/model/sampling_test.cc: the token and log-prob that
generate_ref.choose (the Python reference's sampling rule) picks for fixed logit rows, settings
and (seed, record, step). Run from the repository root:

    /usr/bin/python3 tests/reference/sampling_golden.py

Rows (each value exact in fp32, so the C++ test feeds the same logits):
  0  dna, <bos> and <pad> the largest: only the mask keeps them out
  1  dna, <eos> competitive: drawn unless --ignore-eos
  2  bytes, value ((37 j) mod 101) / 16 - 3: ties of three ids at the top-4 cut
  3  dna, two ids at 2 and three at 1: top-3 keeps one of the 1s, the lowest id
Every u of the table is at least 1e-5 from a cumulative sum, so rounding cannot move a pick.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate_ref import choose  # noqa: E402

ROWS = [[0.5, 1.25, -0.75, 1.0, 0.25, 3.0, -1.5, 2.5],
        [0.5, 1.25, -0.75, 1.0, 0.25, 3.0, 1.5, 2.5],
        [((j * 37) % 101) / 16.0 - 3.0 for j in range(259)],
        [1.0, 2.0, 1.0, 2.0, 1.0, 0.0, 0.0, 0.0]]
DRAWS = ((0, 0, 0), (42, 3, 17), (7, 1, 5), (2**64 - 1, 2, 9), (5, 0, 1), (9, 4, 2))
# (row, ignore_eos, [(temperature, top_k)], how many of DRAWS)
CASES = ((0, False, [(0.7, 0), (1.0, 2), (2.5, 3), (1.0, 0)], 4),
         (1, False, [(0.7, 0), (1.0, 2), (2.5, 3), (1.0, 0)], 4),
         (1, True, [(0.7, 0), (1.0, 2), (2.5, 3), (1.0, 0)], 4),
         (2, False, [(1.0, 0), (0.5, 4)], 6),
         (3, False, [(1.0, 3), (3.0, 3)], 6))

for row, ignore_eos, settings, num_draws in CASES:
    first = 256 if row == 2 else 5  # <bos>; <eos> and <pad> follow
    masked = {first, first + 2} | ({first + 1} if ignore_eos else set())
    for temperature, top_k in settings:
        for seed, r, s in DRAWS[:num_draws]:
            token, log_prob, _ = choose(ROWS[row], masked, temperature, top_k, seed, r, s)
            print(f"    {{{row}, {str(ignore_eos).lower()}, {temperature}, {top_k}, {seed}u, {r}, "
                  f"{s}, {token}, {log_prob!r}}},")
