"""A model directory (config.json + weights.safetensors), loaded and saved exactly as MODEL.md
says.

load() checks config.json with ringmaster's rules and messages, then the weights: every
expected tensor present with its shape, nothing else, all finite (safetensors.read). save()
writes both files into a fresh temporary directory beside `directory`, fsyncs them, and renames
it into place, so a reader never sees half a model.
"""
import os
import shutil
import tempfile

import torch

from . import safetensors
from .config import config_json, parse_config_text, tensor_specs
from .model import Model
from .strict_json import ModelError, single_quoted


def load(directory, dtype=torch.float32):
    """Model of `directory` (weights widened to fp32, then cast to `dtype`). Raises ModelError
    naming the file, and the tensor where there is one."""
    config_path = os.path.join(directory, "config.json")
    with open(config_path, "rb") as f:
        text = f.read()
    config = parse_config_text(text, config_path)
    weights_path = os.path.join(directory, "weights.safetensors")
    tensors = safetensors.read(weights_path)
    specs = tensor_specs(config)
    expected = dict(specs)
    for name in tensors:
        if name not in expected:
            raise ModelError("%s: unexpected tensor %s" % (weights_path, single_quoted(name)))
    for name, shape in specs:
        if name not in tensors:
            raise ModelError("%s: missing tensor %s" % (weights_path, single_quoted(name)))
        if list(tensors[name].shape) != shape:
            raise ModelError("%s: tensor %s: shape %s, config.json says %s" % (
                weights_path, single_quoted(name), list(tensors[name].shape), shape))
    model = Model(config, config_path)
    model.load_state_dict(tensors)
    return model.to(dtype)


def save(model, directory, dtype="f32", metadata=None):
    """Writes `model` (a Model) to `directory` as config.json + weights.safetensors, weights
    narrowed to dtype "f32", "bf16" or "f16", replacing what was there."""
    state = model.state_dict()
    tensors = [(name, state[name]) for name, _ in tensor_specs(model.config)]
    blob = safetensors.encode(tensors, dtype, metadata)
    directory = os.path.abspath(directory)
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(directory) + ".tmp-", dir=parent)
    try:
        for name, data in (("weights.safetensors", blob),
                           ("config.json", config_json(model.config).encode())):
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o755)
        _replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(new, directory):
    # rename(2) cannot replace a non-empty directory: the old one steps aside first, and is
    # removed only once the new one is in place.
    old = None
    if os.path.lexists(directory):
        old = tempfile.mkdtemp(prefix="." + os.path.basename(directory) + ".old-",
                               dir=os.path.dirname(directory))
        os.rename(directory, os.path.join(old, "model"))
    os.rename(new, directory)
    fd = os.open(os.path.dirname(directory), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if old is not None:
        shutil.rmtree(old)
