#include "core/dtype.h"

#include <cmath>
#include <cstring>
#include <string>

namespace ringmaster {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kBf16:
      return 2;
    case DType::kF16:
      return 2;
    case DType::kI32:
      return 4;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kBf16:
      return "bf16";
    case DType::kF16:
      return "f16";
    case DType::kI32:
      return "i32";
  }
  return "?";
}

StatusOr<DType> parse_dtype(std::string_view name) {
  if (name == "f32" || name == "F32") return DType::kF32;
  if (name == "bf16" || name == "BF16") return DType::kBf16;
  if (name == "f16" || name == "F16") return DType::kF16;
  if (name == "i32" || name == "I32") return DType::kI32;
  return invalid_argument("unknown dtype '" + std::string(name) + "'");
}

float bf16_to_f32(uint16_t bits) {
  const uint32_t wide = uint32_t{bits} << 16;
  float out;
  std::memcpy(&out, &wide, sizeof out);
  return out;
}

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = uint32_t{bits & 0x8000u} << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal
  } else if (exponent == 31) {
    magnitude = mantissa ? NAN : INFINITY;
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  }
  uint32_t out_bits;
  std::memcpy(&out_bits, &magnitude, sizeof out_bits);
  out_bits |= sign;
  float out;
  std::memcpy(&out, &out_bits, sizeof out);
  return out;
}

uint16_t f32_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (std::isnan(value)) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // keep it a NaN
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);                    // nearest even
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

uint16_t f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const float magnitude = std::fabs(value);
  if (std::isnan(value)) return sign | 0x7e00u;
  if (magnitude >= 65520.0f) return sign | 0x7c00u;  // rounds to infinity
  if (magnitude < std::ldexp(1.0f, -14)) {
    // Subnormal: the value is a multiple of 2^-24; nearbyint rounds half to even.
    return sign | static_cast<uint16_t>(std::nearbyint(std::ldexp(magnitude, 24)));
  }
  int exponent;
  const float fraction = std::frexp(magnitude, &exponent);  // magnitude = fraction * 2^exponent
  // 11 significant bits: scale the fraction to [1024, 2048) and round to nearest even.
  auto significand = static_cast<uint32_t>(std::nearbyint(std::ldexp(fraction, 11)));
  if (significand == 2048) {
    significand = 1024;
    ++exponent;
  }
  const uint32_t biased = static_cast<uint32_t>(exponent - 1 + 15);
  if (biased >= 31) return sign | 0x7c00u;
  return sign | static_cast<uint16_t>((biased << 10) | (significand - 1024));
}

void widen_to_f32(DType dtype, const void* src, float* dst, size_t count) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::kBf16:
    case DType::kF16: {
      const auto* in = static_cast<const uint16_t*>(src);
      const auto convert = dtype == DType::kBf16 ? bf16_to_f32 : f16_to_f32;
      for (size_t i = 0; i < count; ++i) dst[i] = convert(in[i]);
      return;
    }
    case DType::kI32:
      break;
  }
  RM_CHECK(false) << "widen_to_f32 of " << dtype_name(dtype);
}

void narrow_from_f32(DType dtype, const float* src, void* dst, size_t count) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::kBf16:
    case DType::kF16: {
      auto* out = static_cast<uint16_t*>(dst);
      const auto convert = dtype == DType::kBf16 ? f32_to_bf16 : f32_to_f16;
      for (size_t i = 0; i < count; ++i) out[i] = convert(src[i]);
      return;
    }
    case DType::kI32:
      break;
  }
  RM_CHECK(false) << "narrow_from_f32 to " << dtype_name(dtype);
}

}  // namespace ringmaster
