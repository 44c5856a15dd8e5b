"""The attention, window and local mixers: Attn(h, h) with rope at each token's position and
MODEL.md's mask (query position p, key position s; True = hidden):

    attention  causal: s > p                    bidirectional: nothing
    window w   causal: s > p or p - s >= w      bidirectional: |p - s| >= w
    local n    floor(s/n) != floor(p/n), and causal also s > p

Each query block reads only the key range its mask can show (banded_attend), so a window or a
local group costs its band and causal attention half the square.
"""
import torch
from .block import Block
from .layers import AttnProj, banded_attend, rope, rope_tables


class AttentionBlock(Block):
    def __init__(self, cfg, block):
        super().__init__(cfg)
        self.attn = AttnProj(cfg)
        self.kind = block["mixer"]
        self.size = block.get("window", block.get("group"))
        self.causal = cfg["causal"]
        self.rope_theta = cfg["rope_theta"]

    def _band(self, L):
        """(key_range(a, b), hidden(p, s)) of this mixer for a sequence of L positions."""
        kind, n, causal = self.kind, self.size, self.causal
        if kind == "attention":
            return ((lambda a, b: (0, b if causal else L)),
                    (lambda p, s: s > p) if causal else (lambda p, s: None))
        if kind == "window":
            if causal:
                return (lambda a, b: (max(0, a - n + 1), b)), (lambda p, s: (s > p) | (p - s >= n))
            return ((lambda a, b: (max(0, a - n + 1), min(L, b + n - 1))),
                    (lambda p, s: (p - s).abs() >= n))

        def key_range(a, b):
            hi = min(L, ((b - 1) // n + 1) * n)
            return (a // n) * n, (b if causal else hi)

        def hidden(p, s):
            out = (s // n) != (p // n)
            return out | (s > p) if causal else out
        return key_range, hidden

    def mix(self, h, lat):
        """h [B, L, d] (position 0 at <bos>) -> [B, L, d]; the latent stream passes."""
        L = h.shape[1]
        tables = rope_tables(torch.arange(L), self.attn.head_dim, self.rope_theta)
        q, k, v = self.attn.qkv(h, h)
        q, k = rope(q, tables), rope(k, tables)
        key_range, hidden = self._band(L)
        return banded_attend(q, k, v, key_range, hidden) @ self.attn.wo.T, lat
