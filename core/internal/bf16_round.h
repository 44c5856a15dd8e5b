// core/internal/bf16_round.h: the two ways round_to_bf16 (core/gemm.h) runs, apart so a test can
// check each against f32_to_bf16 on a CPU that has both.
//
// VCVTNEPS2BF16 rounds 16 floats to nearest even in one instruction and quiets NaNs the way
// f32_to_bf16 does, where the portable Highway code (bf16_round.cc; Highway 1.0 emits no bf16
// conversion) takes ten. It reads subnormal inputs as zero, so a vector holding one goes
// through f32_to_bf16 instead: the result is the same bits on every CPU.
#pragma once

#include <cstdint>

namespace ringmaster::internal {

// True when this CPU (and OS) runs AVX512-BF16 instructions.
bool cpu_has_avx512_bf16();

// dst[i] = f32_to_bf16(src[i]) for the first count / 16 * 16 elements; returns how many it did.
// REQUIRES: cpu_has_avx512_bf16(). (bf16_round_avx512.cc)
int64_t round_to_bf16_avx512(const float* src, uint16_t* dst, int64_t count);

// dst[i] = f32_to_bf16(src[i]) for all count elements, on the best Highway target of this CPU.
void round_to_bf16_portable(const float* src, uint16_t* dst, int64_t count);

}  // namespace ringmaster::internal
