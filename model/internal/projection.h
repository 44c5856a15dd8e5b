// model/internal/projection.h: the token-tiled pieces every attention-style mixer shares: RMSNorm
// of many rows, the head projections (with or without rope) and the output projection.
//
// The attention, window and local mixers project tokens; the fit mixer projects tokens and
// latents, some with rope and some without. All run in kTokenTile tiles on the pool, with sgemm
// (model/layers.h), so no work is a per-row loop over d_model^2.
// Thread-safety: pure functions over caller-owned buffers; the pool runs one loop at a time.
#pragma once

#include <cstdint>
#include <span>
#include <stop_token>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "model/mixer.h"

namespace ringmaster::model {

// y[n, width] = RMSNorm(x[n, width], g), tiled. y may alias x.
void rms_norm_rows(ThreadPool& pool, const float* x, int64_t n, int64_t width, const float* g,
                   float eps, float* y);

// (w x) for rows x [n, d] as heads [n, heads, head_dim], w: [heads*head_dim, d]. With a
// non-empty `rope_pos` (one position per row), rope at that position; empty: no rope. Once
// `stop` is requested no further tile runs and the rows are garbage: the caller checks the token
// (core/cancel.h) before using them.
Tensor project_heads(ThreadPool& pool, const float* x, int64_t n, const Tensor& w, int64_t heads,
                     int64_t head_dim, std::span<const int64_t> rope_pos, double rope_theta,
                     const std::stop_token& stop = {});

// The same into caller-owned rows `out` [n, heads, head_dim] of `out_dtype`: f32, or bf16 (bf16
// compute), where each tile is rounded after rope, once, as the bf16 products would round it.
void project_heads_into(ThreadPool& pool, const float* x, int64_t n, const Tensor& w, int64_t heads,
                        int64_t head_dim, std::span<const int64_t> rope_pos, double rope_theta,
                        void* out, DType out_dtype, const std::stop_token& stop = {});

// out[n, d] (+)= wo concat_h(o_h), o: [n, heads, head_dim]; `accumulate` adds (a residual).
void project_out(ThreadPool& pool, const Tensor& o, const Tensor& wo, float* out, bool accumulate);

}  // namespace ringmaster::model
