#!/usr/bin/env python3
"""The package, ringmaster and the float64 oracle agree on models the package saved.

For each model below (all five mixers; dna causal, saved f32; bytes bidirectional with
feature_degree 2 and two fit blocks, saved bf16), the package writes the model directory, then:
  - load(dir) gives back the same module (f32: bit for bit);
  - `ringmaster run --workers 2` (embed, and score for the causal model) matches the loaded
    module's forward within MODEL.md's whole-model tolerance, 1e-4 relative
    (max |ours - theirs| / max |theirs|);
  - tests/reference/model_ref.py (float64, run as a program: the package never imports it)
    matches the module within the same tolerance.

    /usr/bin/python3 python/tests/agreement.py [--ringmaster BIN] [--work DIR]
Without --ringmaster only the oracle is compared. Exit status 1 on any disagreement.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))
import ringmaster_torch as rt  # noqa: E402
from ringmaster_torch.tokens import read_fasta, read_text, write_fasta  # noqa: E402

TOLERANCE = 1e-4
ORACLE = os.path.join(ROOT, "tests", "reference", "model_ref.py")


def config(vocab, causal, blocks):
    return {"format": "ringmaster-model/1", "vocab": vocab, "d_model": 32, "n_heads": 4,
            "n_kv_heads": 2, "head_dim": 8, "mlp_hidden": 48, "norm_eps": 1e-5,
            "rope_theta": 10000.0, "causal": causal, "blocks": blocks}


# Sizes chosen so that groups, chunks and windows straddle the workers' shard boundaries and the
# last group and chunk of a record are short.
CASES = [
    ("dna_causal", "f32", ["embed", "score"], config("dna", True, [
        {"mixer": "attention"},
        {"mixer": "window", "window": 24},
        {"mixer": "local", "group": 32},
        {"mixer": "fit", "group": 32, "latents": 4, "global_layers": 1},
        {"mixer": "atlas", "chunk": 16, "omega_window": 8, "memory_hidden": 16,
         "feature_degree": 1}])),
    ("bytes_bidirectional", "bf16", ["embed"], config("bytes", False, [
        {"mixer": "fit", "group": 40, "latents": 3, "global_layers": 2},
        {"mixer": "atlas", "chunk": 24, "omega_window": 30, "memory_hidden": 8,
         "feature_degree": 2},
        {"mixer": "local", "group": 40},
        {"mixer": "window", "window": 17},
        {"mixer": "attention"},
        {"mixer": "fit", "group": 40, "latents": 3, "global_layers": 0}])),
]


def make_inputs(work):
    rng = np.random.default_rng(3)
    fasta = os.path.join(work, "in.fa")
    write_fasta(fasta, [("rec%d" % i, rng.integers(0, 5, n)) for i, n in enumerate([700, 45, 301])],
                width=60)
    text = os.path.join(work, "in.txt")
    with open(text, "wb") as f:
        f.write(b"Each record is an independent sequence: nothing flows between records.\n" * 6)
    return fasta, text


def module_outputs(model, records, task):
    """What ringmaster writes for `task`, from the module: hf rows or log-probs, concatenated."""
    rows = []
    with torch.no_grad():
        for ids in records:
            ids = torch.from_numpy(ids.astype(np.int64))
            rows.append(model.embed_rows(ids)[0] if task == "embed" else model.log_probs(ids)[0])
    return torch.cat(rows).numpy()


def relative_error(ours, theirs):
    """max |ours - theirs| / max |theirs|; inf when shapes differ or anything is not finite."""
    if ours.shape != theirs.shape or not (np.isfinite(ours).all() and np.isfinite(theirs).all()):
        return float("inf")
    return float(np.abs(ours.astype(np.float64) - theirs).max() / np.abs(theirs).max())


def run(cmd):
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), done.returncode, done.stdout))


def check_case(name, dtype, tasks, cfg, inputs, work, ringmaster):
    model_dir = os.path.join(work, name)
    original = rt.init_weights(rt.Model(cfg), seed=7)
    rt.save(original, model_dir, dtype=dtype)
    model = rt.load(model_dir)
    failures = []
    if dtype == "f32":
        for key, value in original.state_dict().items():
            if not torch.equal(value, model.state_dict()[key]):
                failures.append("%s: %s changed in save/load" % (name, key))
    path = inputs[cfg["vocab"]]
    records = ([ids for _, ids in read_fasta(path)] if cfg["vocab"] == "dna"
               else [read_text(path)])
    npy = {"embed": "embeddings.npy", "score": "scores.npy"}
    for task in tasks:
        ours = module_outputs(model, records, task)
        others = [("oracle", [sys.executable, ORACLE, "--model", model_dir, "--input", path,
                              "--task", task])]
        if ringmaster:
            others.append(("ringmaster", [ringmaster, "--log-level", "warn", "run", "--model",
                                          model_dir, "--input", path, "--task", task,
                                          "--workers", "2", "--quiet"]))
        for who, cmd in others:
            out = os.path.join(work, "%s_%s_%s" % (name, task, who))
            run(cmd + ["--out", out])
            err = relative_error(ours, np.load(os.path.join(out, npy[task])))
            verdict = "ok" if err <= TOLERANCE else "FAIL"
            print("%-20s %-5s %-10s relative error %.3g  %s" % (name, task, who, err, verdict))
            if err > TOLERANCE:
                failures.append("%s %s vs %s: %.3g > %g" % (name, task, who, err, TOLERANCE))
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ringmaster", help="the ringmaster binary (default: oracle only)")
    ap.add_argument("--work", help="scratch directory (default: a temporary one)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or tmp
        os.makedirs(work, exist_ok=True)
        fasta, text = make_inputs(work)
        inputs = {"dna": fasta, "bytes": text}
        failures = []
        for case in CASES:
            failures += check_case(*case, inputs, work, args.ringmaster)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
