"""The atlas mixer: per head a deep memory M(u) = W2 silu(W1 u) that learns while it reads,
one Omega-rule step with Muon (NS5) per chunk, differentiable end to end.

Everything inside a chunk is one batched tensor op over (batch, head); only the chain of chunk
states is a Python loop. Per chunk C = [c0, c1) from the start state (W1, W2, S1, S2):

    READ  y_t = M(phi(q_t)), t in C                      (all chunks at once, after the loop)
    GRAD  of L_C = sum_i gamma_i n_i |M(phi(k_i)) - v_i|^2 over i in [c0 - omega + 1, c1),
          n_i = #{t in C : i <= t <= i + omega - 1}, in closed form (below)
    S = mom S + G;  W = keep W - lr NS5(S)

The closed-form gradient is ordinary torch ops, so autograd differentiates through the memory's
own update steps (second-order terms included) when the outer model trains.
"""
import math

import torch
from torch import nn

from .block import Block
from .layers import projection, silu


def l2norm(u):
    return u / torch.clamp(u.norm(dim=-1, keepdim=True), min=1e-6)


def features(u, degree):
    """phi(u): u (degree 1) or [u ; flatten(u u^T) / sqrt(2)] (degree 2, row-major)."""
    if degree == 1:
        return u
    outer = (u[..., :, None] * u[..., None, :]).flatten(-2) / math.sqrt(2)
    return torch.cat([u, outer], dim=-1)


def ns5(G):
    """Muon's Newton-Schulz orthogonalisation of each matrix G [..., rows, cols]."""
    X = G / (G.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    transposed = X.shape[-2] > X.shape[-1]
    if transposed:
        X = X.transpose(-1, -2)
    for _ in range(5):
        A = X @ X.transpose(-1, -2)
        B = -4.7750 * A + 2.0315 * (A @ A)
        X = 3.4445 * X + B @ X
    return X.transpose(-1, -2) if transposed else X


def omega_grad(W1, W2, phi_k, v, weight):
    """(dL/dW1, dL/dW2) of L = sum_i weight_i |W2 silu(W1 phi_k_i) - v_i|^2, batched over the
    leading axes. W1 [.., hidden, d_phi], W2 [.., hd, hidden], phi_k [.., R, d_phi],
    v [.., R, hd], weight [.., R]. silu'(z) = s (1 + z (1 - s)) with s = sigmoid(z)."""
    z = phi_k @ W1.transpose(-1, -2)                        # [.., R, hidden]
    s = torch.sigmoid(z)
    a = z * s
    dr = 2 * weight[..., None] * (a @ W2.transpose(-1, -2) - v)   # [.., R, hd]
    G2 = dr.transpose(-1, -2) @ a
    dz = (dr @ W2) * (s * (1 + z * (1 - s)))
    G1 = dz.transpose(-1, -2) @ phi_k
    return G1, G2


class AtlasMemory(nn.Module):
    """The tensors of blocks.i.atlas (n_heads memory heads; n_kv_heads does not apply)."""

    def __init__(self, cfg, block):
        super().__init__()
        d, H, hd = cfg["d_model"], cfg["n_heads"], cfg["head_dim"]
        hidden = block["memory_hidden"]
        d_phi = hd + hd * hd if block["feature_degree"] == 2 else hd
        self.wq, self.wk, self.wv = (projection(H * hd, d) for _ in range(3))
        self.wo = projection(d, H * hd)
        self.w_gates = projection(4 * H, d)           # row g*H + e: gate g of head e
        self.b_gates = nn.Parameter(torch.empty(4 * H))
        self.w1_init = nn.Parameter(torch.empty(H, hidden, d_phi))
        self.w2_init = nn.Parameter(torch.empty(H, hd, hidden))


class AtlasBlock(Block):
    def __init__(self, cfg, block):
        super().__init__(cfg)
        self.atlas = AtlasMemory(cfg, block)
        self.n_heads, self.head_dim = cfg["n_heads"], cfg["head_dim"]
        self.chunk, self.omega = block["chunk"], block["omega_window"]
        self.degree = block["feature_degree"]

    def mix(self, h, lat):
        a, H, C, win = self.atlas, self.n_heads, self.chunk, self.omega
        B, L, d = h.shape
        NC = -(-L // C)
        heads = lambda x: x.unflatten(-1, (H, -1)).transpose(1, 2)   # [B, L, H*n] -> [B, H, L, n]
        phi_q = features(l2norm(heads(h @ a.wq.T)), self.degree)
        phi_k = features(l2norm(heads(h @ a.wk.T)), self.degree)
        v = heads(h @ a.wv.T)
        gamma = torch.sigmoid(h @ a.w_gates[3 * H:].T + a.b_gates[3 * H:]).transpose(1, 2)

        # Chunk gates from each chunk's mean row: [B, NC, H] each.
        sums = torch.nn.functional.pad(h, (0, 0, 0, NC * C - L)).view(B, NC, C, d).sum(dim=2)
        counts = torch.clamp(L - torch.arange(NC) * C, max=C).to(h.dtype)
        z = (sums / counts[:, None]) @ a.w_gates[:3 * H].T + a.b_gates[:3 * H]
        keep, lr, mom = (f(z[..., g * H:(g + 1) * H]).transpose(1, 2)[..., None, None]
                         for g, f in enumerate((torch.sigmoid, torch.nn.functional.softplus,
                                                torch.sigmoid)))       # [B, H, NC, 1, 1]

        # Each chunk's loss rows, i = c0 - win + 1 + r for r < R = C + win - 1, gathered from
        # the sequence padded with win - 1 rows in front (weight 0 there and past the end).
        R = C + win - 1
        rows = (torch.arange(NC) * C)[:, None] + torch.arange(R)[None, :]   # padded index
        i = rows - (win - 1)
        c0 = (torch.arange(NC) * C)[:, None]
        c1 = torch.clamp(c0 + C, max=L)
        n_i = torch.clamp(torch.minimum(i + win - 1, c1 - 1) - torch.maximum(i, c0) + 1, min=0)
        padded = lambda x: torch.nn.functional.pad(x, (0, 0, win - 1, NC * C - L))
        win_k = padded(phi_k)[:, :, rows]                              # [B, H, NC, R, d_phi]
        win_v = padded(v)[:, :, rows]
        gamma_pad = torch.nn.functional.pad(gamma, (win - 1, NC * C - L))
        weight = gamma_pad[:, :, rows] * n_i.to(h.dtype)               # [B, H, NC, R]

        W1 = a.w1_init.expand(B, *a.w1_init.shape)
        W2 = a.w2_init.expand(B, *a.w2_init.shape)
        S1, S2 = torch.zeros_like(W1), torch.zeros_like(W2)
        states1, states2 = [], []
        for c in range(NC):
            states1.append(W1)
            states2.append(W2)
            if c == NC - 1:
                break  # the last update feeds nothing
            G1, G2 = omega_grad(W1, W2, win_k[:, :, c], win_v[:, :, c], weight[:, :, c])
            S1 = mom[:, :, c] * S1 + G1
            S2 = mom[:, :, c] * S2 + G2
            W1 = keep[:, :, c] * W1 - lr[:, :, c] * ns5(S1)
            W2 = keep[:, :, c] * W2 - lr[:, :, c] * ns5(S2)

        # READ at each chunk's start state: [B, H, NC, C, d_phi] against [B, H, NC, hidden, d_phi].
        q = torch.nn.functional.pad(phi_q, (0, 0, 0, NC * C - L)).unflatten(2, (NC, C))
        W1s, W2s = torch.stack(states1, dim=2), torch.stack(states2, dim=2)
        y = silu(q @ W1s.transpose(-1, -2)) @ W2s.transpose(-1, -2)  # [B, H, NC, C, hd]
        y = y.flatten(2, 3)[:, :, :L].transpose(1, 2).flatten(2)     # [B, L, H*hd]
        return y @ a.wo.T, lat
