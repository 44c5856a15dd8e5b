// launcher/variants_bench.h: `ringmaster bench variants`, variant scoring against the score task
// on the same record in the same run (issue 16's speed table).
//
// On one random record of `bases` bases with `variants` SNVs spread evenly along it, it runs, as a
// user would (`ringmaster run`, coordinator and worker processes):
//   score                      the baseline: one forward pass over the record
//   variants, full context     the record prefilled once, each ALT a branch of 1 + D tokens
//   variants, --rc-average     and the reverse complement's prefill and branches
//   variants, --context C      windows of C + 1 + D bases, packed as records (a subset of the
//                              SNVs: its rate per variant does not depend on how many)
// and reports each job's wall time as a multiple of the score job's, variants per second and,
// for the windowed job, tokens per second (window and branch tokens) against the score job's.
// With --attention-model, for each context length it runs a score job and a full-context variants
// job with a few SNVs, and reports seconds per variant beyond the prefill and each worker's
// branch time (summary.json's per-worker decode_s).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace ringmaster::launcher {

struct VariantsBenchOptions {
  std::string model_dir;
  int64_t bases = 1048576;
  int64_t variants = 1000;
  int64_t downstream = 1024;
  int64_t window_context = 4096, window_downstream = 4096;
  int64_t window_variants = 200;  // the windowed job scores this many of the SNVs, evenly spaced
  int workers = 2;
  int threads = 1;
  std::string attention_model_dir;  // empty: no attention table
  std::vector<int64_t> attention_tokens = {65536, 262144};
  int64_t attention_variants = 16;
  std::string work_dir;  // empty: a fresh directory under /tmp, removed after
  std::string json_path;
};

Status run_variants_bench(const VariantsBenchOptions& options);

}  // namespace ringmaster::launcher
