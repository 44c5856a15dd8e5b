#include "predict/time_model.h"

#include <algorithm>
#include <cmath>

#include "model/flops.h"
#include "predict/memory_model.h"

namespace ringmaster::predict {
namespace {

constexpr double kF32 = 4;  // b_e

// W_b(L): model FLOPs of block `b` (its mixer and MLP) over one record of L tokens.
double block_flops(const model::ModelConfig& c, const model::BlockConfig& b, double tokens) {
  model::ModelConfig one = c;
  one.blocks = {b};
  const int64_t lengths[] = {static_cast<int64_t>(tokens)};
  return model::forward_flops(one, lengths, /*logits=*/false);
}

// The MLP of a block over `rows` tokens: 2 rows 3 d mlp_hidden.
double mlp_flops(const model::ModelConfig& c, double rows) {
  return 2 * rows * 3 * static_cast<double>(c.d_model) * static_cast<double>(c.mlp_hidden);
}

// The dense part of an attention-family block over `rows` tokens: Q, K, V, O projections
// (2 rows d (2 q + 2 kv), model/flops.h) and the MLP (2 rows 3 d mlp_hidden).
double dense_flops(const model::ModelConfig& c, double rows) {
  const auto d = static_cast<double>(c.d_model);
  return 2 * rows * d * (2 * static_cast<double>(c.q_dim()) + 2 * static_cast<double>(c.kv_dim())) +
         mlp_flops(c, rows);
}

}  // namespace

StatusOr<PrefillTime> predict_prefill(const PlannedJob& job, const Hardware& hardware) {
  const Hardware hw = rates_for(hardware, job.compute);
  const model::ModelConfig& c = job.config;
  RM_ASSIGN_OR_RETURN(const int64_t n_tokens, busiest_rank_tokens(job));
  RM_ASSIGN_OR_RETURN(const double n_critical, critical_rank_tokens(job));
  const auto L = static_cast<double>(job.tokens), n = static_cast<double>(n_tokens);
  const auto P = static_cast<double>(job.workers);
  // Compute follows the critical rank (equal workers: the busiest; weighted: the one that
  // finishes last at its own speed), bytes the busiest.
  const double share = L > 0 ? n_critical / L : 0;
  const double alpha = hw.link_latency, B = hw.link_bandwidth;
  const double kv_row = 2 * static_cast<double>(c.kv_dim()) * kF32;  // K and V of one token
  // Global attention over a U x R mesh (ALGORITHMS 3.2): Ulysses inside groups of U ranks, the
  // ring across R = P / U of them. The ring is U = 1, Ulysses U = P.
  const double U = ulysses_group(job), R = P / U;
  const auto moved_kv = static_cast<double>(moved_kv_dim(job));
  PrefillTime t;
  bool atlas_seen = false;
  for (const model::BlockConfig& b : c.blocks) {
    BlockTime bt;
    bt.kind = b.mixer;
    const double rate = hw.block_rate(b.mixer);
    const double whole = block_flops(c, b, L);
    switch (b.mixer) {
      case model::MixerKind::kAttention:
      case model::MixerKind::kWindow:
      case model::MixerKind::kLocal: {
        const double dense = dense_flops(c, L) * share;
        double pairs = std::max(0.0, whole - dense_flops(c, L)) * share;
        if (b.mixer == model::MixerKind::kAttention && c.causal &&
            job.plan == comm::PlanKind::kContiguous) {
          pairs *= (2 * R - 1) / R;  // ALGORITHMS 2.4: the last group's full block every step
        }
        const double pair_s = rate > 0 ? pairs / rate : pairs / hw.attention_rate();
        bt.compute_s = rate > 0 ? dense / rate + pair_s : dense / hw.flops + pair_s;
        if (job.workers == 1) break;
        if (b.mixer == model::MixerKind::kAttention) {
          // ALGORITHMS 3.1: two all-to-alls in the group, (U - 1)/U of n (2 q + 2 kv) b_e, on
          // the critical path.
          const double a2a =
              n * (2 * static_cast<double>(c.q_dim()) + 2 * moved_kv) * kF32 * (U - 1) / U;
          // ALGORITHMS 2.3 and 2.7: R - 1 ring steps, each hidden behind one block of compute;
          // a step carries the group's U n tokens for 1/U of the moved heads.
          const double step_bytes = n * 2 * moved_kv * kF32;
          const double t_x = alpha + step_bytes / B, t_c = pair_s / R;
          bt.exchange_s =
              (U > 1 ? 2 * (U - 1) * alpha + a2a / B : 0) + (R - 1) * std::max(0.0, t_x - t_c);
          bt.bytes_sent = static_cast<int64_t>(a2a + (R - 1) * step_bytes);
        } else if (b.mixer == model::MixerKind::kWindow) {
          const double sent = std::min(static_cast<double>(b.window), n) * kv_row;
          bt.exchange_s = alpha + sent / B;
          bt.bytes_sent = static_cast<int64_t>(sent);
        }
        break;
      }
      case model::MixerKind::kFit: {
        model::BlockConfig local_only = b;
        local_only.global_layers = 0;
        const double global = whole - block_flops(c, local_only, L);
        const double flops = (whole - global) * share + global;
        bt.compute_s = flops / (rate > 0 ? rate : hw.flops);
        if (job.workers > 1) {
          const auto latents = static_cast<double>(fit_latent_tokens(job, b));
          const double sent = (P - 1) / P * latents * static_cast<double>(c.d_model) * kF32;
          bt.exchange_s = (P - 1) * alpha + sent / B;
          bt.bytes_sent = static_cast<int64_t>(sent);
        }
        break;
      }
      case model::MixerKind::kAtlas: {
        const double r = rate > 0 ? rate : hw.flops;
        bt.compute_s = whole * share / r;
        if (job.workers > 1) {
          const auto handoff = static_cast<double>(atlas_handoff_bytes(c, b));
          const double cell_s = (whole - mlp_flops(c, L)) * share / r;
          // ALGORITHMS 6.13: N_layers + P - 1 stages; the P - 1 are paid once, here.
          if (!atlas_seen) bt.exchange_s = (P - 1) * (cell_s + alpha + handoff / B);
          bt.bytes_sent =
              static_cast<int64_t>(handoff * (job.plan == comm::PlanKind::kZigzag ? 2 : 1));
        }
        atlas_seen = true;
        break;
      }
    }
    t.compute_s += bt.compute_s;
    t.exchange_s += bt.exchange_s;
    t.bytes_sent += bt.bytes_sent;
    t.blocks.push_back(bt);
  }
  if (job.task != Task::kEmbed) {
    // The head's logits: 2 n d V.
    t.compute_s +=
        2 * n * static_cast<double>(c.d_model) * static_cast<double>(c.vocab_size()) / hw.flops;
  }
  t.overhead_s = hw.job_overhead_s + hw.job_s_per_token * L;
  t.total_s = t.compute_s + t.exchange_s + t.overhead_s;
  return t;
}

StatusOr<double> predict_decode_per_token(const PlannedJob& job, const Hardware& hardware) {
  const Hardware hw = rates_for(hardware, job.compute);
  const model::ModelConfig& c = job.config;
  RM_ASSIGN_OR_RETURN(const int64_t n_tokens, busiest_rank_tokens(job));
  const auto L = static_cast<double>(job.tokens), n = static_cast<double>(n_tokens);
  const double bw = hw.memory_bandwidth;
  const double kv_row = 2 * static_cast<double>(c.kv_dim()) * kF32;
  // Every weight is read once per token, as bf16 in bf16 compute.
  const double weight_bytes = job.compute == DType::kBf16 ? 2 : kF32;
  double s = static_cast<double>(model::param_count(c)) * weight_bytes / bw;
  const double hops = job.workers > 1 ? std::ceil(std::log2(static_cast<double>(job.workers))) : 0;
  for (const model::BlockConfig& b : c.blocks) {
    switch (b.mixer) {
      case model::MixerKind::kAttention:
        s += n * kv_row / bw + 2 * hw.link_latency * hops;
        break;
      case model::MixerKind::kWindow:
        s += std::min(static_cast<double>(b.window), L) * kv_row / bw;
        break;
      case model::MixerKind::kLocal:
        s += std::min(static_cast<double>(b.group), L) * kv_row / bw;
        break;
      case model::MixerKind::kFit:
        break;  // WRITE reads m cached latents; a group's READ and GLOBAL are amortised
      case model::MixerKind::kAtlas: {
        const double rate = hw.block_rate(b.mixer) > 0 ? hw.block_rate(b.mixer) : hw.flops;
        const auto chunk = static_cast<double>(b.chunk);
        s += block_flops(c, b, chunk) / chunk / rate;
        break;
      }
    }
  }
  return s;
}

}  // namespace ringmaster::predict
