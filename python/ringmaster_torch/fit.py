"""The fit mixer (FIT global layers over latents), every group at once.

The sequence's G = ceil(L / group) groups are one tensor axis: h is padded to [B, G, n, d]
(the last group's missing keys hidden in READ), the latent stream is [B, G, m, d]. Per block:

    READ    lat[g] += Attn(RMSNorm(lat[g], read.norm_q), RMSNorm(h_g, read.norm_kv))  no rope
    GLOBAL  over the G*m latents: rope at the group index g; causal: groups <= g visible
    WRITE   out[g] = Attn(RMSNorm(h_g, write.norm_q), RMSNorm(src[g], write.norm_kv))
            src[g] = lat[g-1] causal (out[0] = 0 exactly), lat[g] bidirectional
"""
import torch
from torch import nn

from .block import Block
from .layers import AttnProj, Mlp, banded_attend, rms_norm, rope, rope_tables, softmax_attend


class NormedAttn(AttnProj):
    """Attn projections plus the norms of its query and key/value inputs (read, write)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.norm_q = nn.Parameter(torch.ones(cfg["d_model"]))
        self.norm_kv = nn.Parameter(torch.ones(cfg["d_model"]))


class GlobalLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm1 = nn.Parameter(torch.ones(cfg["d_model"]))
        self.norm2 = nn.Parameter(torch.ones(cfg["d_model"]))
        self.attn = AttnProj(cfg)
        self.mlp = Mlp(cfg["d_model"], cfg["mlp_hidden"])


class FitBlock(Block):
    def __init__(self, cfg, block):
        super().__init__(cfg)
        self.group, self.latents = block["group"], block["latents"]
        self.causal, self.rope_theta = cfg["causal"], cfg["rope_theta"]
        self.read = NormedAttn(cfg)
        # "global" is a Python keyword: the attribute is reached with getattr.
        self.add_module("global", nn.ModuleList(GlobalLayer(cfg)
                                                for _ in range(block["global_layers"])))
        self.write = NormedAttn(cfg)

    def initial_stream(self, latents, batch, length):
        """The stream at the first fit block: fit.latents [m, d] for every group."""
        G = -(-length // self.group)
        return latents.expand(batch, G, *latents.shape)

    def mix(self, h, lat):
        B, L, d = h.shape
        n, m, eps = self.group, self.latents, self.eps
        G = lat.shape[1]
        hg = torch.nn.functional.pad(h, (0, 0, 0, G * n - L)).view(B, G, n, d)
        pad = None
        if G * n != L:
            # [G, 1, 1, 1, n] against scores [B, G, HK, H/HK, m, n]: the short last group.
            pad = (torch.arange(G * n) >= L).view(G, 1, 1, 1, n)

        r = self.read
        q, k, v = r.qkv(rms_norm(lat, r.norm_q, eps), rms_norm(hg, r.norm_kv, eps))
        lat = lat + softmax_attend(q, k, v, pad) @ r.wo.T

        flat = lat.reshape(B, G * m, d)
        pos = torch.arange(G * m) // m
        tables = rope_tables(pos, r.head_dim, self.rope_theta)
        if self.causal:
            key_range = lambda a, b: (0, ((b - 1) // m + 1) * m)
            hidden = lambda p, s: (s // m) > (p // m)
        else:
            key_range, hidden = (lambda a, b: (0, G * m)), (lambda p, s: None)
        for layer in getattr(self, "global"):
            xn = rms_norm(flat, layer.norm1, eps)
            q, k, v = layer.attn.qkv(xn, xn)
            q, k = rope(q, tables), rope(k, tables)
            flat = flat + banded_attend(q, k, v, key_range, hidden) @ layer.attn.wo.T
            flat = flat + layer.mlp(rms_norm(flat, layer.norm2, eps))
        lat = flat.view(B, G, m, d)

        w = self.write
        if self.causal:
            src, queries = lat[:, :-1], hg[:, 1:]
        else:
            src, queries = lat, hg
        q, k, v = w.qkv(rms_norm(queries, w.norm_q, eps), rms_norm(src, w.norm_kv, eps))
        out = softmax_attend(q, k, v) @ w.wo.T                  # [B, G or G-1, n, d]
        if self.causal:
            out = torch.cat([out.new_zeros(B, 1, n, d), out], dim=1)
        return out.reshape(B, G * n, d)[:, :L], lat
