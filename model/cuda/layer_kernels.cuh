// model/cuda/layer_kernels.cuh: the elementwise and row-wise layers of MODEL.md on the device.
//
// The device twins of model/layers.h's rms_norm, apply_rope, the SwiGLU activation inside mlp
// and the residual add, on f32 rows, with the same semantics and the same precision choices (a
// double sum of squares per RMSNorm row, rope angles in double). The GEMMs around them go through
// cuBLAS (core/cuda/gemm.h). Each family is one `XxxParams` of raw device pointers and one launcher
// that enqueues on a stream and returns without waiting.
// Results agree with the CPU functions to about 1e-6 relative (device expf, sin and cos, and
// fused multiply-adds round differently from the host's libm).
// Thread-safety: launchers are pure functions of their arguments.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/status.h"

namespace ringmaster::model {

// y = x / sqrt(mean(x^2 over the row) + eps) * g for each of n rows. x, y: [n, width] f32
// (y may alias x); g: [width] f32.
struct RmsNormParams {
  const float* x = nullptr;
  const float* g = nullptr;
  float* y = nullptr;
  int64_t n = 0;
  int64_t width = 0;
  float eps = 0.0f;
};

// kInvalidArgument for negative sizes or null pointers; kInternal naming the launch when it
// fails. n == 0 is a no-op.
Status launch_rms_norm(const RmsNormParams& params, cudaStream_t stream);

// Rotate-half rope in place on x [n, heads, head_dim] f32, token i at global position pos[i]
// (int64, device): for j < head_dim / 2, a = pos * theta^(-2j / head_dim) in double,
//   y[j] = x[j] cos a - x[j + head_dim/2] sin a,  y[j + head_dim/2] = x[j + head_dim/2] cos a +
//   x[j] sin a,  with cos a and sin a rounded to f32.
struct RopeParams {
  float* x = nullptr;
  const int64_t* pos = nullptr;
  int64_t n = 0;
  int heads = 0;
  int head_dim = 0;  // even
  double theta = 10000.0;
};

// kInvalidArgument for an odd or non-positive head_dim, negative sizes or null pointers;
// kInternal naming the launch when it fails. n == 0 is a no-op.
Status launch_rope(const RopeParams& params, cudaStream_t stream);

// The SwiGLU activation: out[i] = silu(gate[i]) * up[i], silu(z) = z / (1 + e^-z), over
// `count` f32 elements. out may alias gate or up.
struct SwigluParams {
  const float* gate = nullptr;
  const float* up = nullptr;
  float* out = nullptr;
  int64_t count = 0;
};

// kInvalidArgument for a negative count or null pointers; kInternal naming the launch when it
// fails. count == 0 is a no-op.
Status launch_swiglu(const SwigluParams& params, cudaStream_t stream);

// The residual add: y[i] += x[i] over `count` f32 elements.
struct AddParams {
  const float* x = nullptr;
  float* y = nullptr;
  int64_t count = 0;
};

// kInvalidArgument for a negative count or null pointers; kInternal naming the launch when it
// fails. count == 0 is a no-op.
Status launch_add(const AddParams& params, cudaStream_t stream);

// y[i] = x[i] rounded to bf16 (nearest even; NaN stays NaN), as core/dtype.h's f32_to_bf16: the
// rows a bf16 GEMM reads (bf16 compute rounds activations on their way into a product). y holds
// the bf16 bits.
struct ToBf16Params {
  const float* x = nullptr;
  uint16_t* y = nullptr;
  int64_t count = 0;
};

// kInvalidArgument for a negative count or null pointers; kInternal naming the launch when it
// fails. count == 0 is a no-op.
Status launch_to_bf16(const ToBf16Params& params, cudaStream_t stream);

}  // namespace ringmaster::model
