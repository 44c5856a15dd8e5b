// The device block kernel (attention/cuda/block_kernel.cuh) against the CPU attend_block, over
// dtypes {bf16, f16} x head_dim {64, 128} x every mask x shapes with odd lengths, GQA, fully
// hidden rows, several sequences and zigzag positions. Inputs are rounded to the dtype first and
// the CPU runs on them widened to f32, so both see identical values; the kernel then differs only
// by rounding its probabilities to the dtype before P V. Labelled gpu: device cases skip without
// a GPU (fail under RINGMASTER_REQUIRE_GPU); argument checks run everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/cuda/block_kernel.cuh"
#include "core/cuda/cuda_status.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "tests/unit/gpu/require_gpu.h"

namespace ringmaster::attention {
namespace {

using CudaConvertGpu = ringmaster::testing::GpuTest;

struct DeviceFree {
  void operator()(void* p) const { (void)cudaFree(p); }
};
using DevicePtr = std::unique_ptr<void, DeviceFree>;

// A device copy of `bytes` bytes at `host` (nullptr for an empty array: the kernel's "absent").
DevicePtr to_device(const void* host, size_t bytes) {
  if (bytes == 0) return nullptr;
  void* raw = nullptr;
  EXPECT_EQ(cudaMalloc(&raw, bytes), cudaSuccess);
  DevicePtr ptr(raw);
  EXPECT_EQ(cudaMemcpy(raw, host, bytes, cudaMemcpyHostToDevice), cudaSuccess);
  return ptr;
}

template <typename T>
DevicePtr to_device(const std::vector<T>& v) {
  return to_device(v.data(), v.size() * sizeof(T));
}

DevicePtr device_alloc(size_t bytes) {
  void* raw = nullptr;
  EXPECT_EQ(cudaMalloc(&raw, bytes), cudaSuccess);
  return DevicePtr(raw);
}

enum class MaskKind { kNone, kCausal, kWindowCausal, kWindowBidir, kGroup, kCausalGroup };

MaskSpec mask_of(MaskKind kind) {
  switch (kind) {
    case MaskKind::kNone:
      return {};
    case MaskKind::kCausal:
      return {.causal = true};
    case MaskKind::kWindowCausal:
      return {.causal = true, .window = 37};
    case MaskKind::kWindowBidir:
      return {.window = 50};
    case MaskKind::kGroup:
      return {.group = 64};
    case MaskKind::kCausalGroup:
      return {.causal = true, .group = 64};
  }
  return {};
}

// The tokens of one side of a block: positions, and sequence ids (empty: all in sequence 0,
// passed to the kernel as a null pointer).
struct Tokens {
  std::vector<int64_t> pos;
  std::vector<int32_t> seq;
};

Tokens contiguous(int64_t first, int64_t count) {
  Tokens t;
  for (int64_t i = 0; i < count; ++i) t.pos.push_back(first + i);
  return t;
}

// Zigzag: rank r of `ranks` holds chunks r and 2 * ranks - 1 - r of `chunk` tokens each.
Tokens zigzag(int rank, int ranks, int64_t chunk) {
  Tokens t = contiguous(rank * chunk, chunk);
  const Tokens tail = contiguous((2 * ranks - 1 - rank) * chunk, chunk);
  t.pos.insert(t.pos.end(), tail.pos.begin(), tail.pos.end());
  t.seq.assign(t.pos.size(), 0);  // explicit ids: exercises the kernel's seq pointers
  return t;
}

// Records of the given lengths back to back, each with positions from 0.
Tokens records(const std::vector<int64_t>& lengths) {
  Tokens t;
  for (size_t r = 0; r < lengths.size(); ++r) {
    for (int64_t i = 0; i < lengths[r]; ++i) {
      t.pos.push_back(i);
      t.seq.push_back(static_cast<int32_t>(r) + 3);
    }
  }
  return t;
}

enum class ShapeKind { kOne, kDecodeTail, kOdd, kRingFuture, kRecords, kZigzag, kLong };

struct Shape {
  Tokens q, k;
  int n_heads, n_kv_heads;
};

Shape shape_of(ShapeKind kind) {
  switch (kind) {
    case ShapeKind::kOne:
      return {contiguous(0, 1), contiguous(0, 1), 2, 2};
    case ShapeKind::kDecodeTail:  // the last 33 queries against all 130 keys, GQA 4:2
      return {contiguous(97, 33), contiguous(0, 130), 4, 2};
    case ShapeKind::kOdd:  // GQA 8:1
      return {contiguous(0, 257), contiguous(0, 257), 8, 1};
    case ShapeKind::kRingFuture:  // every key after every query: causal rows are all hidden
      return {contiguous(0, 64), contiguous(100, 70), 4, 2};
    case ShapeKind::kRecords:
      return {records({40, 57, 33}), records({40, 57, 33}), 4, 4};
    case ShapeKind::kZigzag:
      return {zigzag(0, 4, 48), zigzag(1, 4, 48), 4, 2};
    case ShapeKind::kLong:  // several query and key tiles, tails in both
      return {contiguous(400, 300), contiguous(0, 700), 2, 1};
  }
  return {};
}

struct Case {
  DType dtype;
  int head_dim;
  MaskKind mask;
  ShapeKind shape;
};

const char* mask_name(MaskKind m) {
  static const char* const kNames[] = {"none",         "causal",  "window37causal",
                                       "window50bidi", "group64", "causalgroup64"};
  return kNames[static_cast<int>(m)];
}

const char* shape_name(ShapeKind s) {
  static const char* const kNames[] = {"one",     "decodetail", "odd", "ringfuture",
                                       "records", "zigzag",     "long"};
  return kNames[static_cast<int>(s)];
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << dtype_name(c.dtype) << "_d" << c.head_dim << "_" << mask_name(c.mask) << "_"
      << shape_name(c.shape);
}

std::string case_name(const ::testing::TestParamInfo<Case>& param) {
  std::ostringstream name;
  PrintTo(param.param, &name);
  return name.str();
}

// Random values in [-range, range] rounded to `dtype`: returns the dtype bits and fills `wide`
// with their exact f32 values.
std::vector<uint16_t> random_narrow(int64_t count, float range, DType dtype, std::mt19937& rng,
                                    std::vector<float>& wide) {
  std::uniform_real_distribution<float> dist(-range, range);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& x : values) x = dist(rng);
  std::vector<uint16_t> bits(values.size());
  narrow_from_f32(dtype, values.data(), bits.data(), values.size());
  wide.resize(values.size());
  widen_to_f32(dtype, bits.data(), wide.data(), bits.size());
  return bits;
}

class CudaBlockKernelTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { ringmaster::testing::require_gpu(); }
};

TEST_P(CudaBlockKernelTest, MatchesCpuAttendBlock) {
  const Case c = GetParam();
  const Shape s = shape_of(c.shape);
  const MaskSpec mask = mask_of(c.mask);
  const auto q_len = static_cast<int64_t>(s.q.pos.size());
  const auto kv_len = static_cast<int64_t>(s.k.pos.size());
  const int64_t d = c.head_dim;
  std::mt19937 rng(17 + static_cast<unsigned>(c.head_dim) + static_cast<unsigned>(c.shape));

  std::vector<float> qf, kf, vf;
  const auto qb = random_narrow(q_len * s.n_heads * d, 2.0f, c.dtype, rng, qf);
  const auto kb = random_narrow(kv_len * s.n_kv_heads * d, 2.0f, c.dtype, rng, kf);
  const auto vb = random_narrow(kv_len * s.n_kv_heads * d, 1.0f, c.dtype, rng, vf);

  // CPU reference on the widened values.
  ThreadPool pool(1);
  const Tensor q = Tensor::wrap(qf.data(), {q_len, s.n_heads, d}, DType::kF32);
  const Tensor k = Tensor::wrap(kf.data(), {kv_len, s.n_kv_heads, d}, DType::kF32);
  const Tensor v = Tensor::wrap(vf.data(), {kv_len, s.n_kv_heads, d}, DType::kF32);
  const Positions q_tokens{s.q.pos, s.q.seq};
  const Positions k_tokens{s.k.pos, s.k.seq};
  StatusOr<BlockResult> ref = attend_block(q, k, v, q_tokens, k_tokens, mask, pool);
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();

  // Device.
  const DevicePtr dq = to_device(qb), dk = to_device(kb), dv = to_device(vb);
  const DevicePtr dq_pos = to_device(s.q.pos), dk_pos = to_device(s.k.pos);
  const DevicePtr dq_seq = to_device(s.q.seq), dk_seq = to_device(s.k.seq);
  const int64_t out_n = q_len * s.n_heads * d;
  const int64_t lse_n = q_len * s.n_heads;
  const DevicePtr d_out = device_alloc(sizeof(float) * out_n);
  const DevicePtr d_lse = device_alloc(sizeof(float) * lse_n);
  // NaN-fill the outputs: every element the kernel should write must be overwritten.
  ASSERT_EQ(cudaMemset(d_out.get(), 0xff, sizeof(float) * out_n), cudaSuccess);
  ASSERT_EQ(cudaMemset(d_lse.get(), 0xff, sizeof(float) * lse_n), cudaSuccess);

  AttendParams p;
  p.q = dq.get();
  p.k = dk.get();
  p.v = dv.get();
  p.dtype = c.dtype;
  p.q_pos = static_cast<const int64_t*>(dq_pos.get());
  p.q_seq = static_cast<const int32_t*>(dq_seq.get());
  p.k_pos = static_cast<const int64_t*>(dk_pos.get());
  p.k_seq = static_cast<const int32_t*>(dk_seq.get());
  p.out = static_cast<float*>(d_out.get());
  p.lse = static_cast<float*>(d_lse.get());
  p.q_len = q_len;
  p.kv_len = kv_len;
  p.n_heads = s.n_heads;
  p.n_kv_heads = s.n_kv_heads;
  p.head_dim = c.head_dim;
  p.causal = mask.causal;
  p.window = mask.window;
  p.group = mask.group;
  const Status launched = launch_attend_block(p, nullptr);
  ASSERT_TRUE(launched.ok()) << launched.to_string();
  ASSERT_TRUE(cuda_status(cudaDeviceSynchronize()).ok());
  std::vector<float> out(static_cast<size_t>(out_n)), lse(static_cast<size_t>(lse_n));
  ASSERT_EQ(cudaMemcpy(out.data(), d_out.get(), sizeof(float) * out_n, cudaMemcpyDeviceToHost),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(lse.data(), d_lse.get(), sizeof(float) * lse_n, cudaMemcpyDeviceToHost),
            cudaSuccess);

  const float* ref_out = ref->out.data<float>();
  const float* ref_lse = ref->lse.data<float>();
  float max_ref = 0.0f;
  for (int64_t i = 0; i < out_n; ++i) max_ref = std::max(max_ref, std::fabs(ref_out[i]));
  const float tol = (c.dtype == DType::kBf16 ? 2e-2f : 5e-3f) * std::max(max_ref, 1e-3f);
  int failures = 0;
  int hidden_rows = 0;
  float max_err = 0.0f, max_lse_err = 0.0f;
  for (int64_t row = 0; row < lse_n && failures < 10; ++row) {
    if (std::isinf(ref_lse[row])) {  // every key hidden: exactly -inf and zeros
      ++hidden_rows;
      EXPECT_EQ(lse[row], -INFINITY) << "row " << row;
      failures += lse[row] != -INFINITY;
      for (int64_t i = 0; i < d; ++i) {
        EXPECT_EQ(out[row * d + i], 0.0f) << "row " << row << " col " << i;
        failures += out[row * d + i] != 0.0f;
      }
      continue;
    }
    ASSERT_FALSE(std::isnan(lse[row])) << "row " << row;
    max_lse_err = std::max(max_lse_err, std::fabs(lse[row] - ref_lse[row]));
    EXPECT_NEAR(lse[row], ref_lse[row], 1e-2f) << "row " << row;
    failures += !(std::fabs(lse[row] - ref_lse[row]) <= 1e-2f);
    for (int64_t i = 0; i < d; ++i) {
      const float got = out[row * d + i];
      const float want = ref_out[row * d + i];
      ASSERT_FALSE(std::isnan(got)) << "row " << row << " col " << i;
      max_err = std::max(max_err, std::fabs(got - want));
      if (!(std::fabs(got - want) <= tol)) {
        ADD_FAILURE() << "row " << row << " col " << i << ": " << got << " vs " << want
                      << " (tolerance " << tol << ")";
        ++failures;
      }
    }
  }
  RecordProperty("max_abs_err", std::to_string(max_err));
  RecordProperty("max_lse_err", std::to_string(max_lse_err));
  if (c.shape == ShapeKind::kRingFuture && mask.causal) {
    EXPECT_EQ(hidden_rows, lse_n) << "a causal block of future keys hides every row";
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const DType dtype : {DType::kBf16, DType::kF16}) {
    for (const int head_dim : {64, 128}) {
      for (int m = 0; m <= static_cast<int>(MaskKind::kCausalGroup); ++m) {
        for (int sh = 0; sh <= static_cast<int>(ShapeKind::kLong); ++sh) {
          cases.push_back({dtype, head_dim, static_cast<MaskKind>(m), static_cast<ShapeKind>(sh)});
        }
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Grid, CudaBlockKernelTest, ::testing::ValuesIn(all_cases()), case_name);

// f32 -> bf16/f16 -> f32 on the device, bit for bit as core/dtype.h's narrow/widen: rounding ties,
// subnormals of f16, overflow to infinity, signed zeros and infinities.
TEST_F(CudaConvertGpu, RoundTripMatchesHostBitForBit) {
  std::mt19937 rng(5);
  std::vector<float> values = {0.0f,     -0.0f,     1.0f,        -1.5f,       65504.0f, 65519.0f,
                               65520.0f, 1e-8f,     -3e-5f,      6.1e-5f,     1e30f,    -1e-40f,
                               INFINITY, -INFINITY, 1.00390625f, 1.001953125f};
  std::uniform_real_distribution<float> exponent(-30.0f, 30.0f);
  for (int i = 0; i < 5000; ++i) values.push_back(std::exp2(exponent(rng)) * (i % 2 ? 1 : -1));
  const auto count = static_cast<int64_t>(values.size());
  const DevicePtr d_src = to_device(values);
  const DevicePtr d_narrow = device_alloc(sizeof(uint16_t) * values.size());
  const DevicePtr d_wide = device_alloc(sizeof(float) * values.size());
  for (const DType dtype : {DType::kBf16, DType::kF16}) {
    SCOPED_TRACE(dtype_name(dtype));
    ASSERT_TRUE(
        launch_convert(d_src.get(), DType::kF32, d_narrow.get(), dtype, count, nullptr).ok());
    ASSERT_TRUE(
        launch_convert(d_narrow.get(), dtype, d_wide.get(), DType::kF32, count, nullptr).ok());
    std::vector<uint16_t> narrow(values.size());
    std::vector<float> wide(values.size());
    ASSERT_EQ(cudaMemcpy(narrow.data(), d_narrow.get(), narrow.size() * sizeof(uint16_t),
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
    ASSERT_EQ(
        cudaMemcpy(wide.data(), d_wide.get(), wide.size() * sizeof(float), cudaMemcpyDeviceToHost),
        cudaSuccess);
    std::vector<uint16_t> host_narrow(values.size());
    std::vector<float> host_wide(values.size());
    narrow_from_f32(dtype, values.data(), host_narrow.data(), values.size());
    widen_to_f32(dtype, host_narrow.data(), host_wide.data(), values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      ASSERT_EQ(narrow[i], host_narrow[i]) << "value " << values[i];
      ASSERT_EQ(std::memcmp(&wide[i], &host_wide[i], sizeof(float)), 0) << "value " << values[i];
    }
  }
}

// Argument checks happen before any CUDA call, so these run without a GPU.
TEST(CudaBlockKernel, LaunchRejectsBadParams) {
  alignas(16) static char buffer[64];
  const int64_t pos = 0;
  float out = 0.0f, lse = 0.0f;
  AttendParams good;
  good.q = good.k = good.v = buffer;
  good.q_pos = good.k_pos = &pos;
  good.out = &out;
  good.lse = &lse;
  good.q_len = good.kv_len = 1;
  good.n_heads = good.n_kv_heads = 1;
  good.head_dim = 64;
  const auto code = [](const AttendParams& p) { return launch_attend_block(p, nullptr).code(); };
  AttendParams p = good;
  p.head_dim = 96;
  EXPECT_EQ(code(p), StatusCode::kInvalidArgument);
  p = good;
  p.dtype = DType::kF32;
  EXPECT_EQ(code(p), StatusCode::kInvalidArgument);
  p = good;
  p.n_heads = 3;
  p.n_kv_heads = 2;
  EXPECT_EQ(code(p), StatusCode::kInvalidArgument);
  p = good;
  p.kv_len = -1;
  EXPECT_EQ(code(p), StatusCode::kInvalidArgument);
  p = good;
  p.window = -2;
  EXPECT_EQ(code(p), StatusCode::kInvalidArgument);
  p = good;
  p.out = nullptr;
  EXPECT_EQ(code(p), StatusCode::kInvalidArgument);
  p = good;
  p.k = nullptr;
  EXPECT_EQ(code(p), StatusCode::kInvalidArgument);
  p = good;
  p.v = buffer + 2;
  EXPECT_EQ(code(p), StatusCode::kInvalidArgument);
  p = AttendParams{};  // q_len == 0: a no-op, with no pointer at all
  p.n_heads = p.n_kv_heads = 1;
  p.head_dim = 128;
  EXPECT_TRUE(launch_attend_block(p, nullptr).ok());
}

TEST(CudaConvert, RejectsBadArguments) {
  float x = 0.0f;
  EXPECT_EQ(launch_convert(&x, DType::kF32, &x, DType::kF32, 1, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(launch_convert(&x, DType::kBf16, &x, DType::kF16, 1, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(launch_convert(&x, DType::kF32, &x, DType::kBf16, -1, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(launch_convert(nullptr, DType::kF32, &x, DType::kBf16, 1, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(launch_convert(nullptr, DType::kF32, nullptr, DType::kBf16, 0, nullptr).ok());
}

}  // namespace
}  // namespace ringmaster::attention
