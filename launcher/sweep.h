// launcher/sweep.h: `ringmaster bench sweep` (scaling runs, one JSON file each, resumable) and
// `ringmaster bench report` (a CSV, a markdown table and PNG plots of a sweep's runs).
//
//   ringmaster bench sweep --workers 1,2,4 --tokens 64k,256k,1m --model M | --attention-check
//       [--repeat 3] [--task embed] [--plan zigzag] [--threads 1] [--hardware hw.json]
//       [--rerun-failed] --out runs/
// runs every (tokens, workers, repeat) as `ringmaster run` in a child process, exactly as a user
// runs it (launcher/bench_jobs.h run_job), and writes runs/<id>.json for each:
//   format "ringmaster-sweep-run/1", id, status ("ok" or "failed", with "error"), config (mode,
//   model, task, plan, context_parallel, tokens, workers, threads, repeat), git_commit, host
//   (name, cpus, load average when the run started), started_at, wall_s (the job's, from its
//   summary.json), tokens_per_s, per-rank means of compute_s and wait_s, bytes_sent and
//   bytes_received summed over ranks, phases (per block kind, per-rank means of the times and
//   sums of the bytes: summary.json's "telemetry"), peak_rss_bytes (per rank, and the max), and
//   predicted (the planner's prefill time, compute, exchange and peak memory per worker for the
//   same job on --hardware, or on predict::typical_hardware() without it).
// A run whose file says "ok" is skipped, so an interrupted sweep resumes where it stopped; a
// failed one is skipped too unless --rerun-failed. The attention check's summary is the one it
// writes beside its .npy (io::check_summary_path).
//
//   ringmaster bench report runs/ [--python /usr/bin/python3]
// reads every runs/*.json that is "ok", groups repeats of one (mode, model, task, plan, tokens,
// workers), and writes runs/report.csv and runs/report.md (one row per group: the mean wall time
// of the repeats, tokens/s, strong-scaling efficiency against the 1-worker row of the same
// tokens, weak-scaling efficiency against the 1-worker row of tokens / workers when there is one,
// compute and wait per rank, bytes, peak memory, predicted time and its ratio to the measured),
// then runs scripts/sweep_plot.py on the CSV for the PNG plots (that script says which).
// Plots are matplotlib's (Debian's python3-matplotlib, installed by scripts/bootstrap): axes,
// legends and log scales for free, where hand-written SVG would re-implement them.
//
// Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace ringmaster::launcher {

struct SweepOptions {
  std::string model_dir;         // --model; empty with attention_check
  bool attention_check = false;  // --attention-check: the attention check job instead
  std::vector<int> workers = {1, 2};
  std::vector<std::string> tokens = {"64k", "256k"};  // 64k = 65,536; 1m = 1,048,576
  int repeat = 1;
  int threads = 1;  // compute threads per worker
  std::string task = "embed";
  std::string plan = "zigzag";
  std::string context_parallel = "ring";
  int ulysses_degree = 0;     // hybrid only; worker counts it does not divide are skipped
  std::string hardware_path;  // for the predictions; empty: predict::typical_hardware()
  bool rerun_failed = false;
  std::string out = "runs";
};

// What a sweep did: runs made now, skipped as done, and failed now.
struct SweepCounts {
  int ran = 0, skipped = 0, failed = 0;
};

// Errors: bad options, or an output directory that cannot be written. A failed run is not an
// error of the sweep (its file says why); the sweep goes on with the next.
StatusOr<SweepCounts> run_sweep(const SweepOptions& options);

// "64k" -> 65536, "1m" -> 1048576, "3000" -> 3000. Errors: not a positive count.
StatusOr<int64_t> parse_token_count(const std::string& text);

struct ReportOptions {
  std::string runs_dir;
  std::string python = "/usr/bin/python3";
  // The plotting script; empty: scripts/sweep_plot.py of the source tree this binary came from.
  std::string plot_script;
  bool plots = true;
};

// The git commit of the source tree this binary was built from ("+dirty" when it has changes),
// or "unknown" outside a git checkout.
std::string source_commit();

// Writes report.csv, report.md and the plots into runs_dir. Errors: no "ok" run, I/O, or the
// plotting script failing (the CSV and the table are written first).
Status run_report(const ReportOptions& options);

}  // namespace ringmaster::launcher
