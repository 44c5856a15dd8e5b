// The attention, window and local mixers: one projection path (q, k, v with rope at each
// token's position), then a different way to find the keys, then the output projection.
#include <vector>

#include "attention/context_parallel.h"
#include "core/cancel.h"
#include "model/halo.h"
#include "model/internal/attention_decode.h"
#include "model/layers.h"
#include "model/mixer.h"

namespace ringmaster::model {
namespace {

struct Projected {
  Tensor q, k, v;  // [n, heads, head_dim], rope applied to q and k
};

// A new tensor on `where`: the host, or the layer backend's device.
StatusOr<Tensor> empty_on(const ShardContext& ctx, Device where, const Shape& shape, DType dtype) {
  if (where.is_cpu()) return Tensor::empty(shape, dtype);
  return ctx.layers->empty(shape, dtype);
}

// Rows [n, heads, head_dim] f32 on `where` of the heads of h W^T, rope at `pos` (empty: none),
// made by ctx.layers (on its device where it has one). Once `stop` is requested they are garbage.
StatusOr<Tensor> project_rows(const ShardContext& ctx, const Tensor& h, const Tensor& w,
                              int64_t heads, const AttnShape& s, std::span<const int64_t> pos,
                              Device where, const std::stop_token& stop) {
  RM_ASSIGN_OR_RETURN(Tensor rows,
                      empty_on(ctx, where, {h.dim(0), heads, s.head_dim}, DType::kF32));
  RM_RETURN_IF_ERROR(ctx.layers->project_heads(h, w, pos, s.rope_theta, rows, stop));
  return rows;
}

// q (on `q_where`), k and v (host rows: the ring's transfers and the decode caches read them)
// of rows h at positions `pos`.
StatusOr<Projected> project(const ShardContext& ctx, const Tensor& h, std::span<const int64_t> pos,
                            const AttnWeights& w, const AttnShape& s, Device q_where,
                            const std::stop_token& stop) {
  Projected p;
  RM_ASSIGN_OR_RETURN(p.q, project_rows(ctx, h, w.wq, s.n_heads, s, pos, q_where, stop));
  RM_ASSIGN_OR_RETURN(p.k, project_rows(ctx, h, w.wk, s.n_kv_heads, s, pos, Device::cpu(), stop));
  RM_ASSIGN_OR_RETURN(p.v, project_rows(ctx, h, w.wv, s.n_kv_heads, s, {}, Device::cpu(), stop));
  return p;
}

// Where a block's queries and attention output stay: on the device h is on when the attention
// backend computes there too (no copy to the host and back), else on the host.
Device query_place(const ShardContext& ctx, const Tensor& h) {
  const Device rows = h.device();
  return !rows.is_cpu() && ctx.backend->device() == rows ? rows : Device::cpu();
}

// Device results of the attention backend are queued on its stream: the layer backend, on its
// own, may read them only once they are final.
Status settle(const ShardContext& ctx, Device where) {
  return where.is_cpu() ? ok_status() : ctx.backend->synchronize();
}

// How a mixer finds its keys: globally (ring / Ulysses / hybrid) or from a halo. While decoding:
// split-K over every rank's cached keys, or the tail rank's own cache
// (internal/attention_decode.h).
class AttentionFamilyMixer final : public Mixer {
 public:
  AttentionFamilyMixer(AttnWeights w, AttnShape shape, attention::MaskSpec mask,
                       std::function<KeySpan(const comm::RecordLayout&)> span,
                       FirstVisible first_visible)
      : w_(std::move(w)),
        shape_(shape),
        mask_(mask),
        span_(std::move(span)),
        first_visible_(std::move(first_visible)) {}

  bool takes_device_rows() const override { return true; }

  Status append(const ShardContext& ctx, const DecodeStep& step, const Tensor& h, Tensor& out,
                uint32_t layer) override {
    if (!mask_.causal) return failed_precondition("decoding needs a causal model");
    const int64_t n = step.num_local();
    std::vector<int64_t> pos(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) pos[static_cast<size_t>(j)] = step.pos[step.local[j]];
    // A step's few rows: the split-K and near caches are host memory, so q is too.
    RM_ASSIGN_OR_RETURN(const Projected p,
                        project(ctx, h, pos, w_, shape_, Device::cpu(), /*stop=*/{}));
    StatusOr<Tensor> o = span_ ? near_.attend(ctx, step, p.q, p.k, p.v, first_visible_)
                               : split_k_.attend(ctx, step, p.q, p.k, p.v, layer);
    if (!o.ok()) return o.status();
    return ctx.layers->project_out(*o, w_.wo, out, /*accumulate=*/false);
  }

  Status forward(const ShardContext& ctx, const Tensor& h, Tensor& out, uint32_t layer) override {
    if (span_) return forward_near(ctx, h, out, layer);
    const Device q_where = query_place(ctx, h);
    RM_ASSIGN_OR_RETURN(Projected p, project(ctx, h, ctx.pos, w_, shape_, q_where, ctx.stop));
    RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, "projections"));
    // With the layout, every block a peer sends is checked against the plan (its positions and
    // records), so a forged block cannot pose as another part of the sequence.
    auto global = attention::context_parallel_attention(ctx.context_parallel, *ctx.comm, *ctx.plan,
                                                        p.q, p.k, p.v, ctx.positions(), mask_,
                                                        *ctx.backend, layer, nullptr, ctx.layout);
    if (!global.ok()) return global.status();
    RM_RETURN_IF_ERROR(settle(ctx, q_where));
    RM_RETURN_IF_ERROR(ctx.layers->project_out(global->out, w_.wo, out, /*accumulate=*/false));
    if (ctx.keep_caches()) split_k_.keep(ctx, std::move(p.k), std::move(p.v));
    return ok_status();
  }

 private:
  // Window and local: keys are this rank's rows plus a halo. Queries go in chunks of
  // kQueryChunk rows, so q and the attention output exist for one chunk at a time: a rank's
  // peak stays at its k, v and residual buffers, not n_local x (q + out) more.
  Status forward_near(const ShardContext& ctx, const Tensor& h, Tensor& out, uint32_t layer) {
    const int64_t n = h.dim(0);
    // bf16 compute (the weights are bf16 then): q, k and v are rounded once as they are made,
    // not per tile in the kernel, and k and v are held and sent at half the bytes.
    const DType rows_dtype = w_.wk.dtype();
    const KeySpan span = span_(*ctx.layout);
    HaloKeys keys = halo_keys(ctx, span, shape_.n_kv_heads, shape_.head_dim, rows_dtype);
    // Over all n rows: a long loop on a big shard, so it stops between tiles too.
    LayerBackend& layers = *ctx.layers;
    RM_RETURN_IF_ERROR(
        layers.project_heads(h, w_.wk, ctx.pos, shape_.rope_theta, keys.k.rows(0, n), ctx.stop));
    RM_RETURN_IF_ERROR(
        layers.project_heads(h, w_.wv, {}, shape_.rope_theta, keys.v.rows(0, n), ctx.stop));
    RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, "key projections"));
    RM_RETURN_IF_ERROR(exchange_halo(ctx, span, layer, keys));
    if (ctx.keep_caches()) near_.keep(ctx, keys, first_visible_);
    // Every query chunk reads all the keys: they go to the attention backend's device once per
    // block, not once per chunk.
    attention::AttentionBackend& backend = *ctx.backend;
    RM_ASSIGN_OR_RETURN(const Tensor k, attention::to_device(backend, keys.k, backend.device()));
    RM_ASSIGN_OR_RETURN(const Tensor v, attention::to_device(backend, keys.v, backend.device()));
    const attention::Positions k_pos = keys.positions();
    const std::span<const int64_t> pos = ctx.pos;
    const std::span<const int32_t> seq = ctx.seq;
    // One q and one result buffer serve every chunk: fresh ones had their pages faulted in and
    // zeroed by the kernel again for every chunk (in perf, a quarter of a job's page zeroing).
    const Device q_where = query_place(ctx, h);
    const int64_t heads = shape_.n_heads, hd = shape_.head_dim, chunk = std::min(kQueryChunk, n);
    RM_ASSIGN_OR_RETURN(const Tensor q_rows,
                        empty_on(ctx, q_where, {chunk, heads, hd}, rows_dtype));
    RM_ASSIGN_OR_RETURN(const Tensor out_rows,
                        backend.empty({chunk, heads, hd}, DType::kF32, q_where));
    RM_ASSIGN_OR_RETURN(const Tensor lse_rows, backend.empty({chunk, heads}, DType::kF32, q_where));
    for (int64_t begin = 0; begin < n; begin += kQueryChunk) {
      RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, "query chunk at " + std::to_string(begin)));
      const int64_t end = std::min(n, begin + kQueryChunk), rows = end - begin;
      const auto b = static_cast<size_t>(begin), r = static_cast<size_t>(rows);
      const Tensor q = q_rows.rows(0, rows);
      RM_RETURN_IF_ERROR(layers.project_heads(h.rows(begin, end), w_.wq, pos.subspan(b, r),
                                              shape_.rope_theta, q, {}));
      attention::BlockResult result{out_rows.rows(0, rows), lse_rows.rows(0, rows)};
      const attention::Positions q_pos{pos.subspan(b, r), seq.subspan(b, r)};
      RM_RETURN_IF_ERROR(backend.attend_block_into(q, k, v, q_pos, k_pos, mask_, result));
      RM_RETURN_IF_ERROR(settle(ctx, q_where));
      RM_RETURN_IF_ERROR(
          layers.project_out(result.out, w_.wo, out.rows(begin, end), /*accumulate=*/false));
    }
    return ok_status();
  }

  static constexpr int64_t kQueryChunk = 16384;

  AttnWeights w_;
  AttnShape shape_;
  attention::MaskSpec mask_;
  std::function<KeySpan(const comm::RecordLayout&)> span_;  // empty: global attention
  FirstVisible first_visible_;  // window, local: the first key a query at a position sees
  SplitKCache split_k_;
  NearCache near_;
};

}  // namespace

std::unique_ptr<Mixer> make_attention_mixer(AttnWeights w, AttnShape shape, bool causal) {
  return std::make_unique<AttentionFamilyMixer>(
      std::move(w), shape, attention::MaskSpec{.causal = causal}, nullptr, nullptr);
}

std::unique_ptr<Mixer> make_window_mixer(AttnWeights w, AttnShape shape, bool causal,
                                         int64_t window) {
  return std::make_unique<AttentionFamilyMixer>(
      std::move(w), shape, attention::MaskSpec{.causal = causal, .window = window},
      [=](const comm::RecordLayout& layout) { return window_key_span(layout, window, causal); },
      [=](int64_t p) { return std::max<int64_t>(0, p - window + 1); });
}

std::unique_ptr<Mixer> make_local_mixer(AttnWeights w, AttnShape shape, bool causal,
                                        int64_t group) {
  return std::make_unique<AttentionFamilyMixer>(
      std::move(w), shape, attention::MaskSpec{.causal = causal, .group = group},
      [=](const comm::RecordLayout& layout) { return group_key_span(layout, group); },
      [=](int64_t p) { return p / group * group; });
}

}  // namespace ringmaster::model
