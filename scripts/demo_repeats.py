"""Exact direct repeats inside one sequence, found by exact matching: every 32-mer (ACGT only)
that occurs again later in the record is paired with its next occurrence; runs of such pairs on
one diagonal (same distance, consecutive starts) are maximal repeats. Copies of a family of
three or more come out as consecutive pairs (A, B), (B, C): B and C are the later copies.
"""
import numpy as np

K = 32


def find_repeats(ids, min_length=1000):
    """[(first_start, later_start, length)] of exact repeats of >= min_length bases in `ids`
    (uint8 dna ids), first_start < later_start, sorted by later_start."""
    n = len(ids)
    if n < K + 1:
        return []
    bases = ids.astype(np.uint64) & np.uint64(3)
    code = np.zeros(n - K + 1, dtype=np.uint64)
    for j in range(K):  # 2 bits a base: a 32-mer is one uint64
        code = (code << np.uint64(2)) | bases[j:n - K + 1 + j]
    has_n = np.convolve((ids >= 4).astype(np.int32), np.ones(K, np.int32), "valid") > 0
    pos = np.flatnonzero(~has_n)
    order = np.argsort(code[pos], kind="stable")  # equal k-mers: adjacent, by position
    codes, starts = code[pos][order], pos[order]
    same = np.flatnonzero(codes[1:] == codes[:-1])
    first, dist = starts[same], starts[same + 1] - starts[same]
    o = np.lexsort((first, dist))
    first, dist = first[o], dist[o]
    out, run = [], 0
    for i in range(1, len(first) + 1):
        if i == len(first) or dist[i] != dist[run] or first[i] != first[i - 1] + 1:
            length = int(first[i - 1] - first[run]) + K
            if length >= min_length:
                out.append((int(first[run]), int(first[run] + dist[run]), length))
            run = i
    return sorted(out, key=lambda r: r[1])
