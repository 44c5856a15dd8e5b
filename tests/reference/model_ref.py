#!/usr/bin/env python3
"""Independent float64 reference of MODEL.md's forward pass, the oracle for ringmaster runs.

Written from ../shared/design/MODEL.md, not from the C++: every tensor is widened to float64 and
each sequence (record) runs alone, start to end, with full masked attention matrices. It reads
the same model directory (config.json + weights.safetensors, parsed here with numpy only) and
the same FASTA or text input, and writes embeddings.npy or scores.npy.

    /usr/bin/python3 model_ref.py --model DIR --input FILE --task embed|score --out DIR
        [--pool mean] [--text] [--check-grad]
    /usr/bin/python3 model_ref.py --model DIR --input FILE --task mixer --out DIR
        block 0's mixer alone on RMSNorm(embed): mixer.npy [stream rows, <bos> included]
    /usr/bin/python3 model_ref.py --check-grad
        the ATLAS gradient (autograd) against the closed form and finite differences
    /usr/bin/python3 model_ref.py --task generate --model DIR --input FILE --max-new-tokens N
        [--temperature T] [--top-k K] [--seed S] [--ignore-eos] --out DIR
        MODEL.md "generate" per record, a full forward per step (generate_ref.py):
        generate.json {"records": [{"name", "prompt_length", "tokens" (a final <eos> left out),
        "log_likelihood", "stop": "eos"|"length", "tie_step": the first step whose two largest
        masked logits are within 1e-4, or null, "log_probs": per token and a final <eos>}]}
    /usr/bin/python3 model_ref.py --task variants --model DIR --input REF.fa --variants VCF
        [--downstream D] [--context C] [--rc-average] --out DIR
        MODEL.md "variants", two full forwards per ALT (variants_ref.py): variants_ref.tsv
    /usr/bin/python3 model_ref.py --check-generate
        the generate loop against one forward of its own output (a random attention model)
    /usr/bin/python3 model_ref.py --check-variants
        the variants oracle against whole-record forwards, its statuses and input errors
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys

import numpy as np
import torch

import generate_ref
import variants_ref

torch.set_default_dtype(torch.float64)

DNA = {"A": 0, "C": 1, "G": 2, "T": 3, "N": 4}
IUPAC_N = set("RYKMSWBDHV")


# ---------------------------------------------------------------------------------------------
# Model directory

def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = body[begin:end]
        if entry["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif entry["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif entry["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32).astype(np.float64)
        else:
            raise ValueError(f"{path}: {name}: dtype {entry['dtype']}")
        tensors[name] = torch.from_numpy(arr.reshape(entry["shape"]).copy())
    return tensors


def load_model(directory):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    weights = load_safetensors(os.path.join(directory, "weights.safetensors"))
    return config, weights


# ---------------------------------------------------------------------------------------------
# Inputs: a list of (name, token ids without <bos>)

def read_fasta(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    records = []
    for line in raw.split(b"\n"):
        line = line.rstrip(b"\r").rstrip(b" \t")
        if not line:
            continue
        if line.startswith(b">"):
            records.append((line[1:].split()[0].decode(), []))
            continue
        for ch in line.decode().upper():
            records[-1][1].append(DNA["N"] if ch in IUPAC_N else DNA[ch])
    return records


def read_text(path):
    with open(path, "rb") as f:
        return [(os.path.basename(path), list(f.read()))]


# ---------------------------------------------------------------------------------------------
# Layers

def rms_norm(x, g, eps):
    return x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * g


def silu(z):
    return z / (1 + torch.exp(-z))


def mlp(x, w, prefix):
    return (silu(x @ w[prefix + ".w_gate"].T) * (x @ w[prefix + ".w_up"].T)) @ w[prefix + ".w_down"].T


def rope(x, pos, theta):
    """x: [L, heads, hd]; pos: [L] float64 positions; rotate-half."""
    hd = x.shape[-1]
    half = hd // 2
    j = torch.arange(half, dtype=torch.float64)
    freq = theta ** (-2.0 * j / hd)
    angle = pos[:, None] * freq[None, :]
    cos, sin = torch.cos(angle)[:, None, :], torch.sin(angle)[:, None, :]
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


# Query rows per block of attn: bounds the score matrices' size, and lets a block skip the keys
# that none of its rows sees (they would add exp(-inf) = 0), so a window or a local group costs
# its band and a causal mask half: generate runs a full forward per step.
ATTN_ROWS = 128


def attn(xq, xkv, w, prefix, cfg, hidden=None, q_pos=None, k_pos=None):
    """MODEL.md's Attn. hidden: [Lq, Lk] bool (True = -inf), or None. Positions enable rope.
    A query row that sees no key gets 0."""
    H, HK, hd = cfg["n_heads"], cfg["n_kv_heads"], cfg["head_dim"]
    q = (xq @ w[prefix + ".wq"].T).reshape(xq.shape[0], H, hd)
    k = (xkv @ w[prefix + ".wk"].T).reshape(xkv.shape[0], HK, hd)
    v = (xkv @ w[prefix + ".wv"].T).reshape(xkv.shape[0], HK, hd)
    if q_pos is not None:
        q = rope(q, q_pos, cfg["rope_theta"])
        k = rope(k, k_pos, cfg["rope_theta"])
    group = H // HK
    out = torch.zeros(xq.shape[0], H * hd)
    for a in range(0, xq.shape[0], ATTN_ROWS):
        b = min(xq.shape[0], a + ATTN_ROWS)
        lo, hi = 0, xkv.shape[0]
        if hidden is not None:
            seen = (~hidden[a:b]).any(dim=0).nonzero()
            if len(seen) == 0:
                continue
            lo, hi = seen[0].item(), seen[-1].item() + 1
        for h in range(H):
            s = q[a:b, h, :] @ k[lo:hi, h // group, :].T / math.sqrt(hd)
            if hidden is not None:
                s = s.masked_fill(hidden[a:b, lo:hi], float("-inf"))
            m = s.max(dim=-1, keepdim=True).values
            m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
            p = torch.exp(s - m)
            denom = p.sum(dim=-1, keepdim=True)
            denom = torch.where(denom == 0, torch.ones_like(denom), denom)
            out[a:b, h * hd:(h + 1) * hd] = (p @ v[lo:hi, h // group, :]) / denom
    return out @ w[prefix + ".wo"].T


def seq_mask(kind, block, causal, L):
    p = torch.arange(L)[:, None]
    s = torch.arange(L)[None, :]
    hidden = torch.zeros(L, L, dtype=torch.bool)
    if causal:
        hidden |= s > p
    if kind == "window":
        wnd = block["window"]
        hidden |= (p - s >= wnd) if causal else ((p - s).abs() >= wnd)
    if kind == "local":
        hidden |= (s // block["group"]) != (p // block["group"])
    return hidden


# ---------------------------------------------------------------------------------------------
# fit mixer

def fit_mixer(h, lat, i, block, cfg, w):
    eps, causal = cfg["norm_eps"], cfg["causal"]
    n, m = block["group"], block["latents"]
    L = h.shape[0]
    G = (L + n - 1) // n
    pre = f"blocks.{i}"
    # READ: each group's latents attend to that group's tokens (no mask, no rope).
    new_lat = lat.clone()
    for g in range(G):
        hg = h[g * n:(g + 1) * n]
        new_lat[g] = lat[g] + attn(rms_norm(lat[g], w[pre + ".read.norm_q"], eps),
                                   rms_norm(hg, w[pre + ".read.norm_kv"], eps), w, pre + ".read", cfg)
    lat = new_lat
    # GLOBAL: over all G*m latents, rope at the group index, chunk-causal in causal models.
    flat = lat.reshape(G * m, -1)
    grp = torch.arange(G).repeat_interleave(m)
    hidden = (grp[None, :] > grp[:, None]) if causal else None
    pos = grp.to(torch.float64)
    for j in range(block["global_layers"]):
        gp = f"{pre}.global.{j}"
        xn = rms_norm(flat, w[gp + ".norm1"], eps)
        flat = flat + attn(xn, xn, w, gp + ".attn", cfg, hidden, pos, pos)
        flat = flat + mlp(rms_norm(flat, w[gp + ".norm2"], eps), w, gp + ".mlp")
    lat = flat.reshape(G, m, -1)
    # WRITE: tokens of group g read src[g] (lat[g-1] when causal; zero rows for g = 0).
    out = torch.zeros_like(h)
    for g in range(G):
        if causal and g == 0:
            continue
        src = lat[g - 1] if causal else lat[g]
        hg = h[g * n:(g + 1) * n]
        out[g * n:(g + 1) * n] = attn(rms_norm(hg, w[pre + ".write.norm_q"], eps),
                                      rms_norm(src, w[pre + ".write.norm_kv"], eps), w,
                                      pre + ".write", cfg)
    return out, lat


# ---------------------------------------------------------------------------------------------
# atlas mixer

def l2norm(u):
    return u / torch.clamp(u.norm(dim=-1, keepdim=True), min=1e-6)


# The memory functions below take one head ([n, ...] rows, W [out, in]) or every head at once
# (a leading head axis on rows and weights): the heads never mix, and one batched call per chunk
# instead of one per head keeps generate's forward-per-step fast.

def features(u, degree):
    if degree == 1:
        return u
    outer = (u[..., :, None] * u[..., None, :]).reshape(*u.shape[:-1], -1) / math.sqrt(2)
    return torch.cat([u, outer], dim=-1)


def memory(W1, W2, u):
    """M(u) = W2 silu(W1 u) for rows u."""
    return silu(u @ W1.transpose(-1, -2)) @ W2.transpose(-1, -2)


def omega_loss(W1, W2, phi_k, v, weight):
    """sum_i weight_i |M(phi_k_i) - v_i|^2 (sum of squares; no 1/2, no mean)."""
    return (weight * ((memory(W1, W2, phi_k) - v) ** 2).sum(dim=-1)).sum()


def chunk_loss(W1, W2, phi_k, v, gamma, c0, c1, win):
    """MODEL.md's L_C, literally: the sum over t in [c0, c1) of the sum over
    i in [max(0, t - win + 1), t] of gamma_i |M(phi_k_i) - v_i|^2 (the double sum as one matrix
    product: sees[t, i] is 1 where i is in t's window), summed over the heads.
    phi_k [H, L, d_phi], v [H, L, hd], gamma [H, L]: rows are the sequence's positions."""
    lo = max(0, c0 - win + 1)
    err = gamma[:, lo:c1] * ((memory(W1, W2, phi_k[:, lo:c1]) - v[:, lo:c1]) ** 2).sum(dim=-1)
    t = torch.arange(c0, c1)[:, None]
    i = torch.arange(lo, c1)[None, :]
    sees = ((i >= t - win + 1) & (i <= t)).to(err.dtype)
    return (err @ sees.T).sum()


def autograd(loss_fn, W1, W2):
    """The exact gradient of loss_fn(W1, W2) w.r.t. (W1, W2) by torch.autograd, in float64:
    MODEL.md's GRAD is never derived by hand here."""
    with torch.enable_grad():
        A1 = W1.detach().clone().requires_grad_(True)
        A2 = W2.detach().clone().requires_grad_(True)
        return torch.autograd.grad(loss_fn(A1, A2), (A1, A2))


def omega_grad(W1, W2, phi_k, v, weight):
    """The gradient of omega_loss by autograd."""
    return autograd(lambda a, b: omega_loss(a, b, phi_k, v, weight), W1, W2)


def omega_grad_closed_form(W1, W2, phi_k, v, weight):
    """The same gradient derived by hand (ALGORITHMS.md 6.8), as the C++ computes it. Used only
    by --check-grad, to cross-check autograd against an independent derivation."""
    z = phi_k @ W1.T                     # [n, hidden]
    a = silu(z)
    r = a @ W2.T - v                     # [n, hd]
    dr = 2 * weight[:, None] * r
    G2 = dr.T @ a                        # [hd, hidden]
    da = dr @ W2                         # [n, hidden]
    sig = torch.sigmoid(z)
    dz = da * (sig * (1 + z * (1 - sig)))
    G1 = dz.T @ phi_k                    # [hidden, d_phi]
    return G1, G2


def check_grad_pair(G1, G2, H1, H2, where):
    """Raises AssertionError unless (G1, G2) and (H1, H2) are finite and agree to 1e-10."""
    for name, got, want in (("G1", G1, H1), ("G2", G2, H2)):
        if not torch.isfinite(got).all() or not torch.isfinite(want).all():
            raise AssertionError(f"{where}: atlas {name} is not finite")
        err = (got - want).abs().max().item() / max(want.abs().max().item(), 1e-300)
        if err > 1e-10:
            raise AssertionError(f"{where}: atlas {name}: autograd and closed form differ by {err:.3g}")


def self_check_grad(seed=0):
    """--check-grad without a model: random problems (both feature degrees, short and long token
    sets, zero weights included): autograd against the closed form, and autograd against
    central finite differences of omega_loss (torch.autograd.gradcheck, float64)."""
    gen = torch.Generator().manual_seed(seed)
    for hd, hidden, degree, n in ((8, 16, 1, 23), (4, 6, 2, 9), (5, 3, 1, 1), (6, 10, 2, 40)):
        d_phi = hd + hd * hd if degree == 2 else hd
        W1 = torch.randn(hidden, d_phi, generator=gen) / math.sqrt(d_phi)
        W2 = torch.randn(hd, hidden, generator=gen) / math.sqrt(hidden)
        phi_k = features(l2norm(torch.randn(n, hd, generator=gen)), degree)
        v = torch.randn(n, hd, generator=gen)
        weight = 3 * torch.rand(n, generator=gen)
        weight[0] = 0
        where = f"hd={hd} hidden={hidden} degree={degree} n={n}"
        check_grad_pair(*omega_grad(W1, W2, phi_k, v, weight),
                        *omega_grad_closed_form(W1, W2, phi_k, v, weight), where)
        A1, A2 = W1.clone().requires_grad_(True), W2.clone().requires_grad_(True)
        if not torch.autograd.gradcheck(lambda a, b: omega_loss(a, b, phi_k, v, weight), (A1, A2),
                                        eps=1e-6, atol=1e-7, rtol=1e-6):
            raise AssertionError(f"{where}: autograd differs from finite differences")
    print("check-grad: autograd, closed form and finite differences agree")


def ns5(G):
    """NS5 of G [rows, cols], or of each head's G [H, rows, cols]."""
    X = G / (G.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    transposed = X.shape[-2] > X.shape[-1]
    if transposed:
        X = X.transpose(-1, -2)
    for _ in range(5):
        A = X @ X.transpose(-1, -2)
        B = -4.7750 * A + 2.0315 * A @ A
        X = 3.4445 * X + B @ X
    return X.transpose(-1, -2) if transposed else X


def atlas_mixer(h, i, block, cfg, w, check_grad=False):
    """Every head at once: tensors below carry a leading head axis e."""
    H, hd = cfg["n_heads"], cfg["head_dim"]
    pre = f"blocks.{i}.atlas"
    L = h.shape[0]
    C, win, deg = block["chunk"], block["omega_window"], block["feature_degree"]
    heads = lambda x: x.reshape(L, H, -1).transpose(0, 1)                  # [L, H*n] -> [H, L, n]
    phi_k = features(l2norm(heads(h @ w[pre + ".wk"].T)), deg)
    phi_q = features(l2norm(heads(h @ w[pre + ".wq"].T)), deg)
    v_all = heads(h @ w[pre + ".wv"].T)
    wg, bg = w[pre + ".w_gates"], w[pre + ".b_gates"]
    gamma_all = torch.sigmoid(h @ wg[3 * H:4 * H].T + bg[3 * H:4 * H]).T    # [H, L]
    y = torch.zeros(H, L, hd)
    W1, W2 = w[pre + ".w1_init"].clone(), w[pre + ".w2_init"].clone()
    S1, S2 = torch.zeros_like(W1), torch.zeros_like(W2)
    for c0 in range(0, L, C):
        c1 = min(L, c0 + C)
        hbar = h[c0:c1].mean(dim=0)
        gate = lambda g: (wg[g * H:(g + 1) * H] @ hbar + bg[g * H:(g + 1) * H])[:, None, None]
        keep = torch.sigmoid(gate(0))
        lr = torch.nn.functional.softplus(gate(1))
        mom = torch.sigmoid(gate(2))
        y[:, c0:c1] = memory(W1, W2, phi_q[:, c0:c1])
        # GRAD: autograd of the literal double sum over (t, i); the heads' losses are added, and
        # each head's gradient sees only its own.
        G1, G2 = autograd(lambda a, b: chunk_loss(a, b, phi_k, v_all, gamma_all, c0, c1, win),
                          W1, W2)
        if check_grad:
            # MODEL.md's equivalent form: token i in [lo, c1) once, with weight gamma_i n_i,
            # n_i = #{t in [c0, c1): i <= t <= i + win - 1}; gradient by the closed form.
            lo = max(0, c0 - win + 1)
            idx = torch.arange(lo, c1)
            n_i = (torch.clamp(torch.minimum(idx + win - 1, torch.tensor(c1 - 1)) -
                               torch.maximum(idx, torch.tensor(c0)) + 1, min=0)).to(torch.float64)
            for e in range(H):
                weight = gamma_all[e, lo:c1] * n_i
                check_grad_pair(G1[e], G2[e],
                                *omega_grad_closed_form(W1[e], W2[e], phi_k[e, lo:c1],
                                                        v_all[e, lo:c1], weight),
                                f"block {i} head {e} chunk at {c0}")
        S1 = mom * S1 + G1
        S2 = mom * S2 + G2
        W1 = keep * W1 - lr * ns5(S1)
        W2 = keep * W2 - lr * ns5(S2)
    return y.transpose(0, 1).reshape(L, H * hd) @ w[pre + ".wo"].T


# ---------------------------------------------------------------------------------------------
# The stack

def block_mixer(i, h, lat, config, w, check_grad=False):
    """Mixer_i(h) of block i; returns (out, the fit latent stream after it)."""
    block = config["blocks"][i]
    kind = block["mixer"]
    L = h.shape[0]
    if kind in ("attention", "window", "local"):
        pos = torch.arange(L, dtype=torch.float64)
        mask = seq_mask(kind, block, config["causal"], L)
        return attn(h, h, w, f"blocks.{i}.attn", config, mask, pos, pos), lat
    if kind == "fit":
        if lat is None:
            G = (L + block["group"] - 1) // block["group"]
            lat = w["fit.latents"][None].repeat(G, 1, 1)
        return fit_mixer(h, lat, i, block, config, w)
    if kind == "atlas":
        return atlas_mixer(h, i, block, config, w, check_grad), lat
    raise ValueError(kind)


def forward(tokens, config, w, check_grad=False):
    """tokens: ids of one sequence including <bos>. Returns (hf [L, d], logits [L, V])."""
    eps = config["norm_eps"]
    x = w["embed"][torch.tensor(tokens)]
    lat = None
    for i in range(len(config["blocks"])):
        out, lat = block_mixer(i, rms_norm(x, w[f"blocks.{i}.norm1"], eps), lat, config, w,
                               check_grad)
        x = x + out
        x = x + mlp(rms_norm(x, w[f"blocks.{i}.norm2"], eps), w, f"blocks.{i}.mlp")
    hf = rms_norm(x, w["norm"], eps)
    return hf, hf @ w["head"].T


def first_mixer(tokens, config, w, check_grad=False):
    """Block 0's mixer alone: Mixer_0(RMSNorm(embed[tokens], blocks.0.norm1)), [L, d]."""
    h = rms_norm(w["embed"][torch.tensor(tokens)], w["blocks.0.norm1"], config["norm_eps"])
    return block_mixer(0, h, None, config, w, check_grad)[0]


# ---------------------------------------------------------------------------------------------
# generate

def specials(config):
    """(<bos>, <eos>, <pad>) of the model's vocabulary."""
    first = 5 if config["vocab"] == "dna" else 256
    return first, first + 1, first + 2


def generate(records, config, w, args):
    """--task generate: each record alone (record index r in input order), a full float64
    forward of all that is fed so far at every step; generate_ref.py holds the rule."""
    if not config["causal"]:
        raise SystemExit("generate needs a causal model")
    bos, eos, pad = specials(config)
    return {"records": [
        generate_ref.generate_record(name, ids, r, lambda fed: forward(fed, config, w)[1][-1],
                                     bos, eos, pad, args.max_new_tokens, args.temperature,
                                     args.top_k, args.seed, args.ignore_eos)
        for r, (name, ids) in enumerate(records)]}


def random_weights(config, gen):
    """Random weights for a model of attention, window and local blocks (the MODEL.md names and
    shapes), scaled so that logits differ by O(1): ties within 1e-4 are then rare."""
    d, H, HK, hd, hidden = (config[k] for k in ("d_model", "n_heads", "n_kv_heads", "head_dim",
                                                "mlp_hidden"))
    V = 8 if config["vocab"] == "dna" else 259
    shapes = {"embed": [V, d], "head": [V, d], "norm": [d]}
    for i in range(len(config["blocks"])):
        shapes.update({f"blocks.{i}.norm1": [d], f"blocks.{i}.norm2": [d],
                       f"blocks.{i}.mlp.w_gate": [hidden, d], f"blocks.{i}.mlp.w_up": [hidden, d],
                       f"blocks.{i}.mlp.w_down": [d, hidden],
                       f"blocks.{i}.attn.wq": [H * hd, d], f"blocks.{i}.attn.wk": [HK * hd, d],
                       f"blocks.{i}.attn.wv": [HK * hd, d], f"blocks.{i}.attn.wo": [d, H * hd]})
    return {name: (1 + 0.1 * torch.randn(shape, generator=gen)) if len(shape) == 1
            else torch.randn(shape, generator=gen) / math.sqrt(shape[1])
            for name, shape in shapes.items()}


def self_check_generate(seed=0):
    """--check-generate without a model: splitmix64 against SplitMix64's published stream from
    state 0; then, on a random causal model of attention blocks, each generated token (greedy,
    then sampled with top-k) and its log-prob against one forward over prompt + generated
    tokens: row n + s of that forward is the definition the loop computed with a forward of its
    own per step. Raises AssertionError on any mismatch."""
    stream = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    got = [generate_ref.splitmix64(k * 0x9E3779B97F4A7C15 & generate_ref.MASK64) for k in range(3)]
    if got != stream:
        raise AssertionError(f"splitmix64: {[hex(g) for g in got]}")
    config = {"vocab": "dna", "d_model": 16, "n_heads": 4, "n_kv_heads": 2, "head_dim": 4,
              "mlp_hidden": 24, "norm_eps": 1e-5, "rope_theta": 10000.0, "causal": True,
              "blocks": [{"mixer": "attention"}, {"mixer": "window", "window": 5},
                         {"mixer": "local", "group": 8}]}
    gen = torch.Generator().manual_seed(seed)
    w = random_weights(config, gen)
    bos, eos, pad = specials(config)
    prompt = torch.randint(0, 5, (21,), generator=gen).tolist()
    for temperature, top_k in ((0.0, 0), (1.3, 3)):
        rec = generate_ref.generate_record("r", prompt, 2,
                                           lambda fed: forward(fed, config, w)[1][-1], bos, eos,
                                           pad, 16, temperature, top_k, seed=7, ignore_eos=True)
        if len(rec["tokens"]) != 16 or rec["stop"] != "length":
            raise AssertionError(f"T={temperature}: {rec}")
        logits = forward([bos] + prompt + rec["tokens"], config, w)[1]
        logp = torch.log_softmax(logits, dim=-1)
        for s, token in enumerate(rec["tokens"]):
            row = logits[len(prompt) + s].tolist()
            want = generate_ref.choose(row, {bos, eos, pad}, temperature, top_k, 7, 2, s)[0]
            if want != token and rec["tie_step"] is None:
                raise AssertionError(f"T={temperature} step {s}: generated {token}, forward {want}")
            err = abs(rec["log_probs"][s] - logp[len(prompt) + s, token].item())
            if err > 1e-9:
                raise AssertionError(f"T={temperature} step {s}: log-prob off by {err:.3g}")
        if temperature == 0 and rec["tie_step"] is None:
            masked = logits[len(prompt):-1].clone()
            masked[:, [bos, eos, pad]] = float("-inf")
            if masked.argmax(dim=-1).tolist() != rec["tokens"]:
                raise AssertionError("greedy tokens are not the argmax of one forward")
    print("check-generate: splitmix64, and the generate loop against one forward, agree")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--input")
    ap.add_argument("--task", choices=["embed", "score", "mixer", "generate", "variants"])
    ap.add_argument("--out")
    ap.add_argument("--pool", choices=["none", "mean"], default="none")
    ap.add_argument("--check-grad", action="store_true",
                    help="cross-check the ATLAS gradient (autograd) against the closed form; "
                         "alone: on random problems, also against finite differences")
    ap.add_argument("--max-new-tokens", type=int)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ignore-eos", action="store_true")
    ap.add_argument("--check-generate", action="store_true",
                    help="the generate loop against one forward of its output (no model needed)")
    ap.add_argument("--check-variants", action="store_true",
                    help="the variants oracle against whole-record forwards (no model needed)")
    variants_ref.add_flags(ap)
    args = ap.parse_args()
    if args.check_grad and args.model is None:
        self_check_grad()
        return 0
    if args.check_generate:
        self_check_generate()
        return 0
    if args.check_variants:
        variants_ref.self_check(sys.modules[__name__])
        return 0
    if None in (args.model, args.input, args.task, args.out):
        ap.error("--model, --input, --task and --out are required (or --check-grad alone)")

    if args.task == "variants":
        if args.variants is None:
            ap.error("--task variants needs --variants")
        return variants_ref.run(sys.modules[__name__], args.model, args.input, args.variants,
                                args.downstream, args.context, args.rc_average, args.out)
    config, w = load_model(args.model)
    bos = 5 if config["vocab"] == "dna" else 256
    records = read_fasta(args.input) if config["vocab"] == "dna" else read_text(args.input)
    if args.task == "generate":
        if args.max_new_tokens is None or args.max_new_tokens < 1 or args.temperature < 0 \
                or args.top_k < 0 or not 0 <= args.seed < 2 ** 64:
            ap.error("generate needs --max-new-tokens >= 1, --temperature >= 0, --top-k >= 0 "
                     "and 0 <= --seed < 2^64")
        result = generate(records, config, w, args)
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "generate.json"), "w") as f:
            json.dump(result, f, indent=1)
        return 0
    rows = []
    for _, ids in records:
        if args.task == "mixer":
            # Every stream row, <bos> included, in stream order.
            rows.append(first_mixer([bos] + ids, config, w, args.check_grad))
            continue
        hf, logits = forward([bos] + ids, config, w, args.check_grad)
        if args.task == "embed":
            rows.append(hf[1:].mean(dim=0, keepdim=True) if args.pool == "mean" else hf[1:])
        else:
            logp = torch.log_softmax(logits[:-1], dim=-1)
            rows.append(logp[torch.arange(len(ids)), torch.tensor(ids)])
    os.makedirs(args.out, exist_ok=True)
    name = {"embed": "embeddings.npy", "score": "scores.npy", "mixer": "mixer.npy"}[args.task]
    np.save(os.path.join(args.out, name), torch.cat(rows).numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main())
