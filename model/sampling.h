// model/sampling.h: MODEL.md "generate": the next token from one row of logits.
//
//   z[<bos>] = z[<pad>] = -inf (and z[<eos>] with ignore_eos)
//   temperature 0: argmax z, the lowest id on ties
//   temperature T > 0: z /= T; top_k K > 0 keeps the K largest (by value, then lowest id);
//       p = softmax(z) in float64; u = uniform(seed, record, step); next = the smallest j with
//       p[0] + ... + p[j] > u (if rounding leaves the total <= u: the last j with p[j] > 0)
// The log-likelihood of the choice is the log-softmax of the raw logits (before any masking,
// temperature or top-k), in float64. Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <span>

#include "io/tokens.h"

namespace ringmaster::model {

struct SamplingOptions {
  double temperature = 0;  // 0: greedy
  int64_t top_k = 0;       // 0: no cut
  uint64_t seed = 0;
  bool ignore_eos = false;
};

// SplitMix64's output function: z += 0x9E3779B97F4A7C15, then two xor-shift-multiplies.
uint64_t splitmix64(uint64_t z);

// (x >> 11) * 2^-53 with x = sm(sm(sm(seed) ^ record) ^ step): in [0, 1).
double uniform(uint64_t seed, uint64_t record, uint64_t step);

struct Choice {
  int32_t token = 0;
  double log_prob = 0;  // log-softmax of the raw logits at `token`
};

// The token MODEL.md's rule picks at `step` of `record` from logits [V of vocab].
Choice choose_next(std::span<const float> logits, io::Vocab vocab, const SamplingOptions& options,
                   int64_t record, int64_t step);

}  // namespace ringmaster::model
