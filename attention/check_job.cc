#include "attention/check_job.h"

#include <chrono>

#include "core/stopwatch.h"

namespace ringmaster::attention {
namespace {

// splitmix64: a counter-based generator, so row i's values need nothing but (seed, i).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [-1, 1), exactly representable (24 random bits).
float value_at(uint64_t seed, uint64_t tensor, uint64_t token, uint64_t element) {
  const uint64_t bits = mix(mix(mix(seed ^ (tensor << 56)) ^ token) ^ element);
  return static_cast<float>(bits >> 40) / static_cast<float>(1 << 23) - 1.0f;
}

void fill_rows(uint64_t seed, uint64_t tensor, const std::vector<int64_t>& tokens, Tensor& t) {
  const int64_t row = t.dim(1) * t.dim(2);
  float* data = t.data<float>();
  for (size_t i = 0; i < tokens.size(); ++i) {
    for (int64_t e = 0; e < row; ++e) {
      data[static_cast<int64_t>(i) * row + e] =
          value_at(seed, tensor, static_cast<uint64_t>(tokens[i]), static_cast<uint64_t>(e));
    }
  }
}

}  // namespace

void make_check_rows(const CheckJobSpec& spec, const std::vector<int64_t>& tokens, Tensor& q,
                     Tensor& k, Tensor& v) {
  const auto n = static_cast<int64_t>(tokens.size());
  q = Tensor::empty({n, spec.n_heads, spec.head_dim}, DType::kF32);
  k = Tensor::empty({n, spec.n_kv_heads, spec.head_dim}, DType::kF32);
  v = Tensor::empty({n, spec.n_kv_heads, spec.head_dim}, DType::kF32);
  fill_rows(spec.seed, 0, tokens, q);
  fill_rows(spec.seed, 1, tokens, k);
  fill_rows(spec.seed, 2, tokens, v);
}

StatusOr<CheckJobResult> run_check_job(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                       const CheckJobSpec& spec, AttentionBackend& backend,
                                       Device data_device) {
  CheckJobResult result;
  result.tokens = plan.tokens_of(comm.rank());
  Tensor q, k, v;
  make_check_rows(spec, result.tokens, q, k, v);
  if (spec.context_parallel.how == ContextParallel::kRing && !data_device.is_cpu()) {
    RM_ASSIGN_OR_RETURN(q, to_device(backend, q, data_device));
    RM_ASSIGN_OR_RETURN(k, to_device(backend, k, data_device));
    RM_ASSIGN_OR_RETURN(v, to_device(backend, v, data_device));
  }
  // One sequence: a token's position is its global index.
  const Positions positions{result.tokens, {}};
  const MaskSpec mask{.causal = spec.causal};
  const auto start = std::chrono::steady_clock::now();
  DistStats stats;
  // Peers' blocks are checked against the same rule (received_positions.h).
  const comm::RecordLayout layout = comm::RecordLayout::single(plan.num_tokens());
  StatusOr<BlockResult> out = context_parallel_attention(
      spec.context_parallel, comm, plan, q, k, v, positions, mask, backend, 0, &stats, &layout);
  if (!out.ok()) return out.status();
  RM_ASSIGN_OR_RETURN(result.out, to_device(backend, out->out, Device::cpu()));
  result.stats = {seconds_since(start), stats.compute_s, stats.wait_s, stats.bytes_sent};
  return result;
}

StatusOr<CheckJobResult> run_check_job(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                       const CheckJobSpec& spec, ThreadPool& pool) {
  const std::unique_ptr<AttentionBackend> backend = make_cpu_backend(pool);
  return run_check_job(comm, plan, spec, *backend);
}

StatusOr<Tensor> check_job_reference(const CheckJobSpec& spec, ThreadPool& pool) {
  std::vector<int64_t> tokens(static_cast<size_t>(spec.num_tokens));
  for (int64_t i = 0; i < spec.num_tokens; ++i) tokens[static_cast<size_t>(i)] = i;
  Tensor q, k, v;
  make_check_rows(spec, tokens, q, k, v);
  const Positions positions{tokens, {}};
  RM_ASSIGN_OR_RETURN(BlockResult full, attend_block(q, k, v, positions, positions,
                                                     MaskSpec{.causal = spec.causal}, pool));
  return std::move(full.out);
}

}  // namespace ringmaster::attention
