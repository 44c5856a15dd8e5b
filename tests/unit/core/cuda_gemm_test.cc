// core/cuda/gemm.h against a plain CPU loop: f32 (no TF32) within 1e-4 and bf16 inputs (f32
// accumulation) within 1e-3 of a double sum over the same, widened values; every transpose
// combination, strided leading dimensions, alpha and beta. Labelled gpu: device cases skip
// without a GPU (fail under RINGMASTER_REQUIRE_GPU); argument checks run everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cuda/cuda_status.h"
#include "core/cuda/gemm.h"
#include "core/dtype.h"
#include "tests/unit/gpu/require_gpu.h"

namespace ringmaster {
namespace {

using CudaGemmGpu = ringmaster::testing::GpuTest;

struct DeviceFree {
  void operator()(void* p) const { (void)cudaFree(p); }
};
using DevicePtr = std::unique_ptr<void, DeviceFree>;

DevicePtr to_device(const void* host, size_t bytes) {
  void* raw = nullptr;
  EXPECT_EQ(cudaMalloc(&raw, bytes), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(raw, host, bytes, cudaMemcpyHostToDevice), cudaSuccess);
  return DevicePtr(raw);
}

// A row-major matrix as stored: `rows` rows of `ld` elements, the first `cols` of each used.
struct Matrix {
  int64_t rows, cols, ld;
  std::vector<float> values;   // exact in `dtype`
  std::vector<uint16_t> bits;  // the bf16 bits, when dtype is bf16

  float at(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * ld + c)]; }
};

Matrix random_matrix(int64_t rows, int64_t cols, int64_t pad, DType dtype, std::mt19937& rng) {
  Matrix m{rows, cols, cols + pad, {}, {}};
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  m.values.resize(static_cast<size_t>(rows * m.ld));
  for (float& x : m.values) x = dist(rng);
  if (dtype == DType::kBf16) {
    m.bits.resize(m.values.size());
    narrow_from_f32(dtype, m.values.data(), m.bits.data(), m.values.size());
    widen_to_f32(dtype, m.bits.data(), m.values.data(), m.bits.size());
  }
  return m;
}

DevicePtr upload(const Matrix& m, DType dtype) {
  return dtype == DType::kBf16 ? to_device(m.bits.data(), m.bits.size() * sizeof(uint16_t))
                               : to_device(m.values.data(), m.values.size() * sizeof(float));
}

void check_gemm(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, float beta, std::mt19937& rng) {
  SCOPED_TRACE(std::string(dtype_name(dtype)) + (trans_a ? " A^T" : " A") +
               (trans_b ? " B^T" : " B") + " m=" + std::to_string(m) + " n=" + std::to_string(n) +
               " k=" + std::to_string(k));
  const Matrix a =
      trans_a ? random_matrix(k, m, 3, dtype, rng) : random_matrix(m, k, 1, dtype, rng);
  const Matrix b =
      trans_b ? random_matrix(n, k, 0, dtype, rng) : random_matrix(k, n, 5, dtype, rng);
  const Matrix c0 = random_matrix(m, n, 2, DType::kF32, rng);

  std::vector<float> want = c0.values;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        sum += double{trans_a ? a.at(p, i) : a.at(i, p)} * (trans_b ? b.at(j, p) : b.at(p, j));
      }
      float& dst = want[static_cast<size_t>(i * c0.ld + j)];
      dst = static_cast<float>(alpha * sum + double{beta} * dst);
    }
  }

  StatusOr<CublasHandle> handle = CublasHandle::create();
  ASSERT_TRUE(handle.ok()) << handle.status().to_string();
  const DevicePtr da = upload(a, dtype), db = upload(b, dtype);
  const DevicePtr dc = to_device(c0.values.data(), c0.values.size() * sizeof(float));
  GemmParams p;
  p.a = da.get();
  p.b = db.get();
  p.c = static_cast<float*>(dc.get());
  p.dtype = dtype;
  p.m = m;
  p.n = n;
  p.k = k;
  p.lda = a.ld;
  p.ldb = b.ld;
  p.ldc = c0.ld;
  p.trans_a = trans_a;
  p.trans_b = trans_b;
  p.alpha = alpha;
  p.beta = beta;
  const Status s = gemm(*handle, p, nullptr);
  ASSERT_TRUE(s.ok()) << s.to_string();
  std::vector<float> got(want.size());
  ASSERT_EQ(cudaMemcpy(got.data(), dc.get(), got.size() * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  // Tolerance relative to the size of the sum's terms (each |a b| <= 1).
  const float tol = (dtype == DType::kBf16 ? 1e-3f : 1e-4f) * std::max<float>(1.0f, std::sqrt(k));
  int failures = 0;
  for (size_t i = 0; i < got.size() && failures < 10; ++i) {
    if (!(std::fabs(got[i] - want[i]) <= tol)) {
      ADD_FAILURE() << "element " << i << ": " << got[i] << " vs " << want[i];
      ++failures;
    }
  }
}

TEST_F(CudaGemmGpu, MatchesCpuLoop) {
  std::mt19937 rng(11);
  for (const DType dtype : {DType::kF32, DType::kBf16}) {
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        check_gemm(dtype, ta, tb, 33, 65, 130, 1.0f, 0.0f, rng);
        check_gemm(dtype, ta, tb, 1, 7, 3, 0.5f, 1.0f, rng);
      }
    }
    check_gemm(dtype, false, true, 256, 512, 384, -2.0f, 0.25f, rng);
  }
}

// Argument checks happen before any CUDA call, so these run without a GPU.
TEST(CudaGemm, RejectsBadParams) {
  const CublasHandle empty;  // needs no GPU; gemm refuses it after the argument checks
  float x = 0.0f;
  GemmParams p;
  p.a = p.b = &x;
  p.c = &x;
  p.m = p.n = p.k = 2;
  p.lda = p.ldb = p.ldc = 2;
  GemmParams bad = p;
  bad.dtype = DType::kF16;
  EXPECT_EQ(gemm(empty, bad, nullptr).code(), StatusCode::kInvalidArgument);
  bad = p;
  bad.lda = 1;
  EXPECT_EQ(gemm(empty, bad, nullptr).code(), StatusCode::kInvalidArgument);
  bad = p;
  bad.k = int64_t{1} << 32;
  EXPECT_EQ(gemm(empty, bad, nullptr).code(), StatusCode::kInvalidArgument);
  bad = p;
  bad.dtype = DType::kBf16;
  bad.allow_tf32 = true;
  EXPECT_EQ(gemm(empty, bad, nullptr).code(), StatusCode::kInvalidArgument);
  const Status s = gemm(empty, p, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("empty CublasHandle"), std::string::npos) << s.to_string();
}

TEST(CudaGemm, StatusNamesCallAndCode) {
  const Status s = cublas_error_status(7, "cublasGemmEx");  // CUBLAS_STATUS_INVALID_VALUE
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("cublasGemmEx"), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("CUBLAS_STATUS_INVALID_VALUE"), std::string::npos) << s.to_string();
}

}  // namespace
}  // namespace ringmaster
