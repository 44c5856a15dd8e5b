#include <immintrin.h>

#include "core/dtype.h"
#include "core/internal/bf16_round.h"

namespace ringmaster::internal {

bool cpu_has_avx512_bf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16") != 0;
  return has;
}

// The target attribute compiles just this function for AVX512-BF16; callers check the CPU first.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) int64_t round_to_bf16_avx512(
    const float* src, uint16_t* dst, int64_t count) {
  const __m512i magnitude = _mm512_set1_epi32(0x7fffffff);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i largest_subnormal = _mm512_set1_epi32(0x007fffff);
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m512 v = _mm512_loadu_ps(src + i);
    // |bits| - 1 < 0x7fffff (unsigned) exactly for the nonzero subnormals.
    const __m512i bits = _mm512_and_si512(_mm512_castps_si512(v), magnitude);
    if (_mm512_cmplt_epu32_mask(_mm512_sub_epi32(bits, one), largest_subnormal) != 0) {
      for (int64_t j = i; j < i + 16; ++j) dst[j] = f32_to_bf16(src[j]);
      continue;
    }
    const __m256bh rounded = _mm512_cvtneps_pbh(v);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        reinterpret_cast<const __m256i&>(rounded));
  }
  return i;
}

}  // namespace ringmaster::internal
