#include "predict/memory_model.h"

#include <algorithm>

#include "model/tensor_names.h"

namespace ringmaster::predict {
namespace {

constexpr int64_t kF32 = 4;
constexpr int64_t kResultChunkBytes = int64_t{4} << 20;  // JobFlags::chunk_bytes' default

// W1 W2 of every memory head: H (hid d_phi + hd hid) floats.
int64_t atlas_weights_floats(const model::ModelConfig& c, const model::BlockConfig& b) {
  const int64_t d_phi = model::atlas_d_phi(c.head_dim, b.feature_degree);
  return c.n_heads * (b.memory_hidden * d_phi + c.head_dim * b.memory_hidden);
}

}  // namespace

int64_t atlas_handoff_bytes(const model::ModelConfig& c, const model::BlockConfig& b) {
  const int64_t d_phi = model::atlas_d_phi(c.head_dim, b.feature_degree);
  // Fast weights and momentum, plus the Omega window's tail rows (phi(k), v, gamma) per head.
  return 2 * atlas_weights_floats(c, b) * kF32 +
         c.n_heads * (b.omega_window - 1) * (d_phi + c.head_dim + 1) * kF32;
}

StatusOr<RankMemory> predict_memory(const PlannedJob& job, const Hardware& hw) {
  RM_ASSIGN_OR_RETURN(const int64_t n, busiest_rank_tokens(job));
  return predict_memory_at(job, hw, n);
}

StatusOr<int64_t> most_rank_tokens_within(const PlannedJob& job, const Hardware& hw,
                                          int64_t limit) {
  auto fits = [&](int64_t n) -> StatusOr<bool> {
    RM_ASSIGN_OR_RETURN(const RankMemory memory, predict_memory_at(job, hw, n));
    return memory.peak_bytes <= limit;
  };
  // The peak grows with n, so the answer is where fits() turns false: in (lo, hi], fits(lo).
  int64_t lo = 0, hi = job.tokens;
  RM_ASSIGN_OR_RETURN(const bool all_fit, fits(hi));
  if (all_fit) return hi;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    RM_ASSIGN_OR_RETURN(const bool mid_fits, fits(mid));
    (mid_fits ? lo : hi) = mid;
  }
  return lo;
}

StatusOr<RankMemory> predict_memory_at(const PlannedJob& job, const Hardware& hw, int64_t n) {
  const model::ModelConfig& c = job.config;
  RM_ASSIGN_OR_RETURN(const model::MemoryEstimate base,
                      model::memory_estimate(c, n * job.workers, job.workers));
  RankMemory m;
  m.tokens_per_rank = n;
  m.process_bytes = hw.process_bytes;
  m.weight_bytes = base.weight_bytes;
  m.activation_bytes = base.activation_bytes;
  m.buffer_bytes = n * 24 + kResultChunkBytes;
  const int64_t fixed = m.process_bytes + m.weight_bytes + m.activation_bytes + m.buffer_bytes;
  m.peak_bytes = fixed;
  const int64_t kv_row = 2 * c.kv_dim() * kF32;  // one token's K and V
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const model::BlockConfig& b = c.blocks[i];
    BlockMemory bm;
    switch (b.mixer) {
      case model::MixerKind::kAttention: {
        const int64_t U = ulysses_group(job), R = job.workers / U;
        const int64_t moved_kv = moved_kv_dim(job);
        if (U > 1) bm.transient_bytes = 2 * n * (2 * c.q_dim() + 2 * moved_kv) * kF32;
        if (R > 1 || U == 1) {
          // The ring over the group's U n tokens of 1/U of the heads.
          const int64_t packed = n * (2 * moved_kv * kF32 + 12 * U);
          bm.transient_bytes += n * (c.q_dim() + 2 * c.n_heads) * kF32 + packed * (R > 1 ? 4 : 1);
        }
        bm.cache_bytes = n * kv_row;
        break;
      }
      case model::MixerKind::kWindow:
        bm.transient_bytes = b.window * kv_row;
        bm.cache_bytes = std::min(b.window, n) * kv_row;
        break;
      case model::MixerKind::kLocal:
        bm.cache_bytes = std::min(b.group, n) * kv_row;
        break;
      case model::MixerKind::kFit: {
        const int64_t latents = fit_latent_tokens(job, b);
        bm.transient_bytes = 3 * latents * c.d_model * kF32;
        bm.cache_bytes = b.global_layers * latents * kv_row;
        break;
      }
      case model::MixerKind::kAtlas:
        bm.transient_bytes = 4 * atlas_weights_floats(c, b) * kF32 + 2 * atlas_handoff_bytes(c, b);
        bm.cache_bytes = 2 * atlas_weights_floats(c, b) * kF32;
        break;
    }
    if (!job.keeps_caches()) bm.cache_bytes = 0;
    m.cache_bytes += bm.cache_bytes;
    bm.peak_bytes = fixed + m.cache_bytes + bm.transient_bytes;
    if (i == 0 || bm.peak_bytes > m.peak_bytes) {
      m.peak_bytes = bm.peak_bytes;
      m.peak_block = static_cast<int>(i);
    }
    m.blocks.push_back(bm);
  }
  return m;
}

}  // namespace ringmaster::predict
