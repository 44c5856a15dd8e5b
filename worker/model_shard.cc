#include "worker/model_shard.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "core/stopwatch.h"
#include "model/shard.h"

namespace ringmaster::worker {

StatusOr<std::vector<int32_t>> fed_ids(const model::ShardContext& ctx, const ModelShardSpec& spec,
                                       io::Vocab vocab) {
  const int32_t bos = io::bos_id(vocab);
  if (static_cast<int64_t>(spec.input_ids.size()) != ctx.num_local()) {
    return invalid_argument("the assignment holds " + std::to_string(spec.input_ids.size()) +
                            " token ids for " + std::to_string(ctx.num_local()) +
                            " tokens of this rank");
  }
  std::vector<int32_t> ids(spec.input_ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ctx.pos[i] == 0) {
      ids[i] = bos;
      continue;
    }
    ids[i] = spec.input_ids[i];
    if (ids[i] >= io::num_regular_ids(vocab)) {  // <bos> is fed only at position 0
      return invalid_argument("token id " + std::to_string(ids[i]) + " at stream index " +
                              std::to_string(ctx.tokens[i]) + " is not an input id of the " +
                              "model's vocabulary");
    }
  }
  return ids;
}

namespace {

// Input index of fed token `stream_index` in record `record`: the fed index minus the <bos> of
// this and every earlier record.
int64_t input_index(int64_t stream_index, int32_t record) { return stream_index - record - 1; }

ShardResult embed_rows(const model::ShardContext& ctx, const Tensor& hf) {
  const int64_t d = hf.dim(1);
  int64_t count = 0;
  for (const int64_t p : ctx.pos) count += p > 0 ? 1 : 0;
  ShardResult result;
  result.rows.reserve(static_cast<size_t>(count));
  result.values = Tensor::empty({count, d}, DType::kF32);
  float* out = result.values.data<float>();
  for (int64_t i = 0; i < ctx.num_local(); ++i) {
    const auto k = static_cast<size_t>(i);
    if (ctx.pos[k] == 0) continue;
    std::memcpy(out, hf.const_data<float>() + i * d, static_cast<size_t>(d) * sizeof(float));
    out += d;
    result.rows.push_back(input_index(ctx.tokens[k], ctx.seq[k]));
  }
  return result;
}

StatusOr<ShardResult> score_rows(const model::Model& model, const model::ShardContext& ctx,
                                 const ModelShardSpec& spec, std::span<const int32_t> ids,
                                 const Tensor& hf) {
  const std::vector<comm::TokenRange> ranges = ctx.plan->ranges_of(ctx.comm->rank());
  if (spec.next_after_range.size() != ranges.size()) {
    return invalid_argument("the assignment holds " + std::to_string(spec.next_after_range.size()) +
                            " successors for " + std::to_string(ranges.size()) + " token ranges");
  }
  // next[i]: the id whose log-probability row i predicts, or -1 (the record ends there).
  std::vector<int32_t> next(ids.size(), -1);
  size_t i = 0;
  for (size_t k = 0; k < ranges.size(); ++k) {
    for (int64_t j = 0; j < ranges[k].size(); ++j, ++i) {
      if (j + 1 < ranges[k].size()) {
        next[i] = ctx.pos[i + 1] == 0 ? -1 : ids[i + 1];
      } else {
        next[i] = spec.next_after_range[k];
      }
    }
  }
  for (const int32_t id : next) {
    if (id >= io::num_regular_ids(model.config().vocab)) {
      return invalid_argument("successor id " + std::to_string(id) + " is not an input id");
    }
  }
  std::vector<float> scores(ids.size(), 0.0f);
  model.score(hf, next, scores.data(), *ctx.pool);
  int64_t count = 0;
  for (const int32_t id : next) count += id >= 0 ? 1 : 0;
  ShardResult result;
  result.rows.reserve(static_cast<size_t>(count));
  result.values = Tensor::empty({count, 1}, DType::kF32);
  float* out = result.values.data<float>();
  for (size_t r = 0; r < next.size(); ++r) {
    if (next[r] < 0) continue;
    *out++ = scores[r];
    // The successor is fed token tokens[r] + 1 of the same record.
    result.rows.push_back(input_index(ctx.tokens[r] + 1, ctx.seq[r]));
  }
  return result;
}

}  // namespace

StatusOr<ShardResult> run_model_shard(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                      const ModelShardSpec& spec, ThreadPool& pool,
                                      const model::ProgressFn& progress,
                                      const BranchProgressFn& branch_progress,
                                      model::ShardBackends backends, std::stop_token stop,
                                      comm::TrafficMeter* traffic) {
  const auto start = std::chrono::steady_clock::now();
  RM_ASSIGN_OR_RETURN(model::Model model, model::Model::load(spec.model_dir, spec.compute));
  if (spec.score && !model.config().causal) {
    return invalid_argument(spec.model_dir + ": the score task needs a causal model");
  }
  const comm::RecordLayout layout(spec.record_lengths);
  model::ShardContext ctx = model::make_shard_context(
      comm, plan, layout, pool, spec.context_parallel, std::move(backends), std::move(stop));
  ctx.traffic = traffic;
  if (!spec.branches.empty()) {
    if (!spec.score) return invalid_argument("branches need the score task's prefill");
    RM_RETURN_IF_ERROR(check_branches(spec.branches, layout, model.config().vocab));
    ctx.streams =
        std::make_shared<const model::DecodeStreams>(branch_streams(spec.branches), plan, layout);
  }
  RM_ASSIGN_OR_RETURN(std::vector<int32_t> ids, fed_ids(ctx, spec, model.config().vocab));
  spdlog::info(
      "rank {} of {}: running {} blocks over {} of {} tokens, {} thread(s), attention on {}, "
      "atlas on {}, norms and MLPs on {}",
      comm.rank(), comm.size(), model.config().blocks.size(), ctx.num_local(), plan.num_tokens(),
      pool.num_threads(), ctx.backend->name(), ctx.atlas->name(), ctx.layers->name());
  RM_ASSIGN_OR_RETURN(Tensor hf, model.forward(ctx, ids, progress));
  RM_RETURN_IF_ERROR(model.finish_sends(ctx));
  const double prefill_s = seconds_since(start);
  ShardResult result;
  if (spec.score) {
    RM_ASSIGN_OR_RETURN(result, score_rows(model, ctx, spec, ids, hf));
    if (!spec.branches.empty()) {
      const auto branches_start = std::chrono::steady_clock::now();
      const comm::TrafficMeter::Phase phase(traffic, "decode");  // branch steps are decode steps
      RM_ASSIGN_OR_RETURN(result.branches,
                          run_branches(model, ctx, spec.branches, std::move(hf), branch_progress));
      result.prefill_s = prefill_s;
      result.branch_s = seconds_since(branches_start);
      spdlog::info("rank {}: {} of {} branches in {:.3f} s", comm.rank(), result.branches.size(),
                   spec.branches.size(), result.branch_s);
    }
  } else {
    result = embed_rows(ctx, hf);
  }
  // The rows came from mapped weights: if the file changed meanwhile, they are not the model's.
  RM_RETURN_IF_ERROR(model.check_weights_unchanged());
  result.stats.wall_s = seconds_since(start);
  result.stats.compute_s = result.stats.wall_s;
  return result;
}

}  // namespace ringmaster::worker
