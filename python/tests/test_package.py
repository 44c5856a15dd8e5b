#!/usr/bin/env python3
"""Unit tests of ringmaster_torch that need no ringmaster binary (except the message check):

  - config errors: each broken config gets ringmaster's message; with RINGMASTER_BINARY set,
    the message is compared with what `ringmaster inspect` prints for the same file;
  - safetensors: round trips in f32/bf16/f16, and the refusals MODEL.md lists;
  - save is atomic and replaces an existing directory;
  - the ATLAS closed-form gradient equals autograd of the Omega loss, and training reaches
    the memory's initial weights and gates through the chain (gradients are finite, non-zero).

    /usr/bin/python3 python/tests/test_package.py [-v]
"""
import copy
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import ringmaster_torch as rt  # noqa: E402
from ringmaster_torch import atlas, safetensors  # noqa: E402

BASE = {"format": "ringmaster-model/1", "vocab": "dna", "d_model": 16, "n_heads": 4,
        "n_kv_heads": 2, "head_dim": 4, "mlp_hidden": 24, "norm_eps": 1e-5,
        "rope_theta": 10000.0, "causal": True,
        "blocks": [{"mixer": "local", "group": 8},
                   {"mixer": "fit", "group": 8, "latents": 2, "global_layers": 1},
                   {"mixer": "atlas", "chunk": 4, "omega_window": 3, "memory_hidden": 5,
                    "feature_degree": 1},
                   {"mixer": "window", "window": 5}, {"mixer": "attention"}]}


def edited(change):
    c = copy.deepcopy(BASE)
    change(c)
    return json.dumps(c)


def setitem(path, value):
    def change(c):
        target = c
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def delitem(path):
    def change(c):
        target = c
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


P = "config.json: "
BROKEN = [
    (edited(setitem(["d_modle"], 3)), P + "unknown key 'd_modle' (config.json keys are: format, "
     "vocab, d_model, n_heads, n_kv_heads, head_dim, mlp_hidden, norm_eps, rope_theta, causal, "
     "blocks)"),
    (edited(delitem(["causal"])), P + "missing key 'causal'"),
    (edited(setitem(["format"], "ringmaster-model/2")),
     P + "'format' is 'ringmaster-model/2'; this build reads 'ringmaster-model/1'"),
    (edited(setitem(["vocab"], "rna")), P + "'vocab' is 'rna'; expected 'dna' or 'bytes'"),
    (edited(setitem(["d_model"], "16")),
     P + "'d_model': expected an integer, got a string (\"16\")"),
    (edited(setitem(["d_model"], 16.0)), P + "'d_model': expected an integer, got a number (16.0)"),
    (edited(setitem(["causal"], 1)), P + "'causal': expected true or false, got an integer (1)"),
    (edited(setitem(["norm_eps"], True)),
     P + "'norm_eps': expected a number, got a boolean (true)"),
    (edited(setitem(["n_kv_heads"], 3)), P + "'n_heads' (4) is not a multiple of 'n_kv_heads' (3)"),
    (edited(setitem(["head_dim"], 5)),
     P + "'head_dim' is 5; it must be even (rope rotates its two halves)"),
    (edited(setitem(["norm_eps"], 0)), P + "'norm_eps' is 0.0; it must be a finite number > 0"),
    (edited(setitem(["d_model"], 0)), P + "'d_model' is 0; it must be in [1, 2147483647]"),
    (edited(setitem(["d_model"], 2 ** 31)),
     P + "'d_model' is 2147483648; it must be in [1, 2147483647]"),
    (edited(setitem(["d_model"], 2 ** 63)),
     P + "'d_model' is 9223372036854775808, above the cap of 2147483647"),
    (edited(setitem(["blocks"], {})), P + "'blocks': expected an array, got an object ({})"),
    (edited(setitem(["blocks", 1], 3)), P + "blocks[1]: expected an object, got an integer"),
    (edited(delitem(["blocks", 0, "mixer"])), P + "blocks[0]: missing key 'mixer'"),
    (edited(setitem(["blocks", 0, "mixer"], "mamba")),
     P + "blocks[0]: 'mixer' is 'mamba'; expected one of attention, window, local, fit, atlas"),
    (edited(setitem(["blocks", 3, "windw"], 5)),
     P + "blocks[3]: unknown key 'windw' (a 'window' block has: mixer, window)"),
    (edited(delitem(["blocks", 2, "chunk"])), P + "blocks[2]: missing key 'chunk'"),
    (edited(setitem(["blocks", 3, "window"], 0)),
     P + "blocks[3]: 'window' is 0; it must be in [1, 2147483647]"),
    (edited(setitem(["blocks", 1, "global_layers"], -1)),
     P + "blocks[1]: 'global_layers' is -1; it must be in [0, 2147483647]"),
    (edited(setitem(["blocks", 2, "feature_degree"], 3)),
     P + "blocks[2]: 'feature_degree' is 3; it must be 1 or 2"),
    (edited(setitem(["blocks", 1, "group"], 16)), P + "blocks[1]: 'group' is 16 but blocks[0] has "
     "8; every local and fit block uses the same group"),
    (edited(lambda c: c["blocks"].append({"mixer": "fit", "group": 8, "latents": 3,
                                          "global_layers": 0})),
     P + "blocks[5]: 'latents' is 3 but blocks[1] has 2; every fit block uses the same latents"),
    (edited(setitem(["blocks", 1, "global_layers"], 5000)),
     P + "blocks[1]: blocks plus FIT global layers exceed the cap of 4096 layers"),
    (edited(setitem(["mlp_hidden"], 2 ** 31 - 1)), P + "the model has 618475296960 parameters, "
     "above the cap of 17179869184 (2^34, 64 GiB as f32)"),
    ('{"d_model": 1, "d_model": 2}', P + "duplicate key 'd_model'"),
    (edited(setitem(["blocks", 3], {"mixer": "window", "window": 5})).replace(
        '"window": 5}', '"window": 5, "window": 6}', 1),
     P + "blocks[3]: duplicate key 'window'"),
    ("[]", P + "expected a JSON object, got an array"),
]


class ConfigTest(unittest.TestCase):
    def test_valid_config_round_trips(self):
        text = rt.config.config_json(rt.parse_config(BASE))
        self.assertEqual(rt.parse_config_text(text), rt.parse_config(BASE))

    def test_messages(self):
        for text, message in BROKEN:
            with self.subTest(message=message):
                with self.assertRaises(rt.ModelError) as caught:
                    rt.parse_config_text(text, "config.json")
                self.assertEqual(str(caught.exception), message)

    @unittest.skipUnless(os.environ.get("RINGMASTER_BINARY"), "RINGMASTER_BINARY not set")
    def test_messages_match_ringmaster(self):
        with tempfile.TemporaryDirectory() as tmp:
            for text, _ in BROKEN:
                with open(os.path.join(tmp, "config.json"), "w") as f:
                    f.write(text)
                with self.assertRaises(rt.ModelError) as caught:
                    rt.parse_config_text(text, "config.json")
                done = subprocess.run([os.environ["RINGMASTER_BINARY"], "inspect", "."],
                                      cwd=tmp, capture_output=True, text=True)
                theirs = done.stderr.strip().split("invalid_argument: ", 1)[-1]
                self.assertEqual(str(caught.exception), theirs.replace("./config.json",
                                                                       "config.json"))


def write_raw(path, header, body):
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + body)


class SafetensorsTest(unittest.TestCase):
    def test_round_trip(self):
        x = torch.randn(3, 5)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "w.safetensors")
            for dtype, torch_dtype in (("f32", torch.float32), ("bf16", torch.bfloat16),
                                       ("f16", torch.float16)):
                with open(path, "wb") as f:
                    f.write(safetensors.encode([("a", x), ("b", x[0])], dtype, {"k": "v"}))
                got = safetensors.read(path)
                self.assertEqual(list(got), ["a", "b"])
                self.assertTrue(torch.equal(got["a"], x.to(torch_dtype).float()))

    def test_refusals(self):
        f4 = struct.pack("<2f", 1.0, 2.0)
        cases = [
            ({"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}, f4, "unknown dtype"),
            ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, f4, "do not hold"),
            ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, f4, "gap"),
            ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, f4, "tensors cover"),
            ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
             struct.pack("<2f", 1.0, float("nan")), r"element \[1\] is nan"),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "w.safetensors")
            for header, body, words in cases:
                write_raw(path, header, body)
                with self.assertRaisesRegex(rt.ModelError, words):
                    safetensors.read(path)
            with open(path, "wb") as f:
                f.write(struct.pack("<Q", 1000) + b"{}")
            with self.assertRaisesRegex(rt.ModelError, "longer than the file"):
                safetensors.read(path)


class ModelDirTest(unittest.TestCase):
    def test_save_replaces_and_load_checks_shapes(self):
        model = rt.init_weights(rt.Model(BASE), seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            target = os.path.join(tmp, "m")
            rt.save(model, target)
            rt.save(model, target, dtype="bf16")
            self.assertEqual(sorted(os.listdir(tmp)), ["m"])  # no temporary left behind
            self.assertEqual(sorted(os.listdir(target)), ["config.json", "weights.safetensors"])
            rt.load(target)
            other = dict(BASE, d_model=24)
            with open(os.path.join(target, "config.json"), "w") as f:
                json.dump(other, f)
            with self.assertRaisesRegex(rt.ModelError, "tensor 'embed': shape"):
                rt.load(target)


class AtlasTest(unittest.TestCase):
    def test_closed_form_gradient_is_autograd(self):
        torch.manual_seed(0)
        for degree in (1, 2):
            d_phi = 3 + 9 if degree == 2 else 3
            W1 = torch.randn(2, 5, d_phi, dtype=torch.float64, requires_grad=True)
            W2 = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
            phi_k = atlas.features(atlas.l2norm(torch.randn(2, 7, 3, dtype=torch.float64)), degree)
            v = torch.randn(2, 7, 3, dtype=torch.float64)
            weight = torch.rand(2, 7, dtype=torch.float64)
            memory = atlas.silu(phi_k @ W1.transpose(-1, -2)) @ W2.transpose(-1, -2)
            loss = (weight * ((memory - v) ** 2).sum(-1)).sum()
            want = torch.autograd.grad(loss, (W1, W2))
            got = atlas.omega_grad(W1, W2, phi_k, v, weight)
            for g, w in zip(got, want):
                self.assertLess((g - w).abs().max().item(), 1e-12)

    def test_training_reaches_through_the_chain(self):
        model = rt.init_weights(rt.Model(BASE), seed=2)
        ids = torch.randint(0, 4, (2, 37))
        (-model.log_probs(ids).mean()).backward()
        a = model.blocks[2].atlas
        for name in ("w1_init", "w2_init", "b_gates", "w_gates", "wk", "wv"):
            grad = getattr(a, name).grad
            self.assertTrue(torch.isfinite(grad).all(), name)
            self.assertGreater(grad.abs().max().item(), 0, name)

    def test_float64_module_runs(self):
        model = rt.init_weights(rt.Model(BASE), seed=3).double()
        hf, _ = model(model.with_bos(torch.randint(0, 5, (1, 20))))
        self.assertEqual(hf.dtype, torch.float64)


if __name__ == "__main__":
    torch.set_num_threads(1)
    unittest.main()
