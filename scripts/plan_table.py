#!/usr/bin/python3
"""The README's planner table: `ringmaster plan` for a model at sizes no machine here can run,
one markdown cell per (tokens, workers, link): predicted prefill time, the share of it spent in
exposed exchange, and the memory verdict.

  scripts/plan_table.py --ringmaster build/launcher/ringmaster --config scripts/plan_8b_config.json \
      --flops 400T --memory-bandwidth 3TB/s --memory-per-worker 80GiB
"""
import argparse
import json
import os
import subprocess
import tempfile


def human(seconds):
    if seconds >= 3600:
        return "%.1f h" % (seconds / 3600)
    if seconds >= 60:
        return "%.1f min" % (seconds / 60)
    return "%.1f s" % seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ringmaster", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--tokens", default="10000000,100000000")
    parser.add_argument("--workers", default="8,32,128,512,1024")
    parser.add_argument("--links", default="25Gbit/s,100Gbit/s,400Gbit/s")
    parser.add_argument("--flops", required=True)
    parser.add_argument("--memory-bandwidth", required=True)
    parser.add_argument("--link-latency", default="5us")
    parser.add_argument("--memory-per-worker", required=True)
    args = parser.parse_args()
    links = args.links.split(",")
    print("| tokens | workers | " + " | ".join("prefill at %s" % l for l in links) +
          " | decode / token | memory per worker |")
    print("| --- | --- | " + " | ".join("---" for _ in links) + " | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "plan.json")
        for tokens in args.tokens.split(","):
            for workers in args.workers.split(","):
                cells, plan = [], None
                for link in links:
                    subprocess.run([args.ringmaster, "plan", "--config", args.config, "--tokens",
                                    tokens, "--workers", workers, "--flops", args.flops,
                                    "--memory-bandwidth", args.memory_bandwidth,
                                    "--link-bandwidth", link, "--link-latency", args.link_latency,
                                    "--memory-per-worker", args.memory_per_worker, "--json", out],
                                   check=True, stdout=subprocess.DEVNULL)
                    with open(out) as f:
                        plan = json.load(f)
                    prefill = plan["prefill"]
                    cells.append("%s (%.0f%% exchange)" %
                                 (human(prefill["total_s"]),
                                  100 * prefill["exchange_s"] / prefill["total_s"]))
                verdict = plan["verdict"]
                memory = "%.1f GiB" % (plan["memory"]["peak"] / 2**30)
                if not verdict["fits"]:
                    memory += ", OOM" + (", needs %d" % verdict["workers_needed"]
                                         if verdict["workers_needed"] else "")
                print("| %sM | %s | %s | %.1f ms | %s |" %
                      (int(tokens) // 1000000, workers, " | ".join(cells),
                       plan["decode_s_per_token"] * 1e3, memory))


if __name__ == "__main__":
    main()
