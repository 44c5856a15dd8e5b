// The device merge (attention/cuda/merge.cuh) against the CPU's merge_into, on random partials
// with empty (-inf) rows. Labelled gpu: the device cases skip when no GPU is visible, and fail
// instead when RINGMASTER_REQUIRE_GPU is set (tests/gpu/run.sh sets it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <sstream>
#include <string>

#include "attention/attention.h"
#include "attention/cuda/merge.cuh"
#include "core/cuda/cuda_status.h"
#include "tests/unit/gpu/require_gpu.h"

namespace ringmaster::attention {
namespace {

using CudaMergeGpu = ringmaster::testing::GpuTest;

// Which rows of a random partial are empty.
enum class Empties { kNone, kSome };

// A random partial: out in [-1, 1], lse in [-30, 30], about one row in five empty, and some rows
// far below the others so their merge weight underflows to zero.
BlockResult random_result(int64_t q_len, int64_t n_heads, int64_t head_dim, std::mt19937& rng,
                          Empties empties) {
  BlockResult r = make_empty_result(q_len, n_heads, head_dim);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::uniform_real_distribution<float> lse(-30.0f, 30.0f);
  std::uniform_int_distribution<int> kind(0, 9);
  float* o = r.out.data<float>();
  float* l = r.lse.data<float>();
  for (int64_t row = 0; row < r.lse.numel(); ++row) {
    const int k = kind(rng);
    if (empties == Empties::kSome && k < 2) continue;  // empty: out = 0, lse = -inf
    l[row] = k == 2 ? lse(rng) - 200.0f : lse(rng);
    for (int64_t i = 0; i < head_dim; ++i) o[row * head_dim + i] = value(rng);
  }
  return r;
}

BlockResult copy(const BlockResult& r) { return {r.out.clone(), r.lse.clone()}; }

// Device and host merges agree: empty rows exactly, the rest to a few ulps.
void expect_close(const BlockResult& device, const BlockResult& host) {
  const int64_t rows = host.lse.numel();
  const int64_t head_dim = host.out.dim(-1);
  const float* dl = device.lse.data<float>();
  const float* hl = host.lse.data<float>();
  const float* dout = device.out.data<float>();
  const float* hout = host.out.data<float>();
  int failures = 0;
  for (int64_t r = 0; r < rows && failures < 10; ++r) {
    if (std::isinf(hl[r])) {
      EXPECT_EQ(dl[r], hl[r]) << "row " << r;
      for (int64_t i = 0; i < head_dim; ++i) {
        EXPECT_EQ(dout[r * head_dim + i], 0.0f) << "row " << r << " col " << i;
      }
      failures += dl[r] != hl[r];
      continue;
    }
    EXPECT_NEAR(dl[r], hl[r], 1e-5f * std::max(1.0f, std::fabs(hl[r]))) << "row " << r;
    failures += std::fabs(dl[r] - hl[r]) > 1e-5f * std::max(1.0f, std::fabs(hl[r]));
    for (int64_t i = 0; i < head_dim; ++i) {
      const float d = dout[r * head_dim + i];
      const float h = hout[r * head_dim + i];
      EXPECT_NEAR(d, h, 1e-5f) << "row " << r << " col " << i;
      failures += std::fabs(d - h) > 1e-5f;
    }
  }
}

struct Case {
  int64_t q_len;
  int64_t n_heads;
  int64_t head_dim;
};

class CudaMergeTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { ringmaster::testing::require_gpu(); }
};

TEST_P(CudaMergeTest, MatchesCpuMerge) {
  const Case c = GetParam();
  std::mt19937 rng(1234 + static_cast<unsigned>(c.head_dim));
  const BlockResult a = random_result(c.q_len, c.n_heads, c.head_dim, rng, Empties::kSome);
  const BlockResult b = random_result(c.q_len, c.n_heads, c.head_dim, rng, Empties::kSome);

  BlockResult host = copy(a);
  merge_into(host, b);
  BlockResult device = copy(a);
  ASSERT_TRUE(merge_on_device(device, b).ok());
  expect_close(device, host);
}

// head_dim 128 and 64 take the float4 path, 36 a float4 path with idle lanes, 33 and 1 the
// scalar path; row counts are not multiples of the four rows per block.
// "q257_h8_d128": the test name suffix, and how ctest prints the parameter.
void PrintTo(const Case& c, std::ostream* os) {
  *os << "q" << c.q_len << "_h" << c.n_heads << "_d" << c.head_dim;
}

std::string case_name(const ::testing::TestParamInfo<Case>& param) {
  std::ostringstream name;  // not string operator+: GCC 12 warns falsely (-Wrestrict) on that
  PrintTo(param.param, &name);
  return name.str();
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaMergeTest,
                         ::testing::Values(Case{257, 8, 128}, Case{33, 3, 64}, Case{7, 5, 36},
                                           Case{65, 2, 33}, Case{9, 1, 1}, Case{1, 1, 256}),
                         case_name);

TEST_F(CudaMergeGpu, EmptyIsIdentityBitForBit) {
  std::mt19937 rng(7);
  const BlockResult a = random_result(40, 4, 128, rng, Empties::kSome);
  const BlockResult empty = make_empty_result(40, 4, 128);

  BlockResult acc = copy(a);  // a + empty == a
  ASSERT_TRUE(merge_on_device(acc, empty).ok());
  EXPECT_EQ(std::memcmp(acc.out.raw(), a.out.raw(), a.out.bytes()), 0);
  EXPECT_EQ(std::memcmp(acc.lse.raw(), a.lse.raw(), a.lse.bytes()), 0);

  BlockResult acc2 = make_empty_result(40, 4, 128);  // empty + a == a
  ASSERT_TRUE(merge_on_device(acc2, a).ok());
  EXPECT_EQ(std::memcmp(acc2.out.raw(), a.out.raw(), a.out.bytes()), 0);
  EXPECT_EQ(std::memcmp(acc2.lse.raw(), a.lse.raw(), a.lse.bytes()), 0);
}

TEST_F(CudaMergeGpu, RingOfBlocksMatchesCpu) {
  std::mt19937 rng(99);
  BlockResult host = make_empty_result(64, 4, 64);
  BlockResult device = make_empty_result(64, 4, 64);
  for (int step = 0; step < 6; ++step) {
    const BlockResult part =
        random_result(64, 4, 64, rng, step % 2 == 0 ? Empties::kSome : Empties::kNone);
    merge_into(host, part);
    ASSERT_TRUE(merge_on_device(device, part).ok());
  }
  expect_close(device, host);
}

// Argument checks happen before any CUDA call, so these run without a GPU.
TEST(CudaMerge, LaunchRejectsBadParams) {
  float x = 0.0f;
  EXPECT_EQ(launch_merge({&x, &x, &x, &x, -1, 4}, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(launch_merge({&x, &x, &x, &x, 1, 0}, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(launch_merge({nullptr, &x, &x, &x, 1, 4}, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(launch_merge({nullptr, nullptr, nullptr, nullptr, 0, 4}, nullptr).ok());
}

TEST(CudaMerge, MergeOnDeviceRejectsMismatchedShapes) {
  BlockResult a = make_empty_result(4, 2, 8);
  const BlockResult b = make_empty_result(4, 2, 16);
  const Status s = merge_on_device(a, b);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("shapes"), std::string::npos) << s.to_string();
}

TEST(CudaStatus, NamesCallerFileAndLine) {
  EXPECT_TRUE(cuda_status(cudaSuccess).ok());
  const int line = __LINE__ + 1;
  const Status s = cuda_status(cudaErrorInvalidValue);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("cuda_merge_test.cc:" + std::to_string(line)), std::string::npos)
      << s.to_string();
  EXPECT_NE(s.message().find("cudaErrorInvalidValue"), std::string::npos) << s.to_string();
}

TEST(CudaStatus, DeviceAvailableIsStable) {
  const bool first = cuda_device_available();
  EXPECT_EQ(cuda_device_available(), first);
}

// Without a GPU (or driver) CUDA calls fail, and that failure is a Status, not a crash.
TEST(CudaMerge, MergeOnDeviceWithoutGpuIsInternalError) {
  if (cuda_device_available()) GTEST_SKIP() << "a CUDA device is visible";
  BlockResult a = make_empty_result(4, 2, 8);
  const BlockResult b = make_empty_result(4, 2, 8);
  const Status s = merge_on_device(a, b);
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.to_string();
  EXPECT_NE(s.message().find("merge.cu:"), std::string::npos) << s.to_string();
}

}  // namespace
}  // namespace ringmaster::attention
