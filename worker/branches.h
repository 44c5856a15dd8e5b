// worker/branches.h: the branches of a variants job (MODEL.md "variants"; ALGORITHMS.md 7.4),
// run after the prefill of their records.
//
// A branch is the sequence that equals a record's fed tokens [0, base) and then continues with
// its own tokens (a variant's ALT, then the downstream bases). Its log-likelihood
//   LL = sum over k of log p(tokens[k] | fed[0, base), tokens[0, k))
// takes the first term from the prefill's hf at position base - 1 and the others from decode
// steps (model/decode.h): the branch is a decode stream of its record with this base, fed its
// own tokens instead of sampled ones. All branches advance together, one token per step, so a
// step is one batch of rows per rank; each runs on its stream's tail rank (the owner of position
// base - 1), which spreads a record's branches over the ranks that hold it. Every rank knows every
// branch, so the steps need no exchange to plan; only attention blocks talk during a step.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "model/decode.h"
#include "model/model.h"
#include "model/shard.h"
#include "worker/shard_result.h"

namespace ringmaster::worker {

struct BranchSpec {
  int32_t record = 0;
  int64_t base = 0;             // 1 <= base <= the record's fed length
  std::vector<int32_t> tokens;  // input ids, at least one
};

// Errors (kInvalidArgument) name the branch: a record outside the layout, a base outside
// [1, length], no tokens, an id that is not an input id of `vocab`.
Status check_branches(std::span<const BranchSpec> branches, const comm::RecordLayout& layout,
                      io::Vocab vocab);

// The decode streams of the branches, in branch order (stream i is branch i).
std::vector<model::DecodeStream> branch_streams(std::span<const BranchSpec> branches);

// Called after each step with the step and the steps in total.
using BranchProgressFn = std::function<void(int64_t step, int64_t steps)>;

// The outcomes of the branches this rank runs (their tail is here), increasing. REQUIRES:
// model.forward ran over ctx with ctx.streams = branch_streams(branches), and `hf` is its result
// (released once the branches' first tokens are read from it).
// Collective: every rank calls it with the same branches.
StatusOr<std::vector<BranchOutcome>> run_branches(model::Model& model,
                                                  const model::ShardContext& ctx,
                                                  std::span<const BranchSpec> branches, Tensor hf,
                                                  const BranchProgressFn& progress = nullptr);

}  // namespace ringmaster::worker
