// model/layer_backend.h: where the block stack's dense layers run (STYLE.md "compute backends").
//
// Model::forward keeps the residual stream x [n_local, d_model] in a LayerBackend's memory from
// the embedding to the final norm and hands it the dense half of every block: the norm before
// the mixer, the residual adds and the norm-then-MLP. The mixers read and write host rows
// (model/mixer.h), so at each block the backend gives the mixer its input h = RMSNorm(x, norm1)
// as host rows and takes its output back as host rows. The attention, window and local mixers
// also run their head and output projections through it (project_heads, project_out):
//
//   x = load(embed[ids])                        host rows in, x on device()
//   for each block:  mixer_input(x, norm1, h);  mixer(h) -> mixed;  add_residuals(x, mixed, ...)
//   hf = output(x, norm)                        host rows out
//
// The CPU backend (make_cpu_layer_backend) runs model/layers.h over a thread pool and never
// copies: x is host memory, h and mixed are its neighbours. The CUDA backend
// (model/cuda/layer_backend_cuda.h) keeps x on a GPU, runs the norms, adds, the MLP's GEMMs and
// the projections there, and moves host rows up and down at the mixer's edges. The worker picks one
// per job with the attention backend (worker/attention_backend.h); the CPU is the reference the GPU
// must match.
//
// Thread-compatible: one forward at a time, as Model.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stop_token>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "model/layers.h"

namespace ringmaster::model {

class LayerBackend {
 public:
  virtual ~LayerBackend() = default;
  virtual const char* name() const = 0;  // "cpu", "cuda:0"

  // The residual stream: `rows` (f32 host [n, d]) as a tensor of this backend. The CPU backend
  // returns `rows` itself.
  virtual StatusOr<Tensor> load(Tensor rows) = 0;

  // h = RMSNorm(x, g) into h, f32 host rows [n, d] (the mixer's input).
  virtual Status mixer_input(const Tensor& x, const Tensor& g, float eps, Tensor& h) = 0;

  // The rest of a block: x += mixed (f32 host rows [n, d]), then x += MLP(RMSNorm(x, g)).
  // kCancelled (naming `where`) once `stop` is requested between tiles; x is then partly
  // updated and must be dropped.
  virtual Status add_residuals(Tensor& x, const Tensor& mixed, const Tensor& g, float eps,
                               const MlpWeights& mlp, const std::stop_token& stop,
                               const std::string& where) = 0;

  // The head projections of model/internal/projection.h's project_heads_into, on host rows:
  // out [n, heads, head_dim] of `out_dtype` (f32, or bf16 rounded once after rope) = the heads
  // of x [n, d] W^T, with rope at rope_pos[i] (empty: no rope). Once `stop` is requested no
  // further tile runs and `out` is garbage: the caller checks the token (core/cancel.h).
  virtual Status project_heads(const float* x, int64_t n, const Tensor& w, int64_t heads,
                               int64_t head_dim, std::span<const int64_t> rope_pos,
                               double rope_theta, void* out, DType out_dtype,
                               const std::stop_token& stop) = 0;

  // out [n, d] (+)= concat_h(o_h) wo^T for host rows o [n, heads, head_dim] f32, as
  // project_out; `accumulate` adds.
  virtual Status project_out(const Tensor& o, const Tensor& wo, float* out, bool accumulate) = 0;

  // hf = RMSNorm(x, g) as f32 host rows [n, d]; x is consumed (the CPU backend normalises it in
  // place and returns it).
  virtual StatusOr<Tensor> output(Tensor x, const Tensor& g, float eps) = 0;
};

// model/layers.h over `pool`, which must outlive the backend.
std::unique_ptr<LayerBackend> make_cpu_layer_backend(ThreadPool& pool);

}  // namespace ringmaster::model
