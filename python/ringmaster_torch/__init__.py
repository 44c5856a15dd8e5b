"""ringmaster_torch: MODEL.md (ringmaster-model/1) as a trainable PyTorch module.

    import ringmaster_torch as rt
    model = rt.init_weights(rt.Model(config_dict), seed=0)
    ... train ...
    rt.save(model, "my_model", dtype="bf16")       # ringmaster run --model my_model ...
    model = rt.load("my_model")

A second implementation beside ringmaster's C++ and tests/reference/model_ref.py (the float64
oracle); python/tests/agreement.py checks all three agree. torch and numpy only.
"""
from .config import parse_config, parse_config_text, tensor_specs
from .init import init_weights
from .model import SPECIALS, Model
from .model_dir import load, save
from .strict_json import ModelError

__all__ = ["Model", "ModelError", "SPECIALS", "init_weights", "load", "parse_config",
           "parse_config_text", "save", "tensor_specs"]
