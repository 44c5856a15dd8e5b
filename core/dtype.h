// core/dtype.h: element types and the exact widening of bf16/f16 to f32.
//
// Every accumulation in ringmaster is f32 or wider; bf16 and f16 appear as stored weights,
// transferred inputs and, in bf16 compute, the products' operands (the window and local mixers'
// q, k, v rows), and are widened exactly (every bf16 and f16 value is an f32 value). Narrowing
// rounds to nearest even. All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace ringmaster {

enum class DType : uint8_t { kF32, kBf16, kF16, kI32 };

size_t dtype_size(DType dtype);
// "f32", "bf16", "f16", "i32".
const char* dtype_name(DType dtype);
// Parses the names above and the safetensors spellings ("F32", "BF16", "F16", "I32").
StatusOr<DType> parse_dtype(std::string_view name);

float bf16_to_f32(uint16_t bits);
float f16_to_f32(uint16_t bits);
uint16_t f32_to_bf16(float value);
uint16_t f32_to_f16(float value);

// Widens `count` elements of `dtype` at `src` into f32 at `dst`. REQUIRES: dtype is a float type.
void widen_to_f32(DType dtype, const void* src, float* dst, size_t count);
// Narrows `count` f32 values into `dtype` at `dst` (round to nearest even).
void narrow_from_f32(DType dtype, const float* src, void* dst, size_t count);

}  // namespace ringmaster
