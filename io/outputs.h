// io/outputs.h: what a job leaves in --out DIR (MODEL.md "Tasks and their outputs"), and the
// OutputDir that makes those files appear together or not at all.
//
//   embeddings.npy | scores.npy   written with io/npy.h (NpyWriter for large arrays)
//   generated.fa | generated.txt  write_generated_fasta / write_generated_text (generate)
//   records.tsv                   write_records_tsv: name, offset, length [, nats, bits/token];
//                                 generate: write_generated_records_tsv
//   summary.json                  write_summary_json: model, workers, plan, tokens, time, memory
//                                 [, generate's prefill and decode times]; the attention check
//                                 writes one beside its .npy (check_summary_path)
//
// A job writes every file into OutputDir's temporary sibling of DIR; commit() fsyncs them and
// renames the directory into place in one step. A job that fails, or a process that dies, never
// leaves a partial DIR: the temporary directory is removed by the destructor, or, after a crash,
// by the next OutputDir created for the same DIR on the same host.
//
// Ownership: OutputDir owns its temporary directory until commit(). Thread-safety: the writers
// share nothing; one OutputDir is used by one thread (files inside it may be written by many).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "io/tokens.h"

namespace ringmaster::io {

// The file names of MODEL.md; the only names OutputDir will overwrite in an existing DIR.
inline constexpr std::string_view kEmbeddingsFile = "embeddings.npy";
inline constexpr std::string_view kScoresFile = "scores.npy";
inline constexpr std::string_view kRecordsFile = "records.tsv";
inline constexpr std::string_view kSummaryFile = "summary.json";
inline constexpr std::string_view kGeneratedFastaFile = "generated.fa";
inline constexpr std::string_view kGeneratedTextFile = "generated.txt";
inline constexpr std::string_view kVariantsTsvFile = "variants.tsv";
inline constexpr std::string_view kVariantsVcfFile = "variants.vcf.gz";
inline constexpr std::string_view kVariantsIndexFile = "variants.vcf.gz.csi";

// Shortest text that parses back to exactly `value` ("nan", "inf" for those).
std::string format_double(double value);
// Writes `content` to a new file at `path` (one of an OutputDir's files), checking every step.
// Errors: I/O naming the path.
Status write_output_file(const std::string& path, std::string_view content);

// Writes records.tsv: the header "name\toffset\tlength", then one line per record (offset and
// length count input tokens t1..tn, as RecordSpan does). Errors: a name holding a tab, CR or
// LF (it would break the table), I/O errors naming the path.
Status write_records_tsv(const std::string& path, const RecordTable& records);
// The score task's records.tsv: adds "log_likelihood_nats" (total_nats[r], the sum of the
// record's scores) and "bits_per_token" (-total / (length ln 2)). Numbers are printed in the
// shortest form that reads back to the same double. REQUIRES: total_nats.size() == records.size().
Status write_records_tsv(const std::string& path, const RecordTable& records,
                         std::span<const double> total_nats);
// Per-record sums of `scores` ([num_input_tokens], scores.npy), in double, in input order, so
// the result is the same run after run. REQUIRES: scores covers every record's rows.
std::vector<double> sum_per_record(std::span<const float> scores, const RecordTable& records);

// One record's continuation (MODEL.md "generate").
struct Generation {
  std::vector<int32_t> tokens;  // generated ids, regular ids of the vocabulary (no <eos>)
  double log_likelihood = 0;    // nats: the tokens and a final <eos> if drawn
  bool eos = false;             // stopped at <eos>; else at max_new_tokens
};

// generated.fa: for each record its ">name" line, then its generated bases (ids 0-4 = ACGTN), 80
// a line; a record with nothing generated has its header line only. generated.txt: the generated
// bytes of every record, one after the other (a text input is one record). Errors: a name holding
// CR or LF, I/O naming the path. REQUIRES: generated.size() == records.size(), and every id
// regular in the vocabulary (the coordinator checked the workers' ids).
Status write_generated_fasta(const std::string& path, const RecordTable& records,
                             std::span<const Generation> generated);
Status write_generated_text(const std::string& path, std::span<const Generation> generated);
// generate's records.tsv: "name\tprompt_length\tgenerated\tstop\tlog_likelihood_nats", stop
// being "eos" or "length". Errors and REQUIRES: as write_records_tsv and the writers above.
Status write_generated_records_tsv(const std::string& path, const RecordTable& records,
                                   std::span<const Generation> generated);

// One worker's memory high-water marks.
struct WorkerPeak {
  int rank = 0;
  std::string host;
  int64_t peak_rss_bytes = 0;
  int64_t peak_device_bytes = -1;  // -1: no accelerator used (written as null)
  // generate: the prompts' forward pass and the decode steps; variants: the records' forward
  // pass and the branch steps (worker/branches.h). Written for those tasks only.
  double prefill_s = 0, decode_s = 0;
};

// What one worker's data plane did (its Done: worker/shard_result.h ShardStats), per phase: a
// block kind ("attention", "window", "local", "fit", "atlas"), "decode" or "other". For each,
// wall_s = compute_s + wait_s; wait_s is time blocked on peers (every exchange).
struct PhaseTelemetry {
  std::string name;
  int64_t blocks = 0;
  double wall_s = 0, compute_s = 0, wait_s = 0;
  int64_t bytes_sent = 0, bytes_received = 0;
};
struct WorkerTelemetry {
  int rank = 0;
  double wall_s = 0, compute_s = 0, wait_s = 0;
  int64_t bytes_sent = 0, bytes_received = 0;
  std::vector<PhaseTelemetry> phases;
};

// Everything summary.json holds; the coordinator fills it when the job has succeeded.
struct JobSummary {
  std::string model;                      // model directory as given
  std::string input;                      // input file as given
  std::string task;                       // "embed" or "score"
  std::string vocab;                      // "dna" or "bytes"
  std::string plan;                       // "contiguous", "zigzag" or "striped"
  std::string context_parallel = "ring";  // global attention: "ring", "ulysses" or "hybrid"
  int ulysses_degree = 0;                 // hybrid only (written as null otherwise)
  std::vector<double> rank_weights;  // --rank-weights as given or measured; empty: equal (null)
  std::vector<double> rank_speeds;   // --rank-weights auto: each rank's measured rows/s; else null
  int workers = 0;
  int64_t records = 0;
  int64_t tokens = 0;                    // fed tokens, <bos> included: the work the model did
  int64_t input_tokens = 0;              // t1..tn of every record: the rows of the .npy outputs
  double wall_time_s = 0;                // from job start to the last result received
  std::vector<WorkerPeak> worker_peaks;  // one per rank, by rank
  // generate only: the slowest rank's prompt forward pass and decode steps, and the tokens
  // generated in all.
  struct Decode {
    double prefill_s = 0;
    double decode_s = 0;
    int64_t generated_tokens = 0;
  };
  std::optional<Decode> decode;
  // variants only (MODEL.md "variants"): rows per status, what was computed, and the knobs.
  struct Variants {
    int64_t rows = 0;  // ALT rows of variants.tsv
    int64_t ok = 0;    // scored
    int64_t ref_mismatch = 0;
    int64_t skipped_symbolic = 0;
    int64_t skipped_allele = 0;
    int64_t records_prefilled = 0;  // the job's records (reference records or windows, rc too)
    int64_t branches = 0;
    int64_t branch_tokens = 0;
    std::string mode;  // "full" or "windowed"
    int64_t downstream = 0;
    int64_t context = 0;  // 0: unlimited (written as null)
    bool rc_average = false;
    bool indexed = false;  // variants.vcf.gz.csi written (the input was sorted)
  };
  std::optional<Variants> variants;
  std::vector<WorkerTelemetry> worker_telemetry;  // one per rank, by rank (may be empty)
};

// Writes summary.json (a "format": "ringmaster-summary/1" object with the fields above in that
// order, plus tokens_per_s = tokens / wall_time_s, null when the time is 0; with `decode` also
// generated_tokens, prefill_s, decode_s and decode_tokens_per_s = generated_tokens / decode_s,
// null when decode_s is 0; with `variants` a "variants" object of its fields, context null when
// unlimited). With worker_telemetry, a "telemetry" object: "ranks" (each rank's totals and its
// "phases" by name), and over all ranks "phases" and the totals (seconds summed over ranks:
// rank-seconds; bytes summed). Errors: I/O.
Status write_summary_json(const std::string& path, const JobSummary& summary);
// The text write_summary_json writes.
std::string summary_json(const JobSummary& summary);

// Where the attention check (--out FILE.npy) puts its summary: FILE.summary.json ("x.npy" ->
// "x.summary.json"; a path without .npy gets ".summary.json" appended). Its model fields (model,
// input, vocab) are empty and its task is "check".
std::string check_summary_path(const std::string& npy_path);

class OutputDir {
 public:
  // Makes an empty temporary directory beside `final_path` (same filesystem, so the commit is a
  // rename), after removing temporaries left there by dead processes of this host.
  // `replace_existing` allows replacing an existing DIR, but only one that holds nothing except
  // files with the names above (a previous result), never someone's other files.
  // Errors: DIR exists (and may not be replaced), its parent is missing, mkdir fails.
  static StatusOr<OutputDir> create(const std::string& final_path, bool replace_existing = false);

  OutputDir(OutputDir&& other) noexcept;
  OutputDir& operator=(OutputDir&& other) noexcept;
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;
  // Removes the temporary directory and everything in it unless commit() succeeded.
  ~OutputDir();

  // Where to write the output named `name` ("scores.npy") before commit().
  std::string file(std::string_view name) const;
  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }

  // Fsyncs every file and the directory, then moves it to final_path atomically (an allowed old
  // DIR is swapped out and deleted), and fsyncs the parent. REQUIRES: not yet committed.
  // Errors: I/O; DIR appeared meanwhile and may not be replaced. After an error nothing moved.
  Status commit();
  bool committed() const { return committed_; }

 private:
  OutputDir() = default;
  void discard();  // removes the temporary directory unless committed

  std::string final_path_;
  std::string temp_path_;  // empty once moved from
  bool replace_existing_ = false;
  bool committed_ = false;
};

}  // namespace ringmaster::io
