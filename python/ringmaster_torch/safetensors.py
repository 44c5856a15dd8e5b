"""weights.safetensors, read and written by this package alone (numpy; no safetensors library).

Layout (MODEL.md "safetensors"): an 8-byte little-endian header length n, n bytes of JSON
mapping names to {"dtype", "shape", "data_offsets"}, then the data, tensors tiling it exactly.
The reader refuses what MODEL.md refuses, with one ModelError naming the file and the tensor;
it widens every dtype exactly to float32. The writer pads the header with spaces so that the
data starts 8-byte aligned (JSON allows trailing whitespace; ringmaster's writer does the same).
"""
import json
import struct

import numpy as np
import torch

from .strict_json import ModelError, loads_strict, single_quoted

MAX_HEADER_BYTES = 100 * 1000 * 1000
ITEM_BYTES = {"F32": 4, "BF16": 2, "F16": 2}


def _widen(raw, dtype):
    """Little-endian bytes of one tensor -> float32 numpy array (exact for every dtype)."""
    if dtype == "F32":
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if dtype == "F16":
        return np.frombuffer(raw, dtype="<f2").astype(np.float32)
    # bf16 is the top half of a float32.
    return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)


def read(path):
    """{name: float32 torch tensor} of a safetensors file, in file order. Raises ModelError for
    a header too long, bad JSON or duplicate keys, an unknown dtype, offsets that do not tile
    the data, or any NaN or infinity."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ModelError("%s: %d bytes, shorter than the 8-byte header length" % (path, len(data)))
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or n > len(data) - 8:
        raise ModelError("%s: header of %d bytes is longer than %s" % (
            path, n, "100 MB" if n > MAX_HEADER_BYTES else "the file"))
    header = loads_strict(data[8:8 + n], path + ": header")
    if not isinstance(header, dict):
        raise ModelError("%s: header is not a JSON object" % path)
    body = memoryview(data)[8 + n:]
    entries = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        where = "%s: tensor %s" % (path, single_quoted(name))
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ModelError(where + ": expected dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in ITEM_BYTES:
            raise ModelError("%s: unknown dtype %s" % (where, single_quoted(str(dtype))))
        if (not isinstance(shape, list) or not all(_is_count(s) for s in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_count(o) for o in offsets)):
            raise ModelError(where + ": shape and data_offsets must be lists of integers >= 0")
        count = int(np.prod(shape, dtype=object)) if shape else 1
        if offsets[1] < offsets[0] or offsets[1] - offsets[0] != count * ITEM_BYTES[dtype]:
            raise ModelError("%s: data_offsets %s do not hold %d %s elements"
                             % (where, offsets, count, dtype))
        entries.append((offsets[0], offsets[1], name, dtype, shape, where))
    # Tiling: sorted by begin, each tensor starts where the previous ended, the last at the end.
    covered = 0
    for begin, end, _, _, _, where in sorted(entries):
        if begin != covered:
            raise ModelError("%s: starts at data byte %d, expected %d (%s)" % (
                where, begin, covered, "overlap" if begin < covered else "gap"))
        covered = end
    if covered != len(body):
        raise ModelError("%s: data is %d bytes, tensors cover %d" % (path, len(body), covered))
    tensors = {}
    for begin, end, name, dtype, shape, where in entries:
        values = _widen(body[begin:end], dtype).reshape(shape)
        if not np.isfinite(values).all():
            index = np.argwhere(~np.isfinite(values))[0].tolist()
            raise ModelError("%s: element %s is %s" % (where, index, values[tuple(index)]))
        tensors[name] = torch.from_numpy(values.copy())
    return tensors


def _is_count(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


TORCH_DTYPES = {"f32": ("F32", torch.float32), "bf16": ("BF16", torch.bfloat16),
                "f16": ("F16", torch.float16)}


def encode(tensors, dtype="f32", metadata=None):
    """The bytes of a safetensors file holding `tensors` ([(name, tensor)] in file order),
    narrowed to `dtype` ("f32", "bf16" or "f16"; round to nearest even, as torch casts)."""
    if dtype not in TORCH_DTYPES:
        raise ValueError("dtype must be f32, bf16 or f16, not %r" % (dtype,))
    tag, torch_dtype = TORCH_DTYPES[dtype]
    chunks, entries, offset = [], [], 0
    for name, t in tensors:
        narrow = t.detach().to("cpu", torch.float32).to(torch_dtype).contiguous()
        if not torch.isfinite(narrow).all():
            raise ValueError("tensor %s has a NaN or an infinity as %s" % (name, dtype))
        # numpy has no bfloat16: write the 16-bit patterns.
        raw = (narrow.view(torch.int16) if dtype == "bf16" else narrow).numpy().tobytes()
        shape = ",".join(str(s) for s in narrow.shape)
        entries.append('%s:{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}'
                       % (json.dumps(name), tag, shape, offset, offset + len(raw)))
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        meta = ",".join("%s:%s" % (json.dumps(k), json.dumps(v)) for k, v in metadata.items())
        entries.insert(0, '"__metadata__":{%s}' % meta)
    header = ("{" + ",".join(entries) + "}").encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    return struct.pack("<Q", len(header)) + header + b"".join(chunks)
