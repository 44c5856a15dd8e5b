// model/layers.h: the dense building blocks of MODEL.md's block stack, on f32 rows.
//
// Every function works on a run of token rows ([n, width], row-major) and is f32 math with f32
// accumulation; the products (core/gemm.h) read f32, or bf16 when the weights are bf16 (bf16
// compute: the rows are rounded to bf16 on the way in). Callers tile long runs (layers.cc's
// kTokenTile) so no [n_local, mlp_hidden] or [n_local, vocab] buffer ever exists at once.
// Weights are `[out, in]` as stored; `W x` means x W^T.
// Thread-safety: pure functions; concurrent calls on disjoint outputs are safe.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <stop_token>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace ringmaster::model {

// Rows per tile of the token-tiled layers: small enough that a tile's [tile, mlp_hidden] and
// [tile, vocab] scratch stays in cache, large enough for sgemm to run at speed.
inline constexpr int64_t kTokenTile = 256;

// y[n, out] = x[n, in] W^T (W: [out, in], f32 or bf16: then x is rounded to bf16 and the
// product accumulates in f32). `accumulate` adds into y instead.
void linear(const float* x, int64_t n, const Tensor& w, float* y, bool accumulate = false);

// y = x / sqrt(mean(x^2) + eps) * g, row by row (y may alias x).
void rms_norm(const float* x, int64_t n, int64_t width, const float* g, float eps, float* y);

// Rotate-half rope on x [n, heads, head_dim] in place, token i at position pos[i]. Angles are
// computed in double (MODEL.md: fp32 angles drift by 6e-3 at a million), cos/sin rounded to f32.
void apply_rope(float* x, int64_t n, int64_t heads, int64_t head_dim, std::span<const int64_t> pos,
                double theta);

// The SwiGLU MLP of MODEL.md, token-tiled on `pool`: out[n, d] (+)= w_down(silu(w_gate x) *
// (w_up x)). `accumulate` adds into out (the residual).
struct MlpWeights {
  Tensor w_gate, w_up;  // [hidden, d]
  Tensor w_down;        // [d, hidden]
};
void mlp(const float* x, int64_t n, const MlpWeights& w, float* out, bool accumulate,
         ThreadPool& pool);

// x[n, d] (+)= norm-then-mlp: the second half of a block, x += MLP(RMSNorm(x, g)), tiled.
// Once `stop` is requested no further tile runs (x is then partly updated: drop it) and the
// result is false; otherwise true.
bool add_mlp_residual(float* x, int64_t n, const float* g, float eps, const MlpWeights& w,
                      ThreadPool& pool, const std::stop_token& stop = {});

inline float silu(float z) { return z / (1.0f + std::exp(-z)); }

}  // namespace ringmaster::model
