#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace ringmaster {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(dtype_size(DType::kBf16), 2u);
  EXPECT_EQ(dtype_size(DType::kF16), 2u);
  EXPECT_EQ(dtype_size(DType::kI32), 4u);
  EXPECT_EQ(*parse_dtype("BF16"), DType::kBf16);
  EXPECT_FALSE(parse_dtype("F64").ok());
}

// Every one of the 65536 f16 bit patterns widens to the value IEEE 754 defines, and narrowing
// it back gives the same bits (NaNs aside).
TEST(DType, F16RoundTripsEveryValue) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float f = f16_to_f32(h);
    const uint32_t exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
    const float sign = (bits & 0x8000) ? -1.0f : 1.0f;
    if (exponent == 31) {
      EXPECT_TRUE(mantissa ? std::isnan(f) : std::isinf(f)) << bits;
      continue;
    }
    const float expected = exponent == 0
                               ? sign * std::ldexp(static_cast<float>(mantissa), -24)
                               : sign * std::ldexp(1.0f + static_cast<float>(mantissa) / 1024.0f,
                                                   static_cast<int>(exponent) - 15);
    ASSERT_EQ(f, expected) << bits;
    ASSERT_EQ(f32_to_f16(f), h) << bits;
  }
}

TEST(DType, F16RoundsToNearestEven) {
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 1.0f / 2048)), 1.0f);                // tie -> even (1.0)
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);  // tie -> even
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(70000.0f))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(65504.0f)), 65504.0f);
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);  // tie -> even
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  for (float v : {0.0f, -2.5f, 3.140625f, 1e-30f, 6e37f}) {
    const float widened = bf16_to_f32(f32_to_bf16(v));
    EXPECT_NEAR(widened, v, std::fabs(v) / 128) << v;
  }
}

TEST(DType, WidenAndNarrowArrays) {
  const float values[4] = {1.5f, -0.25f, 1024.0f, 0.0f};
  uint16_t narrow[4];
  float wide[4];
  for (DType dtype : {DType::kBf16, DType::kF16}) {
    narrow_from_f32(dtype, values, narrow, 4);
    widen_to_f32(dtype, narrow, wide, 4);
    EXPECT_EQ(std::memcmp(values, wide, sizeof values), 0) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace ringmaster
