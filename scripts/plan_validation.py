#!/usr/bin/python3
"""Checks `ringmaster plan` against measured runs: for each model, token count, worker count
and compute dtype (--compute-dtype f32,bf16: the hardware file's bf16 rates), predicts with `ringmaster plan --hardware HW --json`, runs the same job with
`ringmaster run` (embed, one record of random bases, one thread per worker), and prints the
ratios predicted/measured of the wall time (summary.json's wall_time_s against the plan's
prefill total_s) and of the peak memory (the largest worker peak RSS against the plan's peak).

  scripts/plan_validation.py --ringmaster build/launcher/ringmaster --hardware hw.json \
      --model demo=/tmp/demo_model --model attn=/tmp/attn_model --tokens 65536,262144 \
      --workers 1,2 --work /tmp/planval --json out.json
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time


def write_fasta(path, bases):
    if os.path.exists(path):
        return
    rng = random.Random(7)
    seq = "".join(rng.choices("ACGT", k=bases))
    with open(path + ".tmp", "w") as out:
        out.write(">one random record\n")
        for i in range(0, bases, 60):
            out.write(seq[i:i + 60] + "\n")
    os.rename(path + ".tmp", path)


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ringmaster", required=True)
    parser.add_argument("--hardware", required=True)
    parser.add_argument("--model", action="append", required=True, help="NAME=DIR")
    parser.add_argument("--tokens", default="65536,262144")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--plan", default="zigzag")
    parser.add_argument("--compute-dtype", default="f32", help="f32, bf16 or f32,bf16")
    parser.add_argument("--work", default="/tmp/ringmaster-plan-validation")
    parser.add_argument("--skip", action="append", default=[], help="NAME:TOKENS to leave out")
    parser.add_argument("--json")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows = []
    print("%-6s %8s %2s %5s %9s %9s %6s %9s %9s %6s %5s" %
          ("model", "tokens", "P", "dtype", "pred_s", "wall_s", "t_rat", "pred_MiB", "rss_MiB",
           "m_rat", "load"))
    for spec in args.model:
        name, model_dir = spec.split("=", 1)
        for tokens in [int(t) for t in args.tokens.split(",")]:
            if "%s:%d" % (name, tokens) in args.skip:
                continue
            fasta = os.path.join(args.work, "in_%d.fa" % tokens)
            write_fasta(fasta, tokens)
            jobs = [(int(p), d) for p in args.workers.split(",")
                    for d in args.compute_dtype.split(",")]
            for workers, dtype in jobs:
                tag = "%s_%d_%d_%s" % (name, tokens, workers, dtype)
                plan_json = os.path.join(args.work, tag + ".plan.json")
                subprocess.run([args.ringmaster, "plan", "--model", model_dir, "--tokens",
                                str(tokens), "--workers", str(workers), "--plan", args.plan,
                                "--compute-dtype", dtype, "--hardware", args.hardware,
                                "--json", plan_json],
                               check=True, stdout=subprocess.DEVNULL)
                with open(plan_json) as f:
                    plan = json.load(f)
                out = os.path.join(args.work, tag + ".out")
                subprocess.run(["rm", "-rf", out], check=True)
                load = load_average()
                subprocess.run([args.ringmaster, "--log-level", "warn", "run", "--model",
                                model_dir, "--input", fasta, "--workers", str(workers),
                                "--plan", args.plan, "--compute-dtype", dtype, "--threads", "1",
                                "--out", out, "--quiet"],
                               check=True)
                with open(os.path.join(out, "summary.json")) as f:
                    summary = json.load(f)
                wall = summary["wall_time_s"]
                rss = max(p["peak_rss_bytes"] for p in summary["peak_memory"])
                row = {
                    "model": name, "tokens": tokens, "workers": workers, "compute_dtype": dtype,
                    "predicted_s": plan["prefill"]["total_s"], "measured_s": wall,
                    "time_ratio": plan["prefill"]["total_s"] / wall,
                    "predicted_bytes": plan["memory"]["peak"], "measured_bytes": rss,
                    "memory_ratio": plan["memory"]["peak"] / rss, "load_before": load,
                    "plan": plan["prefill"], "memory": plan["memory"],
                }
                rows.append(row)
                print("%-6s %8d %2d %5s %9.2f %9.2f %6.2f %9.1f %9.1f %6.2f %5.2f" %
                      (name, tokens, workers, dtype, row["predicted_s"], wall, row["time_ratio"],
                       row["predicted_bytes"] / 2**20, rss / 2**20, row["memory_ratio"], load))
                sys.stdout.flush()
                subprocess.run(["rm", "-rf", out], check=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
