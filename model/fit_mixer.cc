#include "model/fit_mixer.h"

#include <cblas.h>

#include <functional>
#include <map>
#include <mutex>

#include "attention/backend.h"
#include "core/cancel.h"
#include "model/internal/projection.h"
#include "model/kv_rows.h"

namespace ringmaster::model {
namespace {

// Runs task(i) for i in [0, count) on the pool; the first failure is returned.
Status for_each_index(ThreadPool& pool, int64_t count, const std::function<Status(int64_t)>& task) {
  std::mutex mutex;
  Status first;
  pool.parallel_for(count, [&](int64_t i, int) {
    Status status = task(i);
    if (status.ok()) return;
    std::lock_guard lock(mutex);
    if (first.ok()) first = std::move(status);
  });
  return first;
}

// out = Attn core (softmax(q k^T / sqrt(head_dim)) v per head) of one group's rows with no mask.
Status attend_group(attention::AttentionBackend& backend, const Tensor& q, const Tensor& k,
                    const Tensor& v, Tensor out) {
  const std::vector<int64_t> q_pos(static_cast<size_t>(q.dim(0))),
      k_pos(static_cast<size_t>(k.dim(0)));
  attention::BlockResult result{std::move(out), Tensor::empty({q.dim(0), q.dim(1)}, DType::kF32)};
  return backend.attend_block_into(q, k, v, {q_pos, {}}, {k_pos, {}}, attention::MaskSpec::none(),
                                   result);
}

using GroupTask = std::function<Status(attention::AttentionBackend&, int64_t)>;

// Runs task(backend, i) for i in [0, count). On the CPU the groups run in parallel on the job's
// pool, each on a one-thread backend of its own: that keeps attend_block from sizing scratch for
// every thread of a pool it could not use anyway. On a device they run one after another on the
// job's backend (one thread issues its calls; the kernel spreads a group over the device).
Status for_each_group(const ShardContext& ctx, int64_t count, const GroupTask& task) {
  if (ctx.backend->device().is_cpu()) {
    return for_each_index(*ctx.pool, count, [&](int64_t i) {
      ThreadPool serial(1);
      return task(*attention::make_cpu_backend(serial), i);
    });
  }
  for (int64_t i = 0; i < count; ++i) RM_RETURN_IF_ERROR(task(*ctx.backend, i));
  return ok_status();
}

class FitMixer final : public Mixer {
 public:
  FitMixer(FitWeights w, AttnShape shape, bool causal, float eps, std::shared_ptr<FitStream> stream)
      : w_(std::move(w)), shape_(shape), causal_(causal), eps_(eps), stream_(std::move(stream)) {}

  Status forward(const ShardContext& ctx, const Tensor& h, Tensor& out, uint32_t layer) override {
    // attend_block sets this itself, but the first call may come from several pool threads
    // at once (attend_group); set it here, on one thread, before any of them run.
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    // Cancellation (core/cancel.h) between the phases; each is one pass over this rank's rows.
    RM_RETURN_IF_ERROR(read(ctx, h));
    RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, "fit read"));
    RM_RETURN_IF_ERROR(stream_->share(ctx, layer));
    for (size_t j = 0; j < w_.global.size(); ++j) {
      RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, "fit global layer"));
      RM_RETURN_IF_ERROR(global_layer(ctx, j));
    }
    if (ctx.keep_caches()) keep_write_sources(ctx);
    RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, "fit write"));
    return write(ctx, h, out);
  }

  // Per row of the step: WRITE from the cached source latents, then the row's READ keys join its
  // group's; a row that ends its group computes the group's latents (READ, GLOBAL) into the
  // stream's pending latents and makes them the source of the next group.
  Status append(const ShardContext& ctx, const DecodeStep& step, const Tensor& h, Tensor& out,
                uint32_t /*layer*/) override {
    if (!causal_) return failed_precondition("decoding needs a causal model");
    ThreadPool& pool = *ctx.pool;
    const int64_t n = step.num_local(), hd = shape_.head_dim;
    if (n == 0) return ok_status();
    // Every row's WRITE query and READ key and value in one GEMM each.
    const float* x = h.data<float>();
    const Tensor q = normed_heads(pool, x, n, w_.write_norm_q, w_.write.wq, shape_.n_heads);
    const Tensor k = normed_heads(pool, x, n, w_.read_norm_kv, w_.read.wk, shape_.n_kv_heads);
    const Tensor v = normed_heads(pool, x, n, w_.read_norm_kv, w_.read.wv, shape_.n_kv_heads);
    Tensor o = Tensor::empty({n, shape_.n_heads, hd}, DType::kF32);
    for (int64_t j = 0; j < n; ++j) {
      const size_t i = step.local[static_cast<size_t>(j)];
      const int32_t s = step.stream[i];
      StreamCache& cache = cache_[static_cast<size_t>(s)];
      if (cache.write_k.defined()) {
        RM_RETURN_IF_ERROR(attend_group(*ctx.backend, q.rows(j, j + 1), cache.write_k,
                                        cache.write_v, o.rows(j, j + 1)));
      }
      cache.read.append(k.rows(j, j + 1).data<float>(), v.rows(j, j + 1).data<float>(),
                        &step.pos[i], 1);
      if (stream_->ends_group(step.pos[i])) {
        const int32_t record = (*ctx.streams)[static_cast<size_t>(s)].record;
        RM_RETURN_IF_ERROR(finish_group(ctx, cache, shared_.at(record), stream_->pending(s),
                                        step.pos[i] / stream_->group()));
      }
    }
    project_out(pool, o, w_.write.wo, out.data<float>(), /*accumulate=*/false);
    return ok_status();
  }

 private:
  Tensor heads(ThreadPool& pool, const std::vector<float>& x, const Tensor& w, int64_t n_heads,
               std::span<const int64_t> rope_pos = {}) const {
    const auto rows = static_cast<int64_t>(x.size()) / w.dim(1);
    return project_heads(pool, x.data(), rows, w, n_heads, shape_.head_dim, rope_pos,
                         shape_.rope_theta);
  }

  // heads() of token rows (no rope): a d x (heads x head_dim) product per token of the shard, so
  // it runs on ctx.layers (on its device where it has one). The latents' projections, a few rows
  // per group, stay on the pool.
  StatusOr<Tensor> token_heads(const ShardContext& ctx, std::vector<float>& x, const Tensor& w,
                               int64_t n_heads) const {
    const auto rows = static_cast<int64_t>(x.size()) / w.dim(1);
    Tensor out = Tensor::empty({rows, n_heads, shape_.head_dim}, DType::kF32);
    const Tensor in = Tensor::wrap(x.data(), {rows, w.dim(1)}, DType::kF32);
    RM_RETURN_IF_ERROR(ctx.layers->project_heads(in, w, {}, shape_.rope_theta, out, {}));
    return out;
  }

  // lat[g] += Attn(RMSNorm(lat[g], read.norm_q), RMSNorm(h_g, read.norm_kv); read) for this
  // rank's groups.
  Status read(const ShardContext& ctx, const Tensor& h) {
    ThreadPool& pool = *ctx.pool;
    const FitGroups& groups = stream_->groups();
    const int64_t m = groups.latents, d = h.dim(1), n = h.dim(0);
    const auto n_own = static_cast<int64_t>(groups.local.size());
    float* lat = stream_->latents().data<float>();

    std::vector<float> xq(static_cast<size_t>(n_own * m * d)), xkv(static_cast<size_t>(n * d));
    pool.parallel_for(n_own, [&](int64_t i, int) {
      rms_norm(lat + groups.local[static_cast<size_t>(i)].id * m * d, m, d,
               w_.read_norm_q.const_data<float>(), eps_, xq.data() + i * m * d);
    });
    rms_norm_rows(pool, h.data<float>(), n, d, w_.read_norm_kv.const_data<float>(), eps_,
                  xkv.data());
    const Tensor q = heads(pool, xq, w_.read.wq, shape_.n_heads);
    RM_ASSIGN_OR_RETURN(const Tensor k, token_heads(ctx, xkv, w_.read.wk, shape_.n_kv_heads));
    RM_ASSIGN_OR_RETURN(const Tensor v, token_heads(ctx, xkv, w_.read.wv, shape_.n_kv_heads));
    xkv = {};
    if (ctx.keep_caches()) keep_read_rows(ctx, k, v);

    Tensor o = Tensor::empty({n_own * m, shape_.n_heads, shape_.head_dim}, DType::kF32);
    RM_RETURN_IF_ERROR(for_each_group(ctx, n_own, [&](attention::AttentionBackend& be, int64_t i) {
      const FitGroups::Local& g = groups.local[static_cast<size_t>(i)];
      return attend_group(be, q.rows(i * m, (i + 1) * m), k.rows(g.begin, g.begin + g.len),
                          v.rows(g.begin, g.begin + g.len), o.rows(i * m, (i + 1) * m));
    }));
    // This rank's groups are not contiguous in the stream (zigzag, striped): project into the
    // packed rows, then add each group's rows to its place.
    project_out(pool, o, w_.read.wo, xq.data(), /*accumulate=*/false);
    pool.parallel_for(n_own, [&](int64_t i, int) {
      float* dst = lat + groups.local[static_cast<size_t>(i)].id * m * d;
      const float* delta = xq.data() + i * m * d;
      for (int64_t c = 0; c < m * d; ++c) dst[c] += delta[c];
    });
    return ok_status();
  }

  // What a stream's decode rows need from this block, on the stream's tail rank. The K/V of the
  // global layers over the record's finished groups are the same for every stream of the record
  // up to the stream's base, so they are kept once per record (RecordGlobals) and a stream reads
  // the first `prefix` groups of them, then its own.
  struct StreamCache {
    KvRows read;                 // READ keys and values of the rows of the current group
    int64_t prefix = 0;          // the record's groups before the stream's base, all finished
    std::vector<KvRows> global;  // [global layer]: K/V of the groups the stream finished itself
    Tensor write_k, write_v;     // WRITE keys and values of the latents of the previous group
  };
  using RecordGlobals = std::vector<KvRows>;  // [global layer]: K/V of the prefill's groups

  // Projections of rows x [n, d] after RMSNorm with g.
  Tensor normed_heads(ThreadPool& pool, const float* x, int64_t n, const Tensor& g, const Tensor& w,
                      int64_t n_heads, std::span<const int64_t> rope_pos = {}) const {
    std::vector<float> xn(static_cast<size_t>(n * w.dim(1)));
    rms_norm(x, n, w.dim(1), g.const_data<float>(), eps_, xn.data());
    return heads(pool, xn, w, n_heads, rope_pos);
  }

  int64_t finished_groups(const DecodeStream& s) const { return s.base / stream_->group(); }

  // After READ in a prefill that keeps caches: the READ keys of each tailed stream's unfinished
  // group, up to its base.
  void keep_read_rows(const ShardContext& ctx, const Tensor& k, const Tensor& v) {
    const FitGroups& groups = stream_->groups();
    const DecodeStreams& streams = *ctx.streams;
    cache_.assign(streams.size(), StreamCache{});
    shared_.clear();
    for (const int32_t s : streams.tailed_by(ctx.comm->rank())) {
      const DecodeStream& stream = streams[static_cast<size_t>(s)];
      StreamCache& cache = cache_[static_cast<size_t>(s)];
      cache.read = KvRows(shape_.n_kv_heads, shape_.head_dim);
      cache.prefix = finished_groups(stream);
      cache.global.assign(w_.global.size(), KvRows(shape_.n_kv_heads, shape_.head_dim));
      shared_.try_emplace(stream.record, w_.global.size(),
                          KvRows(shape_.n_kv_heads, shape_.head_dim));
      // A stream whose base is on a group boundary has no unfinished group.
      if (stream.base % stream_->group() == 0) continue;
      const int64_t id = groups.first_of_record[static_cast<size_t>(stream.record)] + cache.prefix;
      for (const FitGroups::Local& g : groups.local) {
        if (g.id != id) continue;
        const int64_t len = stream.base - cache.prefix * stream_->group();
        cache.read.append(k.rows(g.begin, g.begin + len).data<float>(),
                          v.rows(g.begin, g.begin + len).data<float>(), ctx.pos.data() + g.begin,
                          len);
      }
    }
  }

  // The K/V of global layer j over the finished groups each record's tailed streams need.
  void keep_global_rows(const ShardContext& ctx, size_t j, const Tensor& k, const Tensor& v) {
    const FitGroups& groups = stream_->groups();
    const DecodeStreams& streams = *ctx.streams;
    const int64_t m = groups.latents;
    std::map<int32_t, int64_t> needed;  // record -> groups
    for (const int32_t s : streams.tailed_by(ctx.comm->rank())) {
      const DecodeStream& stream = streams[static_cast<size_t>(s)];
      needed[stream.record] = std::max(needed[stream.record], finished_groups(stream));
    }
    for (const auto& [record, count] : needed) {
      const int64_t first = groups.first_of_record[static_cast<size_t>(record)] * m;
      const int64_t end = first + count * m;
      shared_.at(record)[j].append(k.rows(first, end).data<float>(),
                                   v.rows(first, end).data<float>(),
                                   groups.latent_pos.data() + first, end - first);
    }
  }

  // WRITE keys of the source of each tailed stream's next token: its last finished group.
  void keep_write_sources(const ShardContext& ctx) {
    const FitGroups& groups = stream_->groups();
    const DecodeStreams& streams = *ctx.streams;
    const int64_t m = groups.latents, d = stream_->latents().dim(2);
    for (const int32_t s : streams.tailed_by(ctx.comm->rank())) {
      const DecodeStream& stream = streams[static_cast<size_t>(s)];
      const int64_t finished = finished_groups(stream);
      if (finished == 0) continue;
      const int64_t id = groups.first_of_record[static_cast<size_t>(stream.record)] + finished - 1;
      set_write_source(*ctx.pool, cache_[static_cast<size_t>(s)],
                       stream_->latents().data<float>() + id * m * d, m);
    }
  }

  void set_write_source(ThreadPool& pool, StreamCache& cache, const float* lat, int64_t m) const {
    cache.write_k = normed_heads(pool, lat, m, w_.write_norm_kv, w_.write.wk, shape_.n_kv_heads);
    cache.write_v = normed_heads(pool, lat, m, w_.write_norm_kv, w_.write.wv, shape_.n_kv_heads);
  }

  // READ and GLOBAL of a group whose last row just arrived: lat [m, d] (its pending latents) is
  // updated in place and becomes the WRITE source of the next group.
  Status finish_group(const ShardContext& ctx, StreamCache& cache, const RecordGlobals& shared,
                      float* lat, int64_t group) {
    ThreadPool& pool = *ctx.pool;
    const int64_t m = stream_->latents_per_group();
    {
      const Tensor q = normed_heads(pool, lat, m, w_.read_norm_q, w_.read.wq, shape_.n_heads);
      Tensor o = Tensor::empty({m, shape_.n_heads, shape_.head_dim}, DType::kF32);
      RM_RETURN_IF_ERROR(attend_group(*ctx.backend, q, cache.read.k(), cache.read.v(), o));
      project_out(pool, o, w_.read.wo, lat, /*accumulate=*/true);
    }
    const std::vector<int64_t> pos(static_cast<size_t>(m), group);
    for (size_t j = 0; j < w_.global.size(); ++j) {
      const FitWeights::Global& w = w_.global[j];
      const Tensor q = normed_heads(pool, lat, m, w.norm1, w.attn.wq, shape_.n_heads, pos);
      const Tensor k = normed_heads(pool, lat, m, w.norm1, w.attn.wk, shape_.n_kv_heads, pos);
      const Tensor v = normed_heads(pool, lat, m, w.norm1, w.attn.wv, shape_.n_kv_heads);
      cache.global[j].append_at(k.data<float>(), v.data<float>(), group, m);
      // The record's groups before the stream's base, then the stream's own: two parts of one
      // softmax, merged exactly.
      const KvRows& own = cache.global[j];
      RM_ASSIGN_OR_RETURN(
          attention::BlockResult result,
          attention::attend_block(*ctx.backend, q, own.k(), own.v(), {pos, {}}, own.positions(),
                                  attention::MaskSpec{.causal = true}));
      const int64_t prefix = cache.prefix * m;
      if (prefix > 0) {
        const std::span<const int64_t> prefix_pos(shared[j].pos().data(),
                                                  static_cast<size_t>(prefix));
        RM_ASSIGN_OR_RETURN(
            const attention::BlockResult before,
            attention::attend_block(*ctx.backend, q, shared[j].k().rows(0, prefix),
                                    shared[j].v().rows(0, prefix), {pos, {}}, {prefix_pos, {}},
                                    attention::MaskSpec{.causal = true}));
        RM_RETURN_IF_ERROR(ctx.backend->merge_into(result, before));
      }
      project_out(pool, result.out, w.attn.wo, lat, /*accumulate=*/true);
      add_mlp_residual(lat, m, w.norm2.const_data<float>(), eps_, w.mlp, pool);
    }
    set_write_source(pool, cache, lat, m);
    cache.read.clear();
    return ok_status();
  }

  // One pre-norm layer over every latent of the job (redundant on every rank).
  Status global_layer(const ShardContext& ctx, size_t j) {
    const FitWeights::Global& w = w_.global[j];
    ThreadPool& pool = *ctx.pool;
    const FitGroups& groups = stream_->groups();
    Tensor& lat = stream_->latents();
    const int64_t rows = lat.dim(0) * lat.dim(1), d = lat.dim(2);

    std::vector<float> xn(static_cast<size_t>(rows * d));
    rms_norm_rows(pool, lat.data<float>(), rows, d, w.norm1.const_data<float>(), eps_, xn.data());
    // Every latent of group g sits at position g: the causal mask (key position > query
    // position) is then exactly FIT's chunk-causal mask, and the record id keeps records apart.
    const Tensor q = heads(pool, xn, w.attn.wq, shape_.n_heads, groups.latent_pos);
    const Tensor k = heads(pool, xn, w.attn.wk, shape_.n_kv_heads, groups.latent_pos);
    const Tensor v = heads(pool, xn, w.attn.wv, shape_.n_kv_heads);
    xn = {};
    if (ctx.keep_caches()) keep_global_rows(ctx, j, k, v);
    RM_ASSIGN_OR_RETURN(
        attention::BlockResult result,
        attention::attend_block(*ctx.backend, q, k, v, groups.latent_positions(),
                                groups.latent_positions(), attention::MaskSpec{.causal = causal_}));
    project_out(pool, result.out, w.attn.wo, lat.data<float>(), /*accumulate=*/true);
    add_mlp_residual(lat.data<float>(), rows, w.norm2.const_data<float>(), eps_, w.mlp, pool);
    return ok_status();
  }

  // out_g = Attn(RMSNorm(h_g, write.norm_q), RMSNorm(src[g], write.norm_kv); write).
  Status write(const ShardContext& ctx, const Tensor& h, Tensor& out) {
    ThreadPool& pool = *ctx.pool;
    const FitGroups& groups = stream_->groups();
    const int64_t m = groups.latents, d = h.dim(1), n = h.dim(0);
    const auto n_own = static_cast<int64_t>(groups.local.size());
    const float* lat = stream_->latents().data<float>();

    // The source group of each of this rank's groups (-1: none), packed in `slot` order.
    std::vector<int64_t> source(static_cast<size_t>(n_own), -1), slot(source.size(), -1);
    int64_t num_sources = 0;
    for (size_t i = 0; i < source.size(); ++i) {
      const int64_t id = groups.local[i].id;
      if (!causal_) {
        source[i] = id;
      } else if (!groups.is_first_of_record(id)) {
        source[i] = id - 1;
      }
      if (source[i] >= 0) slot[i] = num_sources++;
    }

    std::vector<float> xq(static_cast<size_t>(n * d)),
        xkv(static_cast<size_t>(num_sources * m * d));
    rms_norm_rows(pool, h.data<float>(), n, d, w_.write_norm_q.const_data<float>(), eps_,
                  xq.data());
    pool.parallel_for(n_own, [&](int64_t i, int) {
      const auto idx = static_cast<size_t>(i);
      if (source[idx] < 0) return;
      rms_norm(lat + source[idx] * m * d, m, d, w_.write_norm_kv.const_data<float>(), eps_,
               xkv.data() + slot[idx] * m * d);
    });
    RM_ASSIGN_OR_RETURN(const Tensor q, token_heads(ctx, xq, w_.write.wq, shape_.n_heads));
    xq = {};
    const Tensor k = heads(pool, xkv, w_.write.wk, shape_.n_kv_heads);
    const Tensor v = heads(pool, xkv, w_.write.wv, shape_.n_kv_heads);

    // Zero-filled: a group with no source keeps o = 0, so its output rows are exactly 0.
    Tensor o = Tensor::empty({n, shape_.n_heads, shape_.head_dim}, DType::kF32);
    RM_RETURN_IF_ERROR(for_each_group(ctx, n_own, [&](attention::AttentionBackend& be, int64_t i) {
      const auto idx = static_cast<size_t>(i);
      if (source[idx] < 0) return ok_status();
      const FitGroups::Local& g = groups.local[idx];
      const int64_t s = slot[idx];
      return attend_group(be, q.rows(g.begin, g.begin + g.len), k.rows(s * m, (s + 1) * m),
                          v.rows(s * m, (s + 1) * m), o.rows(g.begin, g.begin + g.len));
    }));
    return ctx.layers->project_out(o, w_.write.wo, out, /*accumulate=*/false);
  }

  FitWeights w_;
  AttnShape shape_;
  bool causal_;
  float eps_;
  std::shared_ptr<FitStream> stream_;
  std::vector<StreamCache> cache_;           // [stream]; filled for the streams whose tail is here
  std::map<int32_t, RecordGlobals> shared_;  // [record]: for the streams whose tail is here
};

}  // namespace

std::unique_ptr<Mixer> make_fit_mixer(FitWeights w, AttnShape shape, bool causal, float norm_eps,
                                      std::shared_ptr<FitStream> stream) {
  return std::make_unique<FitMixer>(std::move(w), shape, causal, norm_eps, std::move(stream));
}

}  // namespace ringmaster::model
