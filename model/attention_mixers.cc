// The attention, window and local mixers: one projection path (q, k, v with rope at each
// token's position), then a different way to find the keys, then the output projection.
#include <vector>

#include "attention/ring.h"
#include "attention/ulysses.h"
#include "core/cancel.h"
#include "model/halo.h"
#include "model/internal/projection.h"
#include "model/layers.h"
#include "model/mixer.h"

namespace ringmaster::model {
namespace {

struct Projected {
  Tensor q, k, v;  // [n, heads, head_dim], rope applied to q and k
};

Projected project(const ShardContext& ctx, const Tensor& h, const AttnWeights& w,
                  const AttnShape& s) {
  const float* x = h.data<float>();
  const int64_t n = h.dim(0);
  return {
      project_heads(*ctx.pool, x, n, w.wq, s.n_heads, s.head_dim, ctx.pos, s.rope_theta, ctx.stop),
      project_heads(*ctx.pool, x, n, w.wk, s.n_kv_heads, s.head_dim, ctx.pos, s.rope_theta,
                    ctx.stop),
      project_heads(*ctx.pool, x, n, w.wv, s.n_kv_heads, s.head_dim, {}, s.rope_theta, ctx.stop)};
}

// How a mixer finds its keys: globally (ring / Ulysses) or from a halo.
class AttentionFamilyMixer final : public Mixer {
 public:
  AttentionFamilyMixer(AttnWeights w, AttnShape shape, attention::MaskSpec mask,
                       std::function<KeySpan(const comm::RecordLayout&)> span)
      : w_(std::move(w)), shape_(shape), mask_(mask), span_(std::move(span)) {}

  Status forward(const ShardContext& ctx, const Tensor& h, Tensor& out, uint32_t layer) override {
    if (span_) return forward_near(ctx, h, out, layer);
    const Projected p = project(ctx, h, w_, shape_);
    RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, "projections"));
    auto global = ctx.context_parallel == attention::ContextParallel::kRing
                      ? attention::ring_attention(*ctx.comm, *ctx.plan, p.q, p.k, p.v,
                                                  ctx.positions(), mask_, *ctx.backend, layer)
                      : attention::ulysses_attention(*ctx.comm, *ctx.plan, p.q, p.k, p.v,
                                                     ctx.positions(), mask_, *ctx.backend, layer);
    if (!global.ok()) return global.status();
    project_out(*ctx.pool, global->out, w_.wo, out.data<float>(), /*accumulate=*/false);
    return ok_status();
  }

 private:
  // Window and local: keys are this rank's rows plus a halo. Queries go in chunks of
  // kQueryChunk rows, so q and the attention output exist for one chunk at a time: a rank's
  // peak stays at its k, v and residual buffers, not n_local x (q + out) more.
  Status forward_near(const ShardContext& ctx, const Tensor& h, Tensor& out, uint32_t layer) {
    const float* x = h.data<float>();
    const int64_t n = h.dim(0), d = h.dim(1);
    HaloKeys keys;
    {
      // Over all n rows: a long loop on a big shard, so it stops between tiles too.
      Tensor k = project_heads(*ctx.pool, x, n, w_.wk, shape_.n_kv_heads, shape_.head_dim, ctx.pos,
                               shape_.rope_theta, ctx.stop);
      Tensor v = project_heads(*ctx.pool, x, n, w_.wv, shape_.n_kv_heads, shape_.head_dim, {},
                               shape_.rope_theta, ctx.stop);
      RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, "key projections"));
      RM_ASSIGN_OR_RETURN(keys, gather_halo(ctx, k, v, span_(*ctx.layout), layer));
    }
    const std::span<const int64_t> pos = ctx.pos;
    const std::span<const int32_t> seq = ctx.seq;
    for (int64_t begin = 0; begin < n; begin += kQueryChunk) {
      RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, "query chunk at " + std::to_string(begin)));
      const int64_t rows = std::min(kQueryChunk, n - begin);
      const auto b = static_cast<size_t>(begin), r = static_cast<size_t>(rows);
      const Tensor q = project_heads(*ctx.pool, x + begin * d, rows, w_.wq, shape_.n_heads,
                                     shape_.head_dim, pos.subspan(b, r), shape_.rope_theta);
      const attention::Positions q_pos{pos.subspan(b, r), seq.subspan(b, r)};
      RM_ASSIGN_OR_RETURN(
          attention::BlockResult result,
          attention::attend_block(*ctx.backend, q, keys.k, keys.v, q_pos, keys.positions(), mask_));
      project_out(*ctx.pool, result.out, w_.wo, out.data<float>() + begin * d,
                  /*accumulate=*/false);
    }
    return ok_status();
  }

  static constexpr int64_t kQueryChunk = 16384;

  AttnWeights w_;
  AttnShape shape_;
  attention::MaskSpec mask_;
  std::function<KeySpan(const comm::RecordLayout&)> span_;  // empty: global attention
};

}  // namespace

std::unique_ptr<Mixer> make_attention_mixer(AttnWeights w, AttnShape shape, bool causal) {
  return std::make_unique<AttentionFamilyMixer>(std::move(w), shape,
                                                attention::MaskSpec{.causal = causal}, nullptr);
}

std::unique_ptr<Mixer> make_window_mixer(AttnWeights w, AttnShape shape, bool causal,
                                         int64_t window) {
  return std::make_unique<AttentionFamilyMixer>(
      std::move(w), shape, attention::MaskSpec{.causal = causal, .window = window},
      [=](const comm::RecordLayout& layout) { return window_key_span(layout, window, causal); });
}

std::unique_ptr<Mixer> make_local_mixer(AttnWeights w, AttnShape shape, bool causal,
                                        int64_t group) {
  return std::make_unique<AttentionFamilyMixer>(
      std::move(w), shape, attention::MaskSpec{.causal = causal, .group = group},
      [=](const comm::RecordLayout& layout) { return group_key_span(layout, group); });
}

}  // namespace ringmaster::model
