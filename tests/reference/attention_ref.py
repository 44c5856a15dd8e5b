#!/usr/bin/python3
"""attention_ref.py: an independent float64 PyTorch oracle for attention/attend_block.

Written from MODEL.md ("attention, window and local mixers"), not from the C++ kernel, so the two
can only agree by both being right. It builds the full [n_heads, q_len, kv_len] score matrix in
float64 (no tiling, no online softmax) and returns the output and the natural-log log-sum-exp.

Usage:
  /usr/bin/python3 attention_ref.py CASES_DIR   every CASES_DIR/case_*/ holding q.npy k.npy v.npy
                                                q_pos.npy k_pos.npy q_seq.npy k_seq.npy mask.json
                                                gets out.npy [q_len, n_heads, head_dim] and
                                                lse.npy [q_len, n_heads] (float64)
  /usr/bin/python3 attention_ref.py --self-test checks the oracle against a per-row loop
All cases load in one process because importing torch takes seconds.
"""

import argparse
import json
import math
import pathlib
import random
import sys

import numpy as np
import torch


def hidden_mask(q_pos, k_pos, q_seq, k_seq, causal, window, group):
    """[q_len, kv_len] bool, True where MODEL.md hides key s from query p."""
    p = q_pos[:, None]
    s = k_pos[None, :]
    hidden = q_seq[:, None] != k_seq[None, :]  # another sequence is always hidden
    if causal:
        hidden = hidden | (s > p)
    if window > 0:
        if causal:
            hidden = hidden | (p - s >= window)
        else:
            hidden = hidden | ((p - s).abs() >= window)
    if group > 0:
        p_group = torch.div(p, group, rounding_mode="floor")
        s_group = torch.div(s, group, rounding_mode="floor")
        hidden = hidden | (p_group != s_group)
    return hidden


def reference_attention(q, k, v, q_pos, k_pos, q_seq, k_seq, causal=False, window=0, group=0):
    """Exact masked softmax attention in float64.

    q: [q_len, n_heads, head_dim]; k, v: [kv_len, n_kv_heads, head_dim]; positions int64 and
    sequence ids int32 (or any integer type), one per token. Query head h reads kv head
    h // (n_heads // n_kv_heads). Returns (out [q_len, n_heads, head_dim],
    lse [q_len, n_heads]); a row whose keys are all hidden has out = 0 and lse = -inf.
    """
    q = q.to(torch.float64)
    k = k.to(torch.float64)
    v = v.to(torch.float64)
    q_len, n_heads, head_dim = q.shape
    kv_len, n_kv_heads, _ = k.shape
    if n_heads % n_kv_heads != 0:
        raise ValueError(f"n_heads {n_heads} is not a multiple of n_kv_heads {n_kv_heads}")
    heads_per_kv = n_heads // n_kv_heads
    # Expanding kv heads spells out the GQA rule: query head h uses kv head h // heads_per_kv.
    k = k.repeat_interleave(heads_per_kv, dim=1)
    v = v.repeat_interleave(heads_per_kv, dim=1)

    scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim)
    hidden = hidden_mask(q_pos.to(torch.int64), k_pos.to(torch.int64), q_seq.to(torch.int64),
                         k_seq.to(torch.int64), causal, window, group)
    scores = scores.masked_fill(hidden[None, :, :], -math.inf)
    lse = torch.logsumexp(scores, dim=-1)  # [n_heads, q_len]; -inf on fully hidden rows
    # exp(score - lse) is the softmax; rows with lse = -inf would give nan, so they get 0.
    safe_lse = torch.where(torch.isinf(lse), torch.zeros_like(lse), lse)
    probs = torch.exp(scores - safe_lse[:, :, None])
    probs = torch.where(torch.isinf(lse)[:, :, None], torch.zeros_like(probs), probs)
    out = torch.einsum("hqk,khd->qhd", probs, v)
    return out, lse.transpose(0, 1).contiguous()


def run_case(case_dir):
    def load(name):
        return torch.from_numpy(np.load(case_dir / name))

    mask = json.loads((case_dir / "mask.json").read_text())
    out, lse = reference_attention(
        load("q.npy"), load("k.npy"), load("v.npy"), load("q_pos.npy"), load("k_pos.npy"),
        load("q_seq.npy"), load("k_seq.npy"), causal=bool(mask.get("causal", False)),
        window=int(mask.get("window", 0)), group=int(mask.get("group", 0)))
    # C order always: einsum may hand back a Fortran-ordered view, which the C++ reader rejects.
    np.save(case_dir / "out.npy", np.ascontiguousarray(out.numpy(), dtype=np.float64))
    np.save(case_dir / "lse.npy", np.ascontiguousarray(lse.numpy(), dtype=np.float64))


def naive_attention(q, k, v, q_pos, k_pos, q_seq, k_seq, causal, window, group):
    """The same maths one (query, head) row at a time in plain Python floats, for --self-test."""
    q_len, n_heads, head_dim = q.shape
    kv_len, n_kv_heads, _ = k.shape
    out = np.zeros((q_len, n_heads, head_dim))
    lse = np.full((q_len, n_heads), -math.inf)
    for i in range(q_len):
        for h in range(n_heads):
            g = h // (n_heads // n_kv_heads)
            p = int(q_pos[i])
            scores = []
            for j in range(kv_len):
                s = int(k_pos[j])
                hide = int(q_seq[i]) != int(k_seq[j])
                hide = hide or (causal and s > p)
                if window > 0:
                    hide = hide or (p - s >= window) or (not causal and s - p >= window)
                if group > 0:
                    hide = hide or (s // group != p // group)
                if not hide:
                    dot = sum(float(q[i, h, d]) * float(k[j, g, d]) for d in range(head_dim))
                    scores.append((dot / math.sqrt(head_dim), j))
            if not scores:
                continue
            top = max(sc for sc, _ in scores)
            total = sum(math.exp(sc - top) for sc, _ in scores)
            lse[i, h] = top + math.log(total)
            for sc, j in scores:
                weight = math.exp(sc - lse[i, h])
                for d in range(head_dim):
                    out[i, h, d] += weight * float(v[j, g, d])
    return out, lse


def self_test():
    rng = random.Random(7)
    gen = torch.Generator().manual_seed(7)
    masks = [(False, 0, 0), (True, 0, 0), (True, 3, 0), (False, 2, 0), (True, 0, 3),
             (False, 0, 2), (True, 4, 2), (False, 3, 4)]
    failures = 0
    checked = 0
    for causal, window, group in masks:
        for n_heads, n_kv_heads in [(1, 1), (4, 2), (4, 1)]:
            q_len, kv_len, head_dim = rng.randint(1, 6), rng.randint(1, 7), rng.choice([1, 3, 8])
            q = torch.randn(q_len, n_heads, head_dim, generator=gen, dtype=torch.float64) * 2
            k = torch.randn(kv_len, n_kv_heads, head_dim, generator=gen, dtype=torch.float64)
            v = torch.randn(kv_len, n_kv_heads, head_dim, generator=gen, dtype=torch.float64)
            # Small position ranges and two sequences make every mask rule fire somewhere,
            # including rows with no visible key at all.
            q_pos = torch.tensor([rng.randint(0, 8) for _ in range(q_len)], dtype=torch.int64)
            k_pos = torch.tensor([rng.randint(0, 8) for _ in range(kv_len)], dtype=torch.int64)
            q_seq = torch.tensor([rng.randint(0, 1) for _ in range(q_len)], dtype=torch.int32)
            k_seq = torch.tensor([rng.randint(0, 1) for _ in range(kv_len)], dtype=torch.int32)
            args = (q, k, v, q_pos, k_pos, q_seq, k_seq, causal, window, group)
            out, lse = reference_attention(*args)
            want_out, want_lse = naive_attention(*(a.numpy() if torch.is_tensor(a) else a
                                                   for a in args))
            same_inf = np.array_equal(np.isinf(lse.numpy()), np.isinf(want_lse))
            finite = np.isfinite(want_lse)
            lse_err = float(np.max(np.abs(lse.numpy()[finite] - want_lse[finite]), initial=0.0))
            out_err = float(np.max(np.abs(out.numpy() - want_out), initial=0.0))
            # Where some key is visible, the output must also equal torch's own softmax.
            scores = torch.einsum("qhd,khd->hqk", q,
                                  k.repeat_interleave(n_heads // n_kv_heads, dim=1))
            hidden = hidden_mask(q_pos, k_pos, q_seq.long(), k_seq.long(), causal, window, group)
            probs = torch.softmax(
                (scores / math.sqrt(head_dim)).masked_fill(hidden[None], -math.inf), dim=-1)
            soft_out = torch.einsum("hqk,khd->qhd", probs,
                                    v.repeat_interleave(n_heads // n_kv_heads, dim=1))
            visible = torch.from_numpy(finite)[:, :, None].expand_as(out)
            soft_err = float((out - soft_out)[visible].abs().max()) if visible.any() else 0.0
            checked += 1
            if not same_inf or lse_err > 1e-12 or out_err > 1e-12 or soft_err > 1e-12:
                failures += 1
                print(f"self-test FAILED causal={causal} window={window} group={group} "
                      f"heads={n_heads}/{n_kv_heads} q_len={q_len} kv_len={kv_len}: "
                      f"same_inf={same_inf} lse_err={lse_err:.3g} out_err={out_err:.3g} "
                      f"softmax_err={soft_err:.3g}", file=sys.stderr)
    print(f"self-test: {checked - failures}/{checked} cases agree")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases_dir", nargs="?", type=pathlib.Path)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if args.cases_dir is None:
        parser.error("CASES_DIR is required unless --self-test")
    cases = sorted(d for d in args.cases_dir.glob("case_*") if (d / "q.npy").exists())
    if not cases:
        print(f"attention_ref.py: no case_*/q.npy under {args.cases_dir}", file=sys.stderr)
        return 1
    for case_dir in cases:
        run_case(case_dir)
    print(f"attention_ref.py: {len(cases)} cases written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
