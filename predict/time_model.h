// predict/time_model.h: how long a job's prefill takes on its busiest rank, block by block, split
// into compute and exposed exchange, and how long one generated token takes afterwards.
//
// Notation of ALGORITHMS.md 0.1: L tokens, P workers, n = the busiest rank's tokens
// (predict/job.h; with --rank-weights the compute terms use the critical rank's n_r max(w) / w_r
// instead, critical_rank_tokens, since rank r runs at w_r / max(w) of the rates below), F the
// achieved FLOP/s (Hardware: flops for dense products, attention_flops for Q K^T and P V, or a
// block kind's measured rate), B the link bandwidth, alpha the link latency, b_e = 4 (activations
// and what crosses ranks are fp32). FLOPs are model/flops.h's.
//
// Compute of block b on the busiest rank, from the block's FLOPs over the whole record, W_b(L):
//   attention   dense/P + pairs/P * imbalance, pairs = 4 (visible pairs) q; imbalance (2.4):
//               (2P - 1)/P for a causal contiguous ring (every step waits for the full block of
//               the last rank), 1 for zigzag, striped, bidirectional and ulysses; over a
//               U x R hybrid mesh the ring's R replaces P: (2R - 1)/R
//   window, local, atlas    W_b(L) * n / L          (the block's work follows its tokens)
//   fit         (W_b(L) - G_b(L)) * n / L + G_b(L)  G_b: the global layers over all latents,
//               which every rank runs redundantly (5.6 option A)
// Exposed exchange (what compute does not hide) and bytes each rank sends:
//   attention, ring     per step: t_x = alpha + 2 n kv b_e / B beside t_c = pair time / P (2.3);
//                       exposed (P - 1) max(0, t_x - t_c); sent (P - 1) 2 n kv b_e (2.7)
//   attention, ulysses  sent n (2 q + 2 kv) b_e (P - 1)/P (3.1), not overlapped (3.3):
//                       exposed 2 (P - 1) alpha + sent / B
//   attention, hybrid   U ranks per Ulysses group, R = P / U groups in the ring (3.2): the
//                       group's all-to-all as ulysses with U for P, then the ring's R - 1 steps
//                       as ring with R for P (a step carries U n tokens of 1/U of the heads:
//                       the same 2 n kv b_e). U = 1 is the ring, U = P ulysses. Where U does
//                       not divide the kv heads, kv reads q (K/V copied per query head)
//   window              one halo, min(w, n) 2 kv b_e: exposed alpha + sent / B (P > 1)
//   local               nothing (groups never straddle ranks)
//   fit                 all-gather of latents: sent (P - 1)/P G m d b_e, exposed
//                       (P - 1) alpha + sent / B (5.6)
//   atlas               the state chain (6.13): the first atlas block of the stack waits for
//                       the P - 1 cells before it, (P - 1)(t_cell + alpha + S / B) with t_cell
//                       the mixer's compute and S = atlas_handoff_bytes; later atlas blocks
//                       ride the same wavefront (N_layers + P - 1 stages) and wait no more.
//                       Sent S per record piece (zigzag: 2 pieces)
//   every block's MLP   2 n 3 d mlp_hidden / F, local
// Prefill = sum over blocks of (compute + exposed) + the head (score: 2 n d V / F)
//           + hw.job_overhead_s + hw.job_s_per_token * L   (what `bench calibrate` measures a
//           whole job to need beyond the blocks: start, input, result rows)
//
// Decode, per generated token, after prefill (7.3), on the rank that owns the tail:
//   weights / BW_mem                             every weight read once (matrix-vector products)
//   + per attention block: n 2 kv b_e / BW_mem   each rank streams its K/V shard in parallel
//                          + 2 alpha ceil(log2 P) the query out and the partials back
//   + per window / local block: min(w or group, L) 2 kv b_e / BW_mem
//   + per atlas block: W_b(chunk) / chunk / F     the memory's update, amortised per token
// With --compute-dtype bf16 every F above is the Hardware's bf16 rate where measured
// (rates_for), and decode reads each weight as 2 bytes.
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "predict/hardware.h"
#include "predict/job.h"

namespace ringmaster::predict {

struct BlockTime {
  model::MixerKind kind = model::MixerKind::kAttention;
  double compute_s = 0;
  double exchange_s = 0;  // exposed: waiting on peers that compute did not hide
  int64_t bytes_sent = 0;
};

struct PrefillTime {
  std::vector<BlockTime> blocks;
  double compute_s = 0;   // blocks, head
  double exchange_s = 0;  // blocks
  double overhead_s = 0;  // hw.job_overhead_s + hw.job_s_per_token * L
  double total_s = 0;
  int64_t bytes_sent = 0;  // per rank, all blocks
};

// REQUIRES: the job's config is valid and hw passes validate_hardware.
StatusOr<PrefillTime> predict_prefill(const PlannedJob& job, const Hardware& hardware);

// Seconds per generated token once the prompt of job.tokens is prefilled. REQUIRES: as above.
StatusOr<double> predict_decode_per_token(const PlannedJob& job, const Hardware& hardware);

}  // namespace ringmaster::predict
