// coordinator/job_output.h: how a finished job's rows become files, all at once or not at all.
//
// The JobRunner calls write() off its strand once every row has arrived (a large output takes a
// while and heartbeats must go on), then commit() on the strand, which makes the result appear
// in one rename. An output that is destroyed uncommitted removes everything it wrote, so a failed
// job leaves nothing at the output path (RELIABILITY.md 3.6).
//
//   check job   one .npy file at the --out path: [tokens, n_heads, head_dim]
//   model job   the directory of MODEL.md "Tasks and their outputs" (io/outputs.h)
//
// Thread-compatible: write() and commit() are never concurrent.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "io/outputs.h"

namespace ringmaster::coordinator {

// What only the finished run knows.
struct RunFacts {
  double wall_time_s = 0;
  std::vector<io::WorkerPeak> worker_peaks;  // by rank
};

class JobOutput {
 public:
  virtual ~JobOutput() = default;
  // `rows` is the assembled result: [result rows, row width] f32 (ResultAssembler::output()).
  virtual Status write(const Tensor& rows, const RunFacts& facts) = 0;
  // REQUIRES: write() succeeded.
  virtual Status commit() = 0;
  // The final path, for logs.
  virtual const std::string& path() const = 0;
};

// The attention check's output: `path` as .npy, written to a partial file beside it and renamed.
std::unique_ptr<JobOutput> make_npy_output(std::string path);

// A model job's output directory.
struct ModelOutputSpec {
  std::string dir;
  bool score = false;      // scores.npy, and per-record totals in records.tsv
  bool pool_mean = false;  // embeddings.npy holds one mean row per record
  io::RecordTable records;
  io::JobSummary summary;  // everything but wall time and worker peaks (RunFacts)
};

// Creates the temporary directory now, so a job whose output cannot be written fails before any
// worker spends time on it. An existing DIR is replaced only if it holds a previous result (only
// the files MODEL.md names). Errors: those of io::OutputDir::create.
StatusOr<std::unique_ptr<JobOutput>> make_model_output(ModelOutputSpec spec);

}  // namespace ringmaster::coordinator
