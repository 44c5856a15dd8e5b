// model/layer_backend.h: where the block stack's dense layers run (STYLE.md "compute backends").
//
// Model::forward keeps the residual stream x [n_local, d_model] in a LayerBackend's memory from
// the embedding to the final norm and hands it the dense half of every block: the norm before
// the mixer, the residual adds and the norm-then-MLP. The attention, window and local mixers
// also run their head and output projections through it (project_heads, project_out), and the
// fit mixer those of its token rows (READ keys and values, WRITE queries and output):
//
//   x = load(embed[ids])                        host rows in, x on device()
//   for each block:  mixer_input(x, norm1, h);  mixer(h) -> mixed;  add_residuals(x, mixed, ...)
//   hf = output(x, norm)                        host rows out
//
// Rows given to or made by these calls (h, mixed, the projections' inputs and outputs) live on
// the host or on device(), each op accepting either: a mixer that can work on device rows
// (Mixer::takes_device_rows) gets h and gives mixed there, so a GPU block of an attention-family
// mixer moves only the K/V its peers need; every other mixer reads and writes host rows.
//
// The CPU backend (make_cpu_layer_backend) runs model/layers.h over a thread pool and never
// copies: its device() is the host. The CUDA backend (model/cuda/layer_backend_cuda.h) keeps x on
// a GPU, runs the norms, adds, the MLP's GEMMs and the projections there. The worker picks one per
// job with the attention backend (worker/attention_backend.h); the CPU is the reference the GPU
// must match.
//
// Every call returns with its results final, so another agent (the host, the attention
// backend's stream) may read them next; device inputs must be final when a call is made.
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
  // Where this backend's rows live: Device::cpu() for the CPU backend, else its GPU.
  virtual Device device() const = 0;

  // A new zero-filled tensor on device().
  virtual StatusOr<Tensor> empty(const Shape& shape, DType dtype) = 0;

  // The residual stream: `rows` (f32 host [n, d]) as a tensor on device(). The CPU backend
  // returns `rows` itself.
  virtual StatusOr<Tensor> load(Tensor rows) = 0;

  // h = RMSNorm(x, g) into h, f32 rows [n, d] on the host or device() (the mixer's input).
  virtual Status mixer_input(const Tensor& x, const Tensor& g, float eps, Tensor& h) = 0;

  // The rest of a block: x += mixed (f32 rows [n, d], host or device()), then
  // x += MLP(RMSNorm(x, g)). kCancelled (naming `where`) once `stop` is requested between tiles;
  // x is then partly updated and must be dropped.
  virtual Status add_residuals(Tensor& x, const Tensor& mixed, const Tensor& g, float eps,
                               const MlpWeights& mlp, const std::stop_token& stop,
                               const std::string& where) = 0;

  // The head projections of model/internal/projection.h's project_heads_into: out
  // [n, heads, head_dim] (f32, or bf16 rounded once after rope) = the heads of x [n, d] W^T,
  // with rope at rope_pos[i] (empty: no rope). x and out each on the host or device(). Once
  // `stop` is requested no further tile runs and `out` is garbage: the caller checks the token
  // (core/cancel.h).
  virtual Status project_heads(const Tensor& x, const Tensor& w, std::span<const int64_t> rope_pos,
                               double rope_theta, const Tensor& out,
                               const std::stop_token& stop) = 0;

  // out [n, d] (+)= concat_h(o_h) wo^T for o [n, heads, head_dim] f32, as project_out;
  // `accumulate` adds. o and out each on the host or device().
  virtual Status project_out(const Tensor& o, const Tensor& wo, const Tensor& out,
                             bool accumulate) = 0;

  // hf = RMSNorm(x, g) as f32 host rows [n, d]; x is consumed (the CPU backend normalises it in
  // place and returns it).
  virtual StatusOr<Tensor> output(Tensor x, const Tensor& g, float eps) = 0;
};

// model/layers.h over `pool`, which must outlive the backend.
std::unique_ptr<LayerBackend> make_cpu_layer_backend(ThreadPool& pool);

}  // namespace ringmaster::model
