"""Initial weights, drawn the way `ringmaster init` draws them (not the same numbers: torch's
generator, not mt19937_64), so that a fresh module is a valid, stable model:

    norms              1
    embed, latents     N(0, 1)
    b_gates            2 (keep ~ 0.88), -3 (lr ~ 0.05), 0 (mom), 0 (gamma), plus N(0, 0.1^2):
                       the ATLAS chain contracts (MODEL.md "Stability")
    w_gates            N(0, 1) * 0.1 / sqrt(in)
    every projection   N(0, 1) / sqrt(in): unit-variance outputs; `out_scale` multiplies the
                       projections that write into the residual stream (wo, w_down) and head,
                       which training usually wants small
"""
import math

import torch

NORMS = ("norm", "norm1", "norm2", "norm_q", "norm_kv")
RESIDUAL_OUTPUTS = ("wo", "w_down")


@torch.no_grad()
def init_weights(model, seed=0, out_scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    H = model.config["n_heads"]
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        normal = torch.randn(p.shape, generator=gen, dtype=torch.float64)
        if leaf in NORMS:
            values = torch.ones(p.shape, dtype=torch.float64)
        elif name in ("embed", "fit.latents"):
            values = normal
        elif leaf == "b_gates":
            bias = torch.tensor([2.0, -3.0, 0.0, 0.0], dtype=torch.float64).repeat_interleave(H)
            values = bias + 0.1 * normal
        elif leaf == "w_gates":
            values = normal * 0.1 / math.sqrt(p.shape[-1])
        else:
            values = normal / math.sqrt(p.shape[-1])
            if leaf in RESIDUAL_OUTPUTS or name == "head":
                values = values * out_scale
        p.copy_(values.to(p.dtype))
    return model
