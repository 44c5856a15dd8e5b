"""The pieces every block shares: RMSNorm, the gated MLP, rope, and MODEL.md's Attn with its
projections, computed block by block over the queries so that a mask costs only its band.

Parameters are plain nn.Parameter attributes named as MODEL.md names the tensors (wq, w_gate,
norm1), so a module's state_dict keys are the safetensors names. Shapes are [out, in]; `W x` is
`x @ W.T`. Activations carry a leading batch axis: x is [B, L, d_model].
"""
import math

import torch
from torch import nn


def rms_norm(x, g, eps):
    """x / sqrt(mean(x^2 over the row) + eps) * g."""
    return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps) * g


def silu(z):
    return z * torch.sigmoid(z)


def projection(rows, cols):
    """An uninitialised [rows, cols] weight (init.py fills every parameter)."""
    return nn.Parameter(torch.empty(rows, cols))


class Mlp(nn.Module):
    """w_down( silu(w_gate x) * (w_up x) )."""

    def __init__(self, d_model, hidden):
        super().__init__()
        self.w_gate = projection(hidden, d_model)
        self.w_up = projection(hidden, d_model)
        self.w_down = projection(d_model, hidden)

    def forward(self, x):
        return (silu(x @ self.w_gate.T) * (x @ self.w_up.T)) @ self.w_down.T


def rope_tables(positions, head_dim, theta):
    """cos and sin [L, head_dim/2] (float64) for positions [L]: the angles are float64 (fp32
    angles are off by 6e-3 at a million); rope rounds only cos and sin to the compute type."""
    half = head_dim // 2
    freq = theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / head_dim)
    angle = positions.to(torch.float64)[:, None] * freq[None, :]
    return torch.cos(angle), torch.sin(angle)


def rope(x, tables):
    """Rotate-half rope of x [B, L, heads, head_dim] with tables from rope_tables."""
    cos, sin = (t.to(x.dtype)[:, None, :] for t in tables)
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


class AttnProj(nn.Module):
    """The projections of one Attn: wq [n_heads*head_dim, d], wk and wv [n_kv_heads*head_dim,
    d], wo [d, n_heads*head_dim]."""

    def __init__(self, cfg):
        super().__init__()
        d, hd = cfg["d_model"], cfg["head_dim"]
        self.n_heads, self.n_kv_heads, self.head_dim = cfg["n_heads"], cfg["n_kv_heads"], hd
        self.wq = projection(self.n_heads * hd, d)
        self.wk = projection(self.n_kv_heads * hd, d)
        self.wv = projection(self.n_kv_heads * hd, d)
        self.wo = projection(d, self.n_heads * hd)

    def qkv(self, xq, xkv):
        """q [..., Lq, n_heads, hd], k and v [..., Lk, n_kv_heads, hd]."""
        hd = self.head_dim
        q = (xq @ self.wq.T).unflatten(-1, (self.n_heads, hd))
        k = (xkv @ self.wk.T).unflatten(-1, (self.n_kv_heads, hd))
        v = (xkv @ self.wv.T).unflatten(-1, (self.n_kv_heads, hd))
        return q, k, v


def softmax_attend(q, k, v, hidden=None):
    """o_h = softmax(q_h k_h^T / sqrt(hd) + mask) v_h for q [..., Lq, H, hd], k v
    [..., Lk, HK, hd] (query head h reads kv head h // (H / HK)); hidden [Lq, Lk] bool (True:
    -inf) or None. Every query row must see a key. Returns [..., Lq, H * hd]."""
    H, HK, hd = q.shape[-2], k.shape[-2], q.shape[-1]
    # Heads to the front, query heads grouped under their kv head: [..., HK, H/HK, L, hd]
    # against [..., HK, 1, L, hd], so GQA broadcasts instead of copying K and V.
    qh = q.movedim(-2, -3).unflatten(-3, (HK, H // HK))
    kh = k.movedim(-2, -3).unsqueeze(-3)
    vh = v.movedim(-2, -3).unsqueeze(-3)
    s = (qh @ kh.transpose(-1, -2)) / math.sqrt(hd)
    if hidden is not None:
        s = s.masked_fill(hidden, float("-inf"))
    o = torch.softmax(s, dim=-1) @ vh                       # [..., HK, H/HK, Lq, hd]
    return o.flatten(-4, -3).movedim(-3, -2).flatten(-2)


# Query rows per step of banded attention: bounds the score matrix at [B, H, 256, keys].
QUERY_BLOCK = 256


def banded_attend(q, k, v, key_range, hidden_fn, block=QUERY_BLOCK):
    """softmax_attend over query blocks [a, b): each reads only keys [lo, hi) = key_range(a, b),
    with hidden_fn(p [b-a, 1], s [1, hi-lo]) the mask over sequence positions. The keys outside
    [lo, hi) must be hidden for every query of the block (they would add exp(-inf) = 0)."""
    L = q.shape[-3]
    outs = []
    for a in range(0, L, block):
        b = min(L, a + block)
        lo, hi = key_range(a, b)
        p = torch.arange(a, b)[:, None]
        s = torch.arange(lo, hi)[None, :]
        hidden = hidden_fn(p, s)
        outs.append(softmax_attend(q[..., a:b, :, :], k[..., lo:hi, :, :], v[..., lo:hi, :, :],
                                   hidden))
    return torch.cat(outs, dim=-2)
