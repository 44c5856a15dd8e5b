// The attention, window and local mixers: one projection path (q, k, v with rope at each
// token's position), then a different way to find the keys, then the output projection.
#include <vector>

#include "attention/ring.h"
#include "attention/ulysses.h"
#include "model/halo.h"
#include "model/layers.h"
#include "model/mixer.h"

namespace ringmaster::model {
namespace {

struct Projected {
  Tensor q, k, v;  // [n, heads, head_dim], rope applied to q and k
};

Projected project(const ShardContext& ctx, const Tensor& h, const AttnWeights& w,
                  const AttnShape& s) {
  const int64_t n = h.dim(0);
  Projected p{Tensor::empty({n, s.n_heads, s.head_dim}, DType::kF32),
              Tensor::empty({n, s.n_kv_heads, s.head_dim}, DType::kF32),
              Tensor::empty({n, s.n_kv_heads, s.head_dim}, DType::kF32)};
  const int64_t d = h.dim(1), tiles = (n + kTokenTile - 1) / kTokenTile;
  ctx.pool->parallel_for(tiles, [&](int64_t t, int) {
    const int64_t begin = t * kTokenTile, rows = std::min(kTokenTile, n - begin);
    const float* x = h.data<float>() + begin * d;
    float* q = p.q.data<float>() + begin * s.n_heads * s.head_dim;
    float* k = p.k.data<float>() + begin * s.n_kv_heads * s.head_dim;
    linear(x, rows, w.wq, q);
    linear(x, rows, w.wk, k);
    linear(x, rows, w.wv, p.v.data<float>() + begin * s.n_kv_heads * s.head_dim);
    const std::span<const int64_t> pos(ctx.pos.data() + begin, static_cast<size_t>(rows));
    apply_rope(q, rows, s.n_heads, s.head_dim, pos, s.rope_theta);
    apply_rope(k, rows, s.n_kv_heads, s.head_dim, pos, s.rope_theta);
  });
  return p;
}

// out = wo concat_h(o_h), token-tiled.
void output_projection(const ShardContext& ctx, const Tensor& o, const Tensor& wo, Tensor& out) {
  const int64_t n = o.dim(0), width = o.dim(1) * o.dim(2), d = out.dim(1);
  const int64_t tiles = (n + kTokenTile - 1) / kTokenTile;
  ctx.pool->parallel_for(tiles, [&](int64_t t, int) {
    const int64_t begin = t * kTokenTile, rows = std::min(kTokenTile, n - begin);
    linear(o.data<float>() + begin * width, rows, wo, out.data<float>() + begin * d);
  });
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
    output_projection(ctx, result.out, w_.wo, out);
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
