// coordinator/job_output.h: how a finished job's rows become files, all at once or not at all.
//
// The JobRunner calls write() off its strand once every row has arrived (a large output takes a
// while and heartbeats must go on), then commit() on the strand, which makes the result appear
// in one rename. An output that is destroyed uncommitted removes everything it wrote, so a failed
// job leaves nothing at the output path (RELIABILITY.md 3.6).
//
//   check job   one .npy file at the --out path: [tokens, n_heads, head_dim], and its
//               summary.json beside it (io::check_summary_path)
//   model job   the directory of MODEL.md "Tasks and their outputs" (io/outputs.h)
//   generate    the same directory with generated.fa or generated.txt (RunFacts.generated)
//   variants    variants.tsv, variants.vcf.gz (+ .csi) and summary.json from the score rows and
//               RunFacts.branch_log_likelihoods (MODEL.md "variants")
//
// Thread-compatible: write() and commit() are never concurrent.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "coordinator/variant_job.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/outputs.h"

namespace ringmaster::coordinator {

// What only the finished run knows.
struct RunFacts {
  double wall_time_s = 0;
  std::vector<io::WorkerPeak> worker_peaks;           // by rank
  std::vector<io::WorkerTelemetry> worker_telemetry;  // by rank, from each Done
  // --rank-weights auto: the weights the job was cut with and the speeds they came from, by rank.
  std::vector<double> rank_weights;
  std::vector<double> rank_speeds;
  // generate: every record's continuation by record index (it points into the ResultAssembler,
  // which nothing changes while the output is written), and the slowest rank's times.
  std::span<const io::Generation> generated;
  double prefill_s = 0;
  double decode_s = 0;
  // variants: every branch's log-likelihood by branch index (it points into the
  // ResultAssembler, as `generated` does); empty for a job that ran no worker.
  std::span<const double> branch_log_likelihoods;
};

// `summary` with what every job's `facts` add to it: wall time, peaks, telemetry, measured
// weights.
io::JobSummary with_facts(io::JobSummary summary, const RunFacts& facts);

class JobOutput {
 public:
  virtual ~JobOutput() = default;
  // `rows` is the assembled result: [result rows, row width] f32 (ResultAssembler::output());
  // empty for generate, whose records come in `facts`.
  virtual Status write(const Tensor& rows, const RunFacts& facts) = 0;
  // REQUIRES: write() succeeded.
  virtual Status commit() = 0;
  // The final path, for logs.
  virtual const std::string& path() const = 0;
};

// The attention check's output: `path` as .npy and its summary (`summary` with the RunFacts)
// at io::check_summary_path, each written to a partial file beside it and renamed.
std::unique_ptr<JobOutput> make_npy_output(std::string path, io::JobSummary summary);

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

// A generate job's output directory (MODEL.md "generate"): generated.fa (dna) or generated.txt
// (bytes), records.tsv and summary.json with the decode times. Created as make_model_output's.
struct GenerateOutputSpec {
  std::string dir;
  io::Vocab vocab = io::Vocab::kDna;
  io::RecordTable records;  // the prompts
  io::JobSummary summary;   // everything but what RunFacts brings
};
StatusOr<std::unique_ptr<JobOutput>> make_generate_output(GenerateOutputSpec spec);

// A variants job's output directory (MODEL.md "variants"): variants.tsv, variants.vcf.gz with its
// index, and summary.json; no scores.npy and no records.tsv. Per ok row and strand, dll = the
// branch's log-likelihood minus the sum (in double) of the score rows of its reference side
// (VariantBranch::ref_first, ref_count); dll is the mean of the strands with --rc-average, else
// the forward one; rows without a score get '.' in both files, and dll_rc is '.' without
// --rc-average. Created as make_model_output's; a job without workers writes with empty rows.
struct VariantOutputSpec {
  std::string dir;
  std::shared_ptr<const VariantJob> variants;
  io::JobSummary summary;  // everything but what RunFacts brings and the variants counts
};
StatusOr<std::unique_ptr<JobOutput>> make_variant_output(VariantOutputSpec spec);

}  // namespace ringmaster::coordinator
