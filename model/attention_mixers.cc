// The attention, window and local mixers: one projection path (q, k, v with rope at each
// token's position), then a different way to find the keys, then the output projection.
#include <vector>

#include "attention/ring.h"
#include "attention/ulysses.h"
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
  return {project_heads(*ctx.pool, x, n, w.wq, s.n_heads, s.head_dim, ctx.pos, s.rope_theta),
          project_heads(*ctx.pool, x, n, w.wk, s.n_kv_heads, s.head_dim, ctx.pos, s.rope_theta),
          project_heads(*ctx.pool, x, n, w.wv, s.n_kv_heads, s.head_dim, {}, s.rope_theta)};
}

// How a mixer finds its keys: globally (ring / Ulysses) or from a halo.
class AttentionFamilyMixer final : public Mixer {
 public:
  AttentionFamilyMixer(AttnWeights w, AttnShape shape, attention::MaskSpec mask,
                       std::function<KeySpan(const comm::RecordLayout&)> span)
      : w_(std::move(w)), shape_(shape), mask_(mask), span_(std::move(span)) {}

  Status forward(const ShardContext& ctx, const Tensor& h, Tensor& out, uint32_t layer) override {
    const Projected p = project(ctx, h, w_, shape_);
    attention::BlockResult result;
    if (!span_) {
      auto global = ctx.distribution == attention::Distribution::kRing
                        ? attention::ring_attention(*ctx.comm, *ctx.plan, p.q, p.k, p.v,
                                                    ctx.positions(), mask_, *ctx.pool, layer)
                        : attention::ulysses_attention(*ctx.comm, *ctx.plan, p.q, p.k, p.v,
                                                       ctx.positions(), mask_, *ctx.pool, layer);
      if (!global.ok()) return global.status();
      result = std::move(*global);
    } else {
      RM_ASSIGN_OR_RETURN(HaloKeys keys, gather_halo(ctx, p.k, p.v, span_(*ctx.layout), layer));
      RM_ASSIGN_OR_RETURN(result, attention::attend_block(p.q, keys.k, keys.v, ctx.positions(),
                                                          keys.positions(), mask_, *ctx.pool));
    }
    project_out(*ctx.pool, result.out, w_.wo, out.data<float>(), /*accumulate=*/false);
    return ok_status();
  }

 private:
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
