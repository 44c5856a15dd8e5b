// The device layers (model/cuda/layer_kernels.cuh) against model/layers.h's CPU functions:
// RMSNorm, rope at large and zigzag positions, the SwiGLU activation and the residual add, f32
// within 1e-5 relative; the bf16 rounding bit for bit. Labelled gpu: device cases skip without a
// GPU (fail under RINGMASTER_REQUIRE_GPU); argument checks run everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "core/cuda/cuda_status.h"
#include "core/dtype.h"
#include "model/cuda/layer_kernels.cuh"
#include "model/layers.h"
#include "tests/unit/gpu/require_gpu.h"

namespace ringmaster::model {
namespace {

using CudaLayerKernelsGpu = ringmaster::testing::GpuTest;

// A device array that mirrors a host vector.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host) : size_(host.size()) {
    void* raw = nullptr;
    EXPECT_EQ(cudaMalloc(&raw, bytes()), cudaSuccess);
    ptr_.reset(static_cast<T*>(raw));
    EXPECT_EQ(cudaMemcpy(raw, host.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  T* get() const { return ptr_.get(); }
  std::vector<T> to_host() const {
    std::vector<T> host(size_);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(host.data(), ptr_.get(), bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }

 private:
  struct Free {
    void operator()(T* p) const { (void)cudaFree(p); }
  };
  size_t bytes() const { return size_ * sizeof(T); }
  size_t size_;
  std::unique_ptr<T, Free> ptr_;
};

std::vector<float> random_values(size_t count, float range, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-range, range);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

// |got - want| <= 1e-5 * max(1, |want|), element by element.
void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  int failures = 0;
  for (size_t i = 0; i < got.size() && failures < 10; ++i) {
    const float tol = 1e-5f * std::max(1.0f, std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= tol)) {
      ADD_FAILURE() << "element " << i << ": " << got[i] << " vs " << want[i];
      ++failures;
    }
  }
}

TEST_F(CudaLayerKernelsGpu, RmsNormMatchesCpu) {
  std::mt19937 rng(1);
  for (const int64_t width : {1, 7, 256, 1000, 4099}) {
    SCOPED_TRACE(width);
    const int64_t n = 37;
    const std::vector<float> x = random_values(static_cast<size_t>(n * width), 3.0f, rng);
    const std::vector<float> g = random_values(static_cast<size_t>(width), 1.5f, rng);
    std::vector<float> want(x.size());
    rms_norm(x.data(), n, width, g.data(), 1e-5f, want.data());
    const DeviceArray<float> dx(x), dg(g), dy(std::vector<float>(x.size(), NAN));
    ASSERT_TRUE(launch_rms_norm({dx.get(), dg.get(), dy.get(), n, width, 1e-5f}, nullptr).ok());
    expect_close(dy.to_host(), want);
    // In place (y aliases x).
    ASSERT_TRUE(launch_rms_norm({dx.get(), dg.get(), dx.get(), n, width, 1e-5f}, nullptr).ok());
    expect_close(dx.to_host(), want);
  }
}

TEST_F(CudaLayerKernelsGpu, RopeMatchesCpuAtLargeAndZigzagPositions) {
  std::mt19937 rng(2);
  for (const int head_dim : {64, 128, 6}) {
    SCOPED_TRACE(head_dim);
    const int heads = 3;
    // Positions from 0 to past a million, out of order as in a zigzag shard.
    std::vector<int64_t> pos = {0, 1, 2, 65535, 65536, 1000003, 7, 1 << 20, 999, 12345, 3};
    const auto n = static_cast<int64_t>(pos.size());
    std::vector<float> x = random_values(static_cast<size_t>(n * heads * head_dim), 2.0f, rng);
    const DeviceArray<float> dx(x);
    const DeviceArray<int64_t> dpos(pos);
    apply_rope(x.data(), n, heads, head_dim, pos, 10000.0);
    ASSERT_TRUE(launch_rope({dx.get(), dpos.get(), n, heads, head_dim, 10000.0}, nullptr).ok());
    expect_close(dx.to_host(), x);
  }
}

TEST_F(CudaLayerKernelsGpu, SwigluMatchesCpu) {
  std::mt19937 rng(3);
  const size_t count = 100003;
  std::vector<float> gate = random_values(count, 20.0f, rng);
  gate[0] = -100.0f;  // e^100 overflows: silu is -0
  gate[1] = 100.0f;
  const std::vector<float> up = random_values(count, 2.0f, rng);
  std::vector<float> want(count);
  for (size_t i = 0; i < count; ++i) want[i] = silu(gate[i]) * up[i];
  const DeviceArray<float> dgate(gate), dup(up), dout(std::vector<float>(count, NAN));
  ASSERT_TRUE(
      launch_swiglu({dgate.get(), dup.get(), dout.get(), static_cast<int64_t>(count)}, nullptr)
          .ok());
  expect_close(dout.to_host(), want);
}

TEST_F(CudaLayerKernelsGpu, AddMatchesCpu) {
  std::mt19937 rng(4);
  const size_t count = 70001;
  const std::vector<float> x = random_values(count, 5.0f, rng), y = random_values(count, 5.0f, rng);
  std::vector<float> want(count);
  for (size_t i = 0; i < count; ++i) want[i] = y[i] + x[i];
  const DeviceArray<float> dx(x), dy(y);
  ASSERT_TRUE(launch_add({dx.get(), dy.get(), static_cast<int64_t>(count)}, nullptr).ok());
  expect_close(dy.to_host(), want);
}

TEST_F(CudaLayerKernelsGpu, ToBf16MatchesCpuRounding) {
  std::mt19937 rng(7);
  std::vector<float> x = random_values(50000, 1e4f, rng);
  // Ties to even both ways, a subnormal, the largest finite values, infinities, signed zero.
  const std::vector<uint32_t> bits = {0x3f808000u, 0x3f818000u, 0x00012345u, 0x7f7fffffu,
                                      0xff7fffffu, 0x7f800000u, 0xff800000u, 0x80000000u};
  for (const uint32_t b : bits) x.push_back(std::bit_cast<float>(b));
  std::vector<uint16_t> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = f32_to_bf16(x[i]);
  const DeviceArray<float> dx(x);
  const DeviceArray<uint16_t> dy(std::vector<uint16_t>(x.size(), 0xffffu));
  ASSERT_TRUE(launch_to_bf16({dx.get(), dy.get(), static_cast<int64_t>(x.size())}, nullptr).ok());
  EXPECT_EQ(dy.to_host(), want);
}

// Argument checks happen before any CUDA call, so these run without a GPU.
TEST(CudaLayerKernels, RejectBadParams) {
  float x = 0.0f;
  const int64_t pos = 0;
  EXPECT_EQ(launch_rms_norm({&x, &x, &x, -1, 4, 1e-5f}, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(launch_rms_norm({&x, nullptr, &x, 1, 4, 1e-5f}, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(launch_rms_norm({nullptr, nullptr, nullptr, 0, 4, 1e-5f}, nullptr).ok());
  EXPECT_EQ(launch_rope({&x, &pos, 1, 1, 7, 10000.0}, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(launch_rope({&x, nullptr, 1, 1, 8, 10000.0}, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(launch_swiglu({&x, &x, &x, -1}, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(launch_swiglu({nullptr, nullptr, nullptr, 0}, nullptr).ok());
  EXPECT_EQ(launch_add({&x, &x, -1}, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(launch_add({nullptr, &x, 1}, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(launch_add({nullptr, nullptr, 0}, nullptr).ok());
  uint16_t y = 0;
  EXPECT_EQ(launch_to_bf16({&x, &y, -1}, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(launch_to_bf16({&x, nullptr, 1}, nullptr).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ringmaster::model
