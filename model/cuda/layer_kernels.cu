#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "core/cuda/cuda_status.h"
#include "model/cuda/layer_kernels.cuh"

namespace ringmaster::model {
namespace {

constexpr int kWarpSize = 32;
constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 16;  // beyond this, blocks loop

unsigned grid_for(int64_t work, int64_t per_block) {
  const int64_t blocks = (work + per_block - 1) / per_block;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// One block per row (looping over rows). The sum of squares is a double, as on the CPU, so a
// million-wide row never loses its small terms; the scale is rounded to f32 once.
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(RmsNormParams p) {
  __shared__ double warp_sums[kThreads / kWarpSize];
  __shared__ float row_scale;
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  for (int64_t i = blockIdx.x; i < p.n; i += gridDim.x) {
    const float* row = p.x + i * p.width;
    double sum = 0;
    for (int64_t c = threadIdx.x; c < p.width; c += kThreads) sum += double{row[c]} * row[c];
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    }
    if (lane == 0) warp_sums[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
      double total = 0;
      for (int w = 0; w < kThreads / kWarpSize; ++w) total += warp_sums[w];
      row_scale = static_cast<float>(1.0 / sqrt(total / static_cast<double>(p.width) + p.eps));
    }
    __syncthreads();
    const float scale = row_scale;
    float* out = p.y + i * p.width;
    for (int64_t c = threadIdx.x; c < p.width; c += kThreads) out[c] = row[c] * scale * p.g[c];
    // Nobody reuses warp_sums or row_scale for the next row before everyone has read them.
    __syncthreads();
  }
}

// One thread per (token, rotation pair j); it rotates pair j of every head of its token, so the
// double-precision angle, cos and sin are computed once per pair. The products are rounded one
// by one (no fused multiply-add), as the host computes them.
__global__ void rope_kernel(RopeParams p) {
  const int half = p.head_dim / 2;
  const int64_t total = p.n * half;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += stride) {
    const int64_t i = idx / half;
    const int j = static_cast<int>(idx % half);
    const double freq = pow(p.theta, -2.0 * j / static_cast<double>(p.head_dim));
    const double angle = static_cast<double>(p.pos[i]) * freq;
    const auto c = static_cast<float>(cos(angle));
    const auto s = static_cast<float>(sin(angle));
    for (int h = 0; h < p.heads; ++h) {
      float* v = p.x + (i * p.heads + h) * p.head_dim;
      const float a = v[j], b = v[j + half];
      v[j] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
      v[j + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
    }
  }
}

__global__ void swiglu_kernel(SwigluParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.count;
       i += stride) {
    const float z = p.gate[i];
    p.out[i] = z / (1.0f + expf(-z)) * p.up[i];  // silu(gate) * up, as model/layers.h's silu
  }
}

__global__ void add_kernel(AddParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.count;
       i += stride) {
    p.y[i] += p.x[i];
  }
}

__global__ void to_bf16_kernel(ToBf16Params p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.count;
       i += stride) {
    p.y[i] = __bfloat16_as_ushort(__float2bfloat16_rn(p.x[i]));
  }
}

}  // namespace

Status launch_rms_norm(const RmsNormParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.width <= 0) {
    return invalid_argument("launch_rms_norm: n " + std::to_string(p.n) + ", width " +
                            std::to_string(p.width));
  }
  if (p.n == 0) return ok_status();
  if (!p.x || !p.g || !p.y) return invalid_argument("launch_rms_norm: null device pointer");
  rms_norm_kernel<<<grid_for(p.n, 1), kThreads, 0, stream>>>(p);
  return cuda_status(cudaGetLastError()).with_context("launch_rms_norm");
}

Status launch_rope(const RopeParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.heads <= 0 || p.head_dim <= 0 || p.head_dim % 2 != 0) {
    return invalid_argument("launch_rope: n " + std::to_string(p.n) + ", heads " +
                            std::to_string(p.heads) + ", head_dim " + std::to_string(p.head_dim));
  }
  if (p.n == 0) return ok_status();
  if (!p.x || !p.pos) return invalid_argument("launch_rope: null device pointer");
  rope_kernel<<<grid_for(p.n * (p.head_dim / 2), kThreads), kThreads, 0, stream>>>(p);
  return cuda_status(cudaGetLastError()).with_context("launch_rope");
}

Status launch_swiglu(const SwigluParams& p, cudaStream_t stream) {
  if (p.count < 0) return invalid_argument("launch_swiglu: count " + std::to_string(p.count));
  if (p.count == 0) return ok_status();
  if (!p.gate || !p.up || !p.out) return invalid_argument("launch_swiglu: null device pointer");
  swiglu_kernel<<<grid_for(p.count, kThreads), kThreads, 0, stream>>>(p);
  return cuda_status(cudaGetLastError()).with_context("launch_swiglu");
}

Status launch_add(const AddParams& p, cudaStream_t stream) {
  if (p.count < 0) return invalid_argument("launch_add: count " + std::to_string(p.count));
  if (p.count == 0) return ok_status();
  if (!p.x || !p.y) return invalid_argument("launch_add: null device pointer");
  add_kernel<<<grid_for(p.count, kThreads), kThreads, 0, stream>>>(p);
  return cuda_status(cudaGetLastError()).with_context("launch_add");
}

Status launch_to_bf16(const ToBf16Params& p, cudaStream_t stream) {
  if (p.count < 0) return invalid_argument("launch_to_bf16: count " + std::to_string(p.count));
  if (p.count == 0) return ok_status();
  if (!p.x || !p.y) return invalid_argument("launch_to_bf16: null device pointer");
  to_bf16_kernel<<<grid_for(p.count, kThreads), kThreads, 0, stream>>>(p);
  return cuda_status(cudaGetLastError()).with_context("launch_to_bf16");
}

}  // namespace ringmaster::model
