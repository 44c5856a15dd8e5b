#!/usr/bin/python3
"""The plots of `ringmaster bench report` (launcher/sweep.h), from its report.csv.

Usage: /usr/bin/python3 scripts/sweep_plot.py REPORT.csv OUT_DIR

Writes into OUT_DIR, one PNG per question:
  scaling.png    tokens/s against workers (strong scaling: one line per length), and the
                 parallel efficiency tokens/s(P) / (P tokens/s(1)) of the same rows
  weak.png       weak scaling: wall time against workers at a fixed length per worker (rows whose
                 1-worker partner of tokens / P was run), with its efficiency t(1, L/P) / t(P, L)
  time_split.png per rank: compute and time waiting on peers, each wait split by block kind
  memory.png     peak RSS of the largest worker against workers, measured beside predicted
  predicted.png  the planner's predicted wall time (ringmaster plan) against the measured one
Debian's python3-matplotlib (scripts/bootstrap installs it), Agg backend: no display needed.
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def num(value):
    return float(value) if value not in ("", None) else None


def label_tokens(n):
    n = int(n)
    if n % (1 << 20) == 0:
        return "%dM" % (n >> 20)
    if n % (1 << 10) == 0:
        return "%dK" % (n >> 10)
    return str(n)


def series(rows, key):
    """Rows grouped by key(row), each group sorted by workers."""
    groups = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return {k: sorted(v, key=lambda r: int(r["workers"])) for k, v in sorted(groups.items())}


def name_of(r):
    model = os.path.basename(os.path.normpath(r["model"])) if r["model"] else r["mode"]
    return "%s %s" % (model, r["task"])


def plot_scaling(rows, out):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (name, tokens), group in series(rows, lambda r: (name_of(r), int(r["tokens"]))).items():
        workers = [int(r["workers"]) for r in group]
        label = "%s, %s tokens" % (name, label_tokens(tokens))
        ax1.plot(workers, [num(r["tokens_per_s"]) for r in group], "o-", label=label)
        eff = [(int(r["workers"]), num(r["strong_efficiency"])) for r in group]
        eff = [(w, e) for w, e in eff if e is not None]
        if eff:
            ax2.plot([w for w, _ in eff], [e for _, e in eff], "o-", label=label)
    ax1.set(xlabel="workers", ylabel="tokens/s", title="throughput (strong scaling)")
    ax2.set(xlabel="workers", ylabel="efficiency", title="parallel efficiency, same length",
            ylim=(0, 1.2))
    ax2.axhline(1.0, color="grey", lw=0.8, ls="--")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.set_xticks(sorted({int(r["workers"]) for r in rows}))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "scaling.png"), dpi=110)
    plt.close(fig)


def plot_weak(rows, out):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    per_worker = series(rows, lambda r: (name_of(r), int(r["tokens"]) // int(r["workers"])))
    drawn = False
    for (name, n), group in per_worker.items():
        if len(group) < 2:
            continue
        drawn = True
        label = "%s, %s tokens per worker" % (name, label_tokens(n))
        workers = [int(r["workers"]) for r in group]
        ax1.plot(workers, [num(r["wall_s"]) for r in group], "o-", label=label)
        ax2.plot(workers, [num(r["weak_efficiency"]) or (1.0 if int(r["workers"]) == 1 else None)
                           for r in group], "o-", label=label)
    if not drawn:
        for ax in (ax1, ax2):
            ax.text(0.5, 0.5, "no weak-scaling pairs in this sweep\n(needs tokens L on 1 worker "
                    "and P L on P)", ha="center", va="center", transform=ax.transAxes)
    ax1.set(xlabel="workers", ylabel="wall time (s)", title="weak scaling: tokens per worker fixed")
    ax2.set(xlabel="workers", ylabel="efficiency t(1, L/P) / t(P, L)", title="weak efficiency",
            ylim=(0, 1.2))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "weak.png"), dpi=110)
    plt.close(fig)


def plot_time_split(rows, fields, out):
    kinds = [f.split(":", 1)[1] for f in fields if f.startswith("wait_s:")]
    rows = sorted(rows, key=lambda r: (name_of(r), int(r["tokens"]), int(r["workers"])))
    labels = ["%s\nP=%s" % (label_tokens(r["tokens"]), r["workers"]) for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows) + 2), 4.5))
    x = range(len(rows))
    compute = [num(r["compute_s"]) or 0 for r in rows]
    ax.bar(x, compute, color="#4c72b0", label="compute")
    bottom = list(compute)
    colors = plt.get_cmap("Oranges")
    for i, kind in enumerate(kinds):
        waits = [num(r.get("wait_s:" + kind)) or 0 for r in rows]
        if not any(w > 0 for w in waits):
            continue
        ax.bar(x, waits, bottom=bottom, color=colors(0.35 + 0.6 * i / max(1, len(kinds))),
               label="wait: " + kind)
        bottom = [b + w for b, w in zip(bottom, waits)]
    if not kinds:  # the attention check: one wait, no kinds
        waits = [num(r["wait_s"]) or 0 for r in rows]
        ax.bar(x, waits, bottom=bottom, color="#dd8452", label="wait")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set(ylabel="seconds per rank (mean)", title="where each rank's time went")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "time_split.png"), dpi=110)
    plt.close(fig)


def plot_memory(rows, out):
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, ((name, tokens), group) in enumerate(
            series(rows, lambda r: (name_of(r), int(r["tokens"]))).items()):
        color = "C%d" % (i % 10)
        workers = [int(r["workers"]) for r in group]
        label = "%s, %s tokens" % (name, label_tokens(tokens))
        ax.plot(workers, [num(r["max_peak_rss_mib"]) for r in group], "o-", color=color,
                label=label + " (measured)")
        predicted = [num(r["predicted_peak_mib"]) for r in group]
        if all(p is not None for p in predicted):
            ax.plot(workers, predicted, "x--", color=color, label=label + " (predicted)")
    ax.set(xlabel="workers", ylabel="peak RSS per worker (MiB)", title="memory per worker")
    ax.set_yscale("log")
    ax.set_xticks(sorted({int(r["workers"]) for r in rows}))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "memory.png"), dpi=110)
    plt.close(fig)


def plot_predicted(rows, out):
    fig, ax = plt.subplots(figsize=(5.5, 5))
    pairs = [(num(r["wall_s"]), num(r["predicted_wall_s"]), r) for r in rows]
    pairs = [(m, p, r) for m, p, r in pairs if m and p]
    if pairs:
        for w in sorted({int(r["workers"]) for _, _, r in pairs}):
            pts = [(m, p) for m, p, r in pairs if int(r["workers"]) == w]
            ax.scatter([m for m, _ in pts], [p for _, p in pts], label="P = %d" % w, zorder=3)
        lo = min(min(m, p) for m, p, _ in pairs) * 0.8
        hi = max(max(m, p) for m, p, _ in pairs) * 1.25
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, label="predicted = measured")
        ax.fill_between([lo, hi], [0.75 * lo, 0.75 * hi], [1.33 * lo, 1.33 * hi], color="grey",
                        alpha=0.12, label="0.75 - 1.33")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no predictions (attention check)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set(xlabel="measured wall time (s)", ylabel="predicted wall time (s)",
           title="ringmaster plan against the runs")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "predicted.png"), dpi=110)
    plt.close(fig)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        rows = list(reader)
    if not rows:
        sys.exit(sys.argv[1] + ": no rows")
    out = sys.argv[2]
    plot_scaling(rows, out)
    plot_weak(rows, out)
    plot_time_split(rows, fields, out)
    plot_memory(rows, out)
    plot_predicted(rows, out)
    print("wrote " + ", ".join(os.path.join(out, n) for n in
                               ("scaling.png", "weak.png", "time_split.png", "memory.png",
                                "predicted.png")))


if __name__ == "__main__":
    main()
