#!/usr/bin/python3
"""Writes the malformed model directories under tests/data/models/ and corpus.tsv.

Each bad_* directory is a model directory (config.json, and weights.safetensors where the
defect is in the weights) that differs from good_tiny by one defect. corpus.tsv lists, per
directory, the file its error must name and the places (byte offsets, tensor names, keys) the
one-line error must contain; tests/unit/model/corpus_test.cc checks them.

The safetensors writer here is independent of the C++ one and follows the Python safetensors
library's layout (header padded with spaces to 8 bytes, tensors ordered by alignment, then
name), so good_tiny also checks that ringmaster reads files from other writers.

Run from anywhere with /usr/bin/python3 (numpy only); the output is deterministic. Commit the
generated files with the script.
"""
import json
import os
import shutil
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

CONFIG = {
    "format": "ringmaster-model/1",
    "vocab": "dna",
    "d_model": 8,
    "n_heads": 2,
    "n_kv_heads": 1,
    "head_dim": 4,
    "mlp_hidden": 8,
    "norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "causal": True,
    "blocks": [{"mixer": "attention"}, {"mixer": "window", "window": 4}],
}


def config_text(config):
    """config.json as a person writes it: one key per line, one block per line."""
    lines = []
    for key, value in config.items():
        if key == "blocks":
            blocks = ",\n".join("    " + json.dumps(b) for b in value)
            lines.append('  "blocks": [\n' + blocks + "\n  ]")
        else:
            lines.append("  " + json.dumps(key) + ": " + json.dumps(value))
    return "{\n" + ",\n".join(lines) + "\n}\n"


def tensor_specs(config):
    """MODEL.md's table for attention and window blocks: (name, shape) in model order."""
    d, v = config["d_model"], {"dna": 8, "bytes": 259}[config["vocab"]]
    q = config["n_heads"] * config["head_dim"]
    kv = config["n_kv_heads"] * config["head_dim"]
    h = config["mlp_hidden"]
    specs = [("embed", (v, d))]
    for i, _ in enumerate(config["blocks"]):
        p = f"blocks.{i}"
        specs += [(f"{p}.norm1", (d,)), (f"{p}.norm2", (d,)),
                  (f"{p}.mlp.w_gate", (h, d)), (f"{p}.mlp.w_up", (h, d)),
                  (f"{p}.mlp.w_down", (d, h)),
                  (f"{p}.attn.wq", (q, d)), (f"{p}.attn.wk", (kv, d)),
                  (f"{p}.attn.wv", (kv, d)), (f"{p}.attn.wo", (d, q))]
    specs += [("norm", (d,)), ("head", (v, d))]
    return specs


def dtype_for(name):
    """Mixed dtypes in one file, as MODEL.md allows: MLPs bf16, block 1 attention f16."""
    if ".mlp." in name:
        return "BF16"
    if name.startswith("blocks.1.attn."):
        return "F16"
    return "F32"


def to_bytes(values, dtype):
    """Little-endian bytes of float32 `values` stored as `dtype` (bf16: round to nearest even)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    if dtype == "F32":
        return values.astype("<f4").tobytes()
    if dtype == "F16":
        return values.astype("<f2").tobytes()
    bits = values.view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits.astype("<u2").tobytes()


def tensors(config, seed=0):
    """[(name, dtype, shape, data bytes)] with small random weights (norm gains near 1)."""
    rng = np.random.default_rng(seed)
    out = []
    for name, shape in tensor_specs(config):
        values = rng.normal(0.0, 0.3, size=shape).astype(np.float32)
        if name.endswith(("norm", "norm1", "norm2")):
            values += 1.0
        dtype = dtype_for(name)
        out.append([name, dtype, list(shape), to_bytes(values, dtype)])
    return out


ITEM = {"F32": 4, "BF16": 2, "F16": 2}


def layout(items):
    """The Python library's order: larger items first, then by name."""
    return sorted(items, key=lambda t: (-ITEM.get(t[1], 8), t[0]))


def header_for(items, offsets=None, metadata=None):
    """(header dict, data bytes) for `items`; `offsets` overrides data_offsets per name."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape, raw in layout(items):
        begin, end = len(data), len(data) + len(raw)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": list((offsets or {}).get(name, (begin, end)))}
        data += raw
    return header, data


def encode(header_text, data, header_length=None):
    """8-byte length, header padded with spaces to 8 bytes, data."""
    text = header_text.encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    n = len(text) if header_length is None else header_length
    return struct.pack("<Q", n) + text + data


def safetensors(items, offsets=None, metadata=None):
    header, data = header_for(items, offsets, metadata)
    return encode(json.dumps(header, separators=(",", ":")), data)


def data_start(blob):
    return 8 + struct.unpack("<Q", blob[:8])[0]


class Corpus:
    def __init__(self):
        self.lines = []

    def add(self, name, files, file_named, *places):
        path = os.path.join(HERE, name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        for file, content in files.items():
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(os.path.join(path, file), mode) as out:
                out.write(content)
        if name.startswith("bad_"):
            self.lines.append("\t".join([name, file_named, *places]))


def main():
    corpus = Corpus()
    good_config = config_text(CONFIG)
    items = tensors(CONFIG)
    good = safetensors(items)
    corpus.add("good_tiny", {"config.json": good_config, "weights.safetensors": good}, "")

    def weights(name, blob, *places):
        corpus.add(name, {"config.json": good_config, "weights.safetensors": blob},
                   "weights.safetensors", *places)

    def config(name, text, *places):
        corpus.add(name, {"config.json": text}, "config.json", *places)

    # --- weights.safetensors: the header and its length
    weights("bad_file_too_short", b"\x10\x00\x00", "byte 0", "too short for the 8-byte header")
    weights("bad_header_length", struct.pack("<Q", 1 << 40) + good[8:], "byte 0",
            "header length 1099511627776 exceeds the 16777216-byte limit")
    n = data_start(good) - 8
    weights("bad_header_past_eof", struct.pack("<Q", n + len(good)) + good[8:], "byte 0",
            f"header length {n + len(good)} runs past the end of the file ({len(good)} bytes)")
    header, data = header_for(items)
    text = json.dumps(header, separators=(",", ":"))
    broken = text.replace('"shape"', ' "shape"', 1).replace(',', '', 1)  # drop the first comma
    stop = broken.index('"shape"') + len('"shape"') - 1  # the parser stops at its end
    weights("bad_json", encode(broken, data), f"byte {8 + stop}: header: invalid JSON")
    first = layout(items)[0][0]
    entry = json.dumps(header[first], separators=(",", ":"))
    duplicated = text[:-1] + "," + json.dumps(first) + ":" + entry + "}"
    weights("bad_duplicate_key", encode(duplicated, data), f"duplicate key '{first}'")
    # --- entries
    bad = [list(t) for t in items]
    for t in bad:
        if t[0] == "blocks.0.norm1":
            t[1] = "F64"  # 8 elements of 4 bytes: the size would fit 4 F64, the dtype does not
    weights("bad_unknown_dtype", safetensors(bad), "tensor 'blocks.0.norm1'",
            "unknown dtype 'F64'")
    header, data = header_for(items)
    last = max(header.items(), key=lambda kv: kv[1].get("data_offsets", [0])[0])[0]
    begin, end = header[last]["data_offsets"]
    weights("bad_offsets_out_of_range",
            safetensors(items, offsets={last: (begin, end + 64)}),
            f"tensor '{last}'", f"data_offsets [{begin}, {end + 64}] run past the end of the file")
    bad = [list(t) for t in items]
    for t in bad:
        if t[0] == "embed":
            t[2] = [8, 7]  # the bytes of [8, 8]
    weights("bad_size_mismatch", safetensors(bad), "tensor 'embed'",
            "hold 256 bytes but F32 [8, 7] needs 224")
    # --- tiling: overlap, gap, trailing bytes
    order = [t[0] for t in layout(items)]
    a, b = order[0], order[1]
    a_begin, a_end = header[a]["data_offsets"]
    b_begin, b_end = header[b]["data_offsets"]
    overlap = safetensors(items, offsets={b: (b_begin - 4, b_end - 4)})
    start = data_start(overlap)
    weights("bad_offsets_overlap", overlap,
            f"tensors '{a}' (file bytes [{start + a_begin}, {start + a_end}))",
            f"'{b}' (file bytes [{start + b_begin - 4}, {start + b_end - 4})) overlap")
    shifted = {name: (h["data_offsets"][0] + 4, h["data_offsets"][1] + 4)
               for name, h in header.items() if name != a}
    header_gap, _ = header_for(items, offsets=shifted)
    raw = {t[0]: t[3] for t in items}
    gap_data = raw[a] + b"\0\0\0\0" + b"".join(raw[name] for name in order[1:])
    gap = encode(json.dumps(header_gap, separators=(",", ":")), gap_data)
    weights("bad_offsets_gap", gap,
            f"byte {data_start(gap) + a_end}: gap of 4 bytes between tensors '{a}' and '{b}'")
    trailing = good + b"xyz"
    weights("bad_trailing_bytes", trailing,
            f"byte {len(good)}: 3 trailing bytes after the last tensor '{order[-1]}'")
    metadata = safetensors(items, metadata={"step": 5})
    weights("bad_metadata", metadata, "'__metadata__' maps strings to strings, but 'step'")
    # --- the weights against config.json
    bad = [list(t) for t in items]
    for t in bad:
        if t[0] == "blocks.0.attn.wk":
            t[2] = [8, 4]  # config says [n_kv_heads * head_dim, d_model] = [4, 8]
    weights("bad_shape_vs_config", safetensors(bad), "tensor 'blocks.0.attn.wk'",
            "shape [8, 4] does not match [4, 8] from the config")
    weights("bad_missing_tensor",
            safetensors([t for t in items if t[0] != "blocks.1.attn.wo"]),
            "missing tensor 'blocks.1.attn.wo' [8, 8]")
    extra = items + [["blocks.2.norm1", "F32", [8], to_bytes(np.ones(8), "F32")]]
    weights("bad_extra_tensor", safetensors(extra), "unexpected tensor 'blocks.2.norm1'")
    # --- values
    bad = [list(t) for t in items]
    for t in bad:
        if t[0] == "blocks.0.mlp.w_up":  # bf16 [8, 8]: element [1, 2] is number 10
            values = np.frombuffer(t[3], dtype="<u2").copy()
            values[10] = 0x7FC0  # bf16 quiet NaN
            t[3] = values.tobytes()
    nan = safetensors(bad)
    h, _ = header_for(bad)
    nan_byte = data_start(nan) + h["blocks.0.mlp.w_up"]["data_offsets"][0] + 20
    weights("bad_nan_weight", nan, "tensor 'blocks.0.mlp.w_up'",
            f"element 10 (index [1, 2], file byte {nan_byte}) is NaN")
    bad = [list(t) for t in items]
    for t in bad:
        if t[0] == "blocks.1.attn.wq":  # f16 [8, 8]
            values = np.frombuffer(t[3], dtype="<f2").copy()
            values[63] = -np.inf
            t[3] = values.tobytes()
    weights("bad_inf_weight", safetensors(bad), "tensor 'blocks.1.attn.wq'",
            "element 63 (index [7, 7]", "is -inf")

    # --- config.json
    def edited(old, new):
        assert old in good_config, old
        return good_config.replace(old, new, 1)

    config("bad_config_unknown_key", edited('"window": 4', '"windw": 4'),
           "blocks[1]: unknown key 'windw'")
    config("bad_config_wrong_type", edited('"d_model": 8', '"d_model": "8"'),
           "'d_model': expected an integer, got a string")
    config("bad_config_inconsistent_heads", edited('"n_kv_heads": 1', '"n_kv_heads": 3'),
           "'n_heads' (2) is not a multiple of 'n_kv_heads' (3)")
    config("bad_config_format", edited("ringmaster-model/1", "ringmaster-model/2"),
           "'format' is 'ringmaster-model/2'")
    config("bad_config_impossible_size", edited('"d_model": 8', '"d_model": 2000000000'),
           "parameters, above the cap of 17179869184")
    config("bad_config_duplicate_key", edited('"d_model": 8,', '"d_model": 8,\n  "d_model": 16,'),
           "duplicate key 'd_model'")
    config("bad_config_missing_key", edited('  "rope_theta": 10000.0,\n', ""),
           "missing key 'rope_theta'")
    config("bad_config_odd_head_dim", edited('"head_dim": 4', '"head_dim": 5'),
           "'head_dim' is 5; it must be even")
    broken = edited('"mlp_hidden": 8', '"mlp_hidden": ')
    comma = broken.index('"mlp_hidden": ') + len('"mlp_hidden": ')
    line = broken.count("\n", 0, comma) + 1
    column = comma - broken.rfind("\n", 0, comma)
    config("bad_config_json", broken, f"config.json:{line}:{column}: invalid JSON")

    with open(os.path.join(HERE, "corpus.tsv"), "w") as out:
        out.write("# Written by make_corpus.py: directory, file the error names, places it "
                  "contains (tab-separated).\n")
        for entry in sorted(corpus.lines):
            out.write(entry.rstrip("\t") + "\n")


if __name__ == "__main__":
    main()
