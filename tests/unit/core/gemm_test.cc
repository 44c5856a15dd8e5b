#include "core/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/internal/bf16_round.h"

namespace ringmaster {
namespace {

struct Case {
  int64_t m, n, k;
  bool trans_a, trans_b;
  float alpha, beta;
  int64_t pad;  // extra elements per stored row: a stride larger than the row
};

// Row-major operand as stored ([rows, cols] with row stride cols + pad), f32 values that are
// exactly bf16 values, and their bf16 bits.
struct Operand {
  int64_t rows, cols, ld;
  std::vector<float> f32;
  std::vector<uint16_t> bf16;
  float at(int64_t r, int64_t c) const { return f32[static_cast<size_t>(r * ld + c)]; }
};

Operand make_operand(int64_t rows, int64_t cols, int64_t pad, std::mt19937& rng) {
  Operand op{rows, cols, cols + pad, {}, {}};
  std::normal_distribution<float> normal;
  const auto size = static_cast<size_t>(rows * op.ld);
  op.f32.resize(size);
  op.bf16.resize(size);
  for (size_t i = 0; i < size; ++i) {
    op.bf16[i] = f32_to_bf16(normal(rng));
    op.f32[i] = bf16_to_f32(op.bf16[i]);
  }
  return op;
}

// C = alpha op(A) op(B) + beta C0 in double, and the sum of |terms| per entry (the scale of the
// accumulation's rounding error).
void reference(const Case& c, const Operand& a, const Operand& b, const std::vector<float>& c0,
               std::vector<double>& out, std::vector<double>& scale) {
  out.assign(static_cast<size_t>(c.m * c.n), 0.0);
  scale.assign(out.size(), 0.0);
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double sum = 0, abs_sum = 0;
      for (int64_t l = 0; l < c.k; ++l) {
        const double x = c.trans_a ? a.at(l, i) : a.at(i, l);
        const double y = c.trans_b ? b.at(j, l) : b.at(l, j);
        sum += x * y;
        abs_sum += std::fabs(x * y);
      }
      const auto e = static_cast<size_t>(i * c.n + j);
      out[e] = c.alpha * sum + c.beta * c0[e];
      scale[e] = std::fabs(c.alpha) * abs_sum + std::fabs(c.beta * c0[e]) + 1e-30;
    }
  }
}

class CpuGemm : public ::testing::TestWithParam<Case> {};

// bf16 operands hold the same values as the f32 ones, and a bf16 x bf16 product is exact in
// f32, so both dtypes must match the double reference to f32 accumulation error (k * 2^-24 of
// the terms' magnitude), whichever library or fallback ran.
TEST_P(CpuGemm, BothDtypesMatchDoubleReference) {
  const Case c = GetParam();
  std::mt19937 rng(static_cast<unsigned>(c.m * 131 + c.n * 7 + c.k));
  const Operand a =
      c.trans_a ? make_operand(c.k, c.m, c.pad, rng) : make_operand(c.m, c.k, c.pad, rng);
  const Operand b =
      c.trans_b ? make_operand(c.n, c.k, c.pad, rng) : make_operand(c.k, c.n, c.pad, rng);
  const int64_t ldc = c.n + c.pad;
  std::vector<float> c0(static_cast<size_t>(c.m * c.n));
  std::normal_distribution<float> normal;
  for (float& v : c0) v = normal(rng);
  std::vector<double> want, scale;
  reference(c, a, b, c0, want, scale);

  for (const DType dtype : {DType::kF32, DType::kBf16}) {
    // Garbage (NaN) in C must not leak into a beta = 0 result; the padding must stay untouched.
    std::vector<float> out(static_cast<size_t>(c.m * ldc), NAN);
    for (int64_t i = 0; i < c.m; ++i) {
      for (int64_t j = 0; j < c.n; ++j) {
        out[static_cast<size_t>(i * ldc + j)] =
            c.beta != 0 ? c0[static_cast<size_t>(i * c.n + j)] : NAN;
      }
    }
    const bool bf16 = dtype == DType::kBf16;
    cpu_gemm({.a = bf16 ? static_cast<const void*>(a.bf16.data()) : a.f32.data(),
              .b = bf16 ? static_cast<const void*>(b.bf16.data()) : b.f32.data(),
              .c = out.data(),
              .dtype = dtype,
              .m = c.m,
              .n = c.n,
              .k = c.k,
              .lda = a.ld,
              .ldb = b.ld,
              .ldc = ldc,
              .trans_a = c.trans_a,
              .trans_b = c.trans_b,
              .alpha = c.alpha,
              .beta = c.beta});
    const double tol = 4.0 * static_cast<double>(c.k + 2) * std::ldexp(1.0, -24);
    for (int64_t i = 0; i < c.m; ++i) {
      for (int64_t j = 0; j < c.n; ++j) {
        const auto e = static_cast<size_t>(i * c.n + j);
        const float got = out[static_cast<size_t>(i * ldc + j)];
        ASSERT_TRUE(std::isfinite(got)) << dtype_name(dtype) << " at " << i << "," << j;
        ASSERT_LE(std::fabs(got - want[e]) / scale[e], tol)
            << dtype_name(dtype) << " at " << i << "," << j << ": " << got << " vs " << want[e];
      }
      for (int64_t j = c.n; j < ldc; ++j) {
        ASSERT_TRUE(std::isnan(out[static_cast<size_t>(i * ldc + j)])) << "padding written";
      }
    }
  }
}

// The transposes the kernels use: x W^T (NT), P V (NN), and TN for completeness; odd sizes,
// strided rows, alpha and beta (the attention kernel's scale and accumulate).
INSTANTIATE_TEST_SUITE_P(Shapes, CpuGemm,
                         ::testing::Values(Case{37, 53, 19, false, true, 1.0f, 0.0f, 0},
                                           Case{1, 7, 130, false, true, 1.0f, 1.0f, 3},
                                           Case{65, 33, 200, false, false, 1.0f, 1.0f, 5},
                                           Case{256, 512, 64, false, true, 0.125f, 0.0f, 64},
                                           Case{200, 32, 512, false, false, 1.0f, 1.0f, 0},
                                           Case{17, 29, 31, true, false, -0.5f, 2.0f, 1},
                                           Case{9, 1, 1, false, true, 1.0f, 0.0f, 0}));

TEST(CpuGemm, ZeroSizedProblemsAreNoOps) {
  float c = 3.0f;
  cpu_gemm({.a = nullptr,
            .b = nullptr,
            .c = &c,
            .dtype = DType::kBf16,
            .m = 1,
            .n = 1,
            .k = 0,
            .lda = 1,
            .ldb = 1,
            .ldc = 1,
            .beta = 1.0f});
  EXPECT_EQ(c, 3.0f);
  cpu_gemm({.a = nullptr,
            .b = nullptr,
            .c = nullptr,
            .dtype = DType::kBf16,
            .m = 0,
            .n = 4,
            .k = 4,
            .lda = 4,
            .ldb = 4,
            .ldc = 4});
}

TEST(CpuGemm, NamesItsPath) {
  std::printf("f32: %s\nbf16: %s\n", cpu_gemm_path(DType::kF32).c_str(),
              cpu_gemm_path(DType::kBf16).c_str());
  EXPECT_FALSE(cpu_gemm_path(DType::kF32).empty());
  EXPECT_NE(cpu_gemm_path(DType::kBf16).find("isa"), std::string::npos)
      << cpu_gemm_path(DType::kBf16);
}

// The SIMD rounding equals the scalar f32_to_bf16 bit for bit: ties to even, overflow to
// infinity, subnormals, NaNs, over lengths that leave a scalar tail.
TEST(RoundToBf16, MatchesScalarRounding) {
  std::vector<float> values = {0.0f, -0.0f,   1.0f,     INFINITY, -INFINITY, NAN,
                               -NAN, 3.4e38f, -3.4e38f, 1e-40f,   -1e-45f};
  for (const uint32_t bits : {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7fffffu, 0x7fc00001u,
                              0xffa00000u, 0x00008000u, 0x80018000u}) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    values.push_back(f);
  }
  std::mt19937 rng(3);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 4000; ++i) {
    const uint32_t bits = any(rng);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    values.push_back(f);
  }
  // Each way it runs: the dispatching entry, the Highway code, and where the CPU has it the
  // AVX512-BF16 instruction (which reads subnormals as zero unless the code steps around it).
  using Rounding = void (*)(const float*, uint16_t*, int64_t);
  std::vector<std::pair<const char*, Rounding>> ways = {
      {"round_to_bf16", round_to_bf16}, {"portable", internal::round_to_bf16_portable}};
  if (internal::cpu_has_avx512_bf16()) {
    ways.emplace_back("avx512_bf16", [](const float* src, uint16_t* dst, int64_t count) {
      const int64_t done = internal::round_to_bf16_avx512(src, dst, count);
      ASSERT_EQ(done, count / 16 * 16);
      for (int64_t i = done; i < count; ++i) dst[i] = f32_to_bf16(src[i]);
    });
  }
  for (const auto& [name, round] : ways) {
    for (const size_t length : {values.size(), size_t{5}, size_t{17}}) {
      std::vector<uint16_t> got(length);
      round(values.data(), got.data(), static_cast<int64_t>(length));
      for (size_t i = 0; i < length; ++i) {
        ASSERT_EQ(got[i], f32_to_bf16(values[i])) << name << ": value " << values[i] << " at " << i;
      }
    }
  }
}

}  // namespace
}  // namespace ringmaster
