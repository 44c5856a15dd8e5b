#include "worker/branches.h"

#include <algorithm>
#include <string>

namespace ringmaster::worker {

Status check_branches(std::span<const BranchSpec> branches, const comm::RecordLayout& layout,
                      io::Vocab vocab) {
  for (size_t i = 0; i < branches.size(); ++i) {
    const BranchSpec& b = branches[i];
    std::string what;
    if (b.record < 0 || b.record >= layout.num_records()) {
      what = "record " + std::to_string(b.record) + " is not a record of the job";
    } else if (b.base < 1 || b.base > layout.length(b.record)) {
      what = "base " + std::to_string(b.base) + " is outside [1, " +
             std::to_string(layout.length(b.record)) + "]";
    } else if (b.tokens.empty()) {
      what = "it has no tokens";
    } else if (std::any_of(b.tokens.begin(), b.tokens.end(), [&](int32_t id) {
                 return id < 0 || id >= io::num_regular_ids(vocab);
               })) {
      what = "a token is not an input id of the model's vocabulary";
    }
    if (!what.empty()) return invalid_argument("branch " + std::to_string(i) + ": " + what);
  }
  return ok_status();
}

std::vector<model::DecodeStream> branch_streams(std::span<const BranchSpec> branches) {
  std::vector<model::DecodeStream> streams;
  streams.reserve(branches.size());
  for (const BranchSpec& b : branches) streams.push_back({b.record, b.base});
  return streams;
}

StatusOr<std::vector<BranchOutcome>> run_branches(model::Model& model,
                                                  const model::ShardContext& ctx,
                                                  std::span<const BranchSpec> branches, Tensor hf,
                                                  const BranchProgressFn& progress) {
  const model::DecodeStreams& streams = *ctx.streams;
  const int me = ctx.comm->rank();
  const bool collective = model.decode_is_collective();
  std::vector<BranchOutcome> outcomes;
  std::vector<double> ll(branches.size(), 0.0);

  // The first token of every branch here, from the prefill's row at base - 1.
  const std::vector<int32_t> mine = streams.tailed_by(me);
  if (!mine.empty()) {
    Tensor rows = Tensor::empty({static_cast<int64_t>(mine.size()), hf.dim(1)}, DType::kF32);
    std::vector<int32_t> next;
    for (size_t j = 0; j < mine.size(); ++j) {
      const BranchSpec& b = branches[static_cast<size_t>(mine[j])];
      const int64_t last = ctx.layout->start(b.record) + b.base - 1;
      const auto row =
          std::lower_bound(ctx.tokens.begin(), ctx.tokens.end(), last) - ctx.tokens.begin();
      std::copy_n(hf.const_data<float>() + row * hf.dim(1), hf.dim(1),
                  rows.data<float>() + static_cast<int64_t>(j) * hf.dim(1));
      next.push_back(b.tokens.front());
    }
    std::vector<float> scores(mine.size());
    model.score(rows, next, scores.data(), *ctx.pool);
    for (size_t j = 0; j < mine.size(); ++j) ll[static_cast<size_t>(mine[j])] = scores[j];
  }
  hf = Tensor();

  // Step s feeds token s - 1 of every branch that has a token s to score. Without attention
  // blocks a rank runs only its own branches (nothing is exchanged), so it may stop early.
  size_t steps = 0;
  for (size_t i = 0; i < branches.size(); ++i) {
    if (collective || streams.tail[i] == me) steps = std::max(steps, branches[i].tokens.size() - 1);
  }
  for (size_t s = 1; s <= steps; ++s) {
    model::DecodeStep step;
    step.index = static_cast<uint32_t>(s);
    for (size_t i = 0; i < branches.size(); ++i) {
      if (branches[i].tokens.size() <= s || (!collective && streams.tail[i] != me)) continue;
      step.stream.push_back(static_cast<int32_t>(i));
      step.pos.push_back(branches[i].base + static_cast<int64_t>(s) - 1);
      step.tail.push_back(streams.tail[i]);
    }
    model::index_local_rows(step, me);
    std::vector<int32_t> fed, next;
    for (const size_t i : step.local) {
      const std::vector<int32_t>& tokens = branches[static_cast<size_t>(step.stream[i])].tokens;
      fed.push_back(tokens[s - 1]);
      next.push_back(tokens[s]);
    }
    RM_ASSIGN_OR_RETURN(Tensor step_hf, model.append(ctx, step, fed));
    std::vector<float> scores(next.size());
    model.score(step_hf, next, scores.data(), *ctx.pool);
    for (size_t j = 0; j < step.local.size(); ++j) {
      ll[static_cast<size_t>(step.stream[step.local[j]])] += scores[j];
    }
    if (progress) progress(static_cast<int64_t>(s), static_cast<int64_t>(steps));
  }
  for (const int32_t i : mine) outcomes.push_back({i, ll[static_cast<size_t>(i)]});
  return outcomes;
}

}  // namespace ringmaster::worker
