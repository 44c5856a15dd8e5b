"""A block of the stack: x = x + Mixer(RMSNorm(x, norm1)); x = x + MLP(RMSNorm(x, norm2)).

Each mixer kind subclasses Block and holds its own tensors as direct children (attn; read,
global, write; atlas), so that the parameter names under blocks.i are MODEL.md's exactly.
"""
import torch
from torch import nn

from .layers import Mlp, rms_norm


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.eps = cfg["norm_eps"]
        self.norm1 = nn.Parameter(torch.ones(d))
        self.norm2 = nn.Parameter(torch.ones(d))
        self.mlp = Mlp(d, cfg["mlp_hidden"])

    def mix(self, h, lat):
        """Mixer(h) for h [B, L, d] and the FIT latent stream `lat` (None before the first fit
        block); returns (out [B, L, d], the stream after this block)."""
        raise NotImplementedError

    def forward(self, x, lat=None):
        out, lat = self.mix(rms_norm(x, self.norm1, self.eps), lat)
        x = x + out
        return x + self.mlp(rms_norm(x, self.norm2, self.eps)), lat
