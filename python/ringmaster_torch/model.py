"""Model: MODEL.md's whole forward pass as a trainable torch.nn.Module.

    x = embed[tokens]; for each block: x += Mixer(RMSNorm(x, norm1)); x += MLP(RMSNorm(x, norm2))
    hf = RMSNorm(x, norm); logits = head hf

state_dict() keys are MODEL.md's tensor names, exactly (model_dir.save writes them as they
are). Tokens include the leading <bos>; every row of a batch is one sequence of the same length
(positions restart at 0 on each row's <bos>). fp32 by default; .double() gives a float64 model.
"""
import torch
from torch import nn

from .atlas import AtlasBlock
from .attention import AttentionBlock
from .config import VOCAB_SIZE, parse_config
from .fit import FitBlock
from .layers import rms_norm

BLOCKS = {"attention": AttentionBlock, "window": AttentionBlock, "local": AttentionBlock,
          "fit": FitBlock, "atlas": AtlasBlock}

# (<bos>, <eos>, <pad>) ids of each vocabulary.
SPECIALS = {"dna": (5, 6, 7), "bytes": (256, 257, 258)}


class Model(nn.Module):
    def __init__(self, config, source="config"):
        """`config`: a config.json dict; checked with ringmaster's rules (ModelError names
        `source`). Parameters are uninitialised: call init.init_weights or load weights."""
        super().__init__()
        self.config = parse_config(config, source)
        c = self.config
        V, d = VOCAB_SIZE[c["vocab"]], c["d_model"]
        self.bos = SPECIALS[c["vocab"]][0]
        self.embed = nn.Parameter(torch.empty(V, d))
        self.blocks = nn.ModuleList(BLOCKS[b["mixer"]](c, b) for b in c["blocks"])
        self.norm = nn.Parameter(torch.ones(d))
        self.head = nn.Parameter(torch.empty(V, d))
        fit = [b for b in c["blocks"] if b["mixer"] == "fit"]
        if fit:
            self.fit = nn.Module()
            self.fit.latents = nn.Parameter(torch.empty(fit[0]["latents"], d))

    def forward(self, tokens):
        """tokens [B, L] int64 (each row <bos> t1..tn) -> (hf [B, L, d], logits [B, L, V])."""
        eps = self.config["norm_eps"]
        x = self.embed[tokens]
        lat = None
        for block in self.blocks:
            if lat is None and isinstance(block, FitBlock):
                lat = block.initial_stream(self.fit.latents, *tokens.shape)
            x, lat = block(x, lat)
        hf = rms_norm(x, self.norm, eps)
        return hf, hf @ self.head.T

    def with_bos(self, ids):
        """[B, n] token ids -> [B, n + 1] with <bos> in front."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.dim() == 1:
            ids = ids[None]
        return torch.cat([torch.full_like(ids[:, :1], self.bos), ids], dim=1)

    def log_probs(self, ids):
        """log p(t_i | <bos>, t_<i) in nats for ids [B, n] (no <bos>): the log-softmax over all
        V logits at the previous position, MODEL.md's `score`. Causal models only."""
        if not self.config["causal"]:
            raise ValueError("score needs a causal model; this one is bidirectional")
        ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.dim() == 1:
            ids = ids[None]
        _, logits = self(self.with_bos(ids))
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        return logp.gather(-1, ids[..., None])[..., 0]

    def embed_rows(self, ids):
        """hf of every input token (no <bos> row) for ids [B, n]: MODEL.md's `embed`."""
        return self(self.with_bos(ids))[0][:, 1:]
