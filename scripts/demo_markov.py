"""The baseline the trained model must beat: an order-4 Markov model of bases (k-mer counts
with add-one smoothing) fitted on the training records,
    p(b | c) = (count(c b) + 1) / (count(c) + 4),   c the 4 bases before b.
Defined at positions >= 4 whose base and context are all ACGT; the comparison uses exactly
those positions for both models.
"""
import numpy as np

ORDER = 4


def _codes(ids):
    """5-mer codes (context then base, 2 bits a base) at positions ORDER.., and validity."""
    n = len(ids)
    code = np.zeros(n - ORDER, dtype=np.int64)
    valid = np.ones(n - ORDER, dtype=bool)
    for j in range(ORDER + 1):
        part = ids[j:n - ORDER + j]
        code = code * 4 + (part & 3)
        valid &= part < 4
    return code, valid


def fit(records):
    """Counts [4^5] of the 5-mers in the training records."""
    counts = np.zeros(4 ** (ORDER + 1), dtype=np.int64)
    for _, ids in records:
        code, valid = _codes(ids)
        counts += np.bincount(code[valid], minlength=counts.size)
    return counts


def bits(counts, ids):
    """(-log2 p per position of `ids` [n] (NaN where undefined), mask of defined positions)."""
    code, valid = _codes(ids)
    joint = counts + 1
    context = counts.reshape(-1, 4).sum(axis=1) + 4
    out = np.full(len(ids), np.nan)
    p = joint[code] / context[code // 4]
    out[ORDER:] = np.where(valid, -np.log2(p), np.nan)
    return out, ~np.isnan(out)
