// predict/memory_model.h: what the busiest rank of a job holds, block by block, before the job
// runs. Builds on model::memory_estimate (`ringmaster inspect`), adding what a rank holds beyond
// the model: the process itself, buffers, caches kept for decoding, and each block's transient
// exchange buffers, so the peak names the block where it happens.
//
// With n = busiest_rank_tokens (predict/job.h), fp32 activations (4 bytes) and d = d_model,
// q = n_heads * head_dim, kv = n_kv_heads * head_dim:
//   process     = hw.process_bytes (binary, libraries, UCX, thread stacks)
//   weights     = param_count * 4                        model::memory_estimate
//   activations = n (3 d + 2 q + 2 kv) * 4                model::memory_estimate
//   buffers     = n * 24 (stream index, position, record, id) + one 4 MiB result chunk; the
//                 result rows (embed: n d * 4) are copied after the forward has freed more than
//                 that, so they never add to the peak
//   transient, the block's exchange buffers while it runs (m = n (2 kv * 4 + 12): one packed K,V
//   block with its positions, attention/ring.cc):
//     attention, ring     n (q + 2 H) * 4 + m, and with P > 1 another 3 m
//                         a partial (out, lse) beside the running lse, the packed block in use,
//                         and with peers the one arriving (ALGORITHMS 2.1) and the sealed copies
//                         of the message sent and received (comm/authenticated_comm.h)
//     attention, ulysses  2 n (2 q + 2 kv) * 4         all-to-all send and receive (3.1)
//     attention, hybrid   ulysses' with U for P, plus the ring's over the group's U n tokens
//                         of 1/U of the heads: n (q + 2 H) * 4 + m_U, and with R > 1 another
//                         3 m_U, m_U = n (2 kv * 4 + 12 U) (3.2); kv reads q where U does not
//                         divide the kv heads
//     window              w * 2 kv * 4                 the left halo
//     local               0
//     fit                 3 G m d * 4                  every rank's copy of all latents (5.6 A);
//                         G: the groups of every record (ceil(L / group) for one)
//     atlas               4 H (hid d_phi + hd hid) * 4 + 2 * hand-off message (6.13)
//   caches, kept after prefill by generate and variants (ARCHITECTURE.md), summed over blocks:
//     attention n * 2 kv * 4;  window min(w, n) * 2 kv * 4;  local min(group, n) * 2 kv * 4;
//     fit  G m * 2 kv * 4 per global layer;  atlas  its end state, 2 H (hid d_phi + hd hid) * 4
//   peak(b)     = process + weights + activations + buffers + caches of blocks <= b + transient(b)
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "predict/hardware.h"
#include "predict/job.h"

namespace ringmaster::predict {

struct BlockMemory {
  int64_t transient_bytes = 0;
  int64_t cache_bytes = 0;  // this block's cache (0 unless the task keeps caches)
  int64_t peak_bytes = 0;   // the rank's total while this block runs
};

struct RankMemory {
  int64_t tokens_per_rank = 0;
  int64_t process_bytes = 0;
  int64_t weight_bytes = 0;
  int64_t activation_bytes = 0;
  int64_t buffer_bytes = 0;
  int64_t cache_bytes = 0;  // all blocks' caches
  std::vector<BlockMemory> blocks;
  int64_t peak_bytes = 0;  // max over blocks (the sum of the fixed parts without blocks)
  int peak_block = -1;     // the block of the peak; -1 without blocks
};

// Bytes one rank sends when it hands an atlas block's state to the next rank (ALGORITHMS 6.13):
//   H [2 (hid d_phi + hd hid) * 4  +  (omega_window - 1)(d_phi + hd + 1) * 4]
int64_t atlas_handoff_bytes(const model::ModelConfig& config, const model::BlockConfig& block);

// REQUIRES: the job's config is valid. Errors: those of busiest_rank_tokens.
StatusOr<RankMemory> predict_memory(const PlannedJob& job, const Hardware& hw);

// What one rank of the job holds when it gets n fed tokens (predict_memory at the busiest
// rank's n). REQUIRES: the job's config is valid; n >= 0.
StatusOr<RankMemory> predict_memory_at(const PlannedJob& job, const Hardware& hw, int64_t n);

// The most fed tokens one rank of the job may hold with its peak within `limit` bytes, at most
// job.tokens; 0 when not even one token fits. What bounds the cut of measured rank weights
// (`run --rank-weights auto --max-memory-per-worker`). REQUIRES: the job's config is valid.
StatusOr<int64_t> most_rank_tokens_within(const PlannedJob& job, const Hardware& hw, int64_t limit);

}  // namespace ringmaster::predict
