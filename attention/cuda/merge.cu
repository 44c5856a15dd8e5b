#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "attention/attention.h"
#include "attention/cuda/merge.cuh"
#include "attention/softmax_state.h"
#include "core/cuda/cuda_status.h"

namespace ringmaster::attention {
namespace {

constexpr int kWarpSize = 32;
constexpr int kRowsPerBlock = 4;                  // one warp per row, four rows per block
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // beyond this, blocks loop over rows

// One warp per (query, head) row; its lanes stride over head_dim, kVec floats at a time
// (kVec = 4 needs head_dim % 4 == 0 and 16-byte aligned out/out_b).
template <int kVec>
__global__ void __launch_bounds__(kWarpSize* kRowsPerBlock) merge_kernel(MergeParams p) {
  const int lane = static_cast<int>(threadIdx.x);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y; row < p.rows;
       row += stride) {
    // Every lane computes the same weights, so the branch below is warp-uniform.
    const MergeWeights w = merge_weights(p.lse[row], p.lse_b[row]);
    if (w.b == 0.0f) continue;  // as merge_row: B adds nothing and A keeps its exact bits
    float* __restrict__ o = p.out + row * p.head_dim;
    const float* __restrict__ o_b = p.out_b + row * p.head_dim;
    if constexpr (kVec == 4) {
      float4* o4 = reinterpret_cast<float4*>(o);
      const float4* o_b4 = reinterpret_cast<const float4*>(o_b);
      for (int i = lane; i < p.head_dim / 4; i += kWarpSize) {
        float4 x = o4[i];
        const float4 y = o_b4[i];
        x.x = w.a * x.x + w.b * y.x;
        x.y = w.a * x.y + w.b * y.y;
        x.z = w.a * x.z + w.b * y.z;
        x.w = w.a * x.w + w.b * y.w;
        o4[i] = x;
      }
    } else {
      for (int i = lane; i < p.head_dim; i += kWarpSize) o[i] = w.a * o[i] + w.b * o_b[i];
    }
    __syncwarp();  // every lane has read lse[row] before lane 0 replaces it
    if (lane == 0) p.lse[row] = w.lse;
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

struct DeviceFree {
  void operator()(float* p) const { (void)cudaFree(p); }
};

}  // namespace

Status launch_merge(const MergeParams& p, cudaStream_t stream) {
  if (p.rows < 0 || p.head_dim <= 0) {
    return invalid_argument("launch_merge: rows " + std::to_string(p.rows) + ", head_dim " +
                            std::to_string(p.head_dim));
  }
  if (p.rows == 0) return ok_status();
  if (!p.out || !p.lse || !p.out_b || !p.lse_b) {
    return invalid_argument("launch_merge: null device pointer");
  }
  const int64_t blocks64 = (p.rows + kRowsPerBlock - 1) / kRowsPerBlock;
  const dim3 grid(static_cast<unsigned>(blocks64 < kMaxBlocks ? blocks64 : kMaxBlocks));
  const dim3 block(kWarpSize, kRowsPerBlock);
  if (p.head_dim % 4 == 0 && aligned16(p.out) && aligned16(p.out_b)) {
    merge_kernel<4><<<grid, block, 0, stream>>>(p);
  } else {
    merge_kernel<1><<<grid, block, 0, stream>>>(p);
  }
  return cuda_status(cudaGetLastError()).with_context("launch_merge");
}

Status merge_on_device(BlockResult& acc, const BlockResult& part, cudaStream_t stream) {
  const std::initializer_list<const Tensor*> tensors = {&acc.out, &acc.lse, &part.out, &part.lse};
  for (const Tensor* t : tensors) {
    if (!t->defined() || t->dtype() != DType::kF32 || !t->device().is_cpu()) {
      return invalid_argument("merge_on_device: needs f32 host tensors, got " + t->to_string());
    }
  }
  if (acc.out.shape() != part.out.shape() || acc.lse.shape() != part.lse.shape() ||
      acc.out.rank() < 1 || acc.out.numel() != acc.lse.numel() * acc.out.dim(-1)) {
    return invalid_argument("merge_on_device: shapes " + acc.out.to_string() + ", " +
                            acc.lse.to_string() + " and " + part.out.to_string() + ", " +
                            part.lse.to_string());
  }
  if (!acc.out.writable() || !acc.lse.writable()) {
    return invalid_argument("merge_on_device: acc is read-only");
  }
  const int64_t rows = acc.lse.numel();
  const int64_t head_dim = acc.out.dim(-1);
  if (rows == 0) return ok_status();
  if (head_dim <= 0 || head_dim > INT32_MAX) {
    return invalid_argument("merge_on_device: head_dim " + std::to_string(head_dim));
  }

  // One allocation: out, out_b (rows * head_dim each), then lse, lse_b (rows each).
  const int64_t out_n = rows * head_dim;
  float* raw = nullptr;
  RM_RETURN_IF_ERROR(cuda_status(cudaMalloc(&raw, sizeof(float) * (2 * out_n + 2 * rows))));
  const std::unique_ptr<float, DeviceFree> dev(raw);
  float* d_out = raw;
  float* d_out_b = d_out + out_n;
  float* d_lse = d_out_b + out_n;
  float* d_lse_b = d_lse + rows;
  const size_t out_bytes = sizeof(float) * out_n;
  const size_t lse_bytes = sizeof(float) * rows;

  RM_RETURN_IF_ERROR(cuda_status(
      cudaMemcpyAsync(d_out, acc.out.data<float>(), out_bytes, cudaMemcpyHostToDevice, stream)));
  RM_RETURN_IF_ERROR(cuda_status(
      cudaMemcpyAsync(d_out_b, part.out.data<float>(), out_bytes, cudaMemcpyHostToDevice, stream)));
  RM_RETURN_IF_ERROR(cuda_status(
      cudaMemcpyAsync(d_lse, acc.lse.data<float>(), lse_bytes, cudaMemcpyHostToDevice, stream)));
  RM_RETURN_IF_ERROR(cuda_status(
      cudaMemcpyAsync(d_lse_b, part.lse.data<float>(), lse_bytes, cudaMemcpyHostToDevice, stream)));
  RM_RETURN_IF_ERROR(launch_merge(
      MergeParams{d_out, d_lse, d_out_b, d_lse_b, rows, static_cast<int>(head_dim)}, stream));
  RM_RETURN_IF_ERROR(cuda_status(
      cudaMemcpyAsync(acc.out.data<float>(), d_out, out_bytes, cudaMemcpyDeviceToHost, stream)));
  RM_RETURN_IF_ERROR(cuda_status(
      cudaMemcpyAsync(acc.lse.data<float>(), d_lse, lse_bytes, cudaMemcpyDeviceToHost, stream)));
  return cuda_status(cudaStreamSynchronize(stream));
}

}  // namespace ringmaster::attention
