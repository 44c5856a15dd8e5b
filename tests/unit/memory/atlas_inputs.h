// Random inputs of one ATLAS head for the chain tests (CPU and GPU): l2-normalised q and k,
// normal v, gamma in [0, 1), gates in the ranges a trained model produces, and scaled initial
// weights. Header-only, test code.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "memory/atlas.h"

namespace ringmaster::memory {

struct Inputs {
  AtlasShape shape;
  int64_t len;
  std::vector<float> rows;  // [len, 4 * head_dim]: q | k | v | gamma (gamma in column 3 hd)
  std::vector<ChunkGates> gates;
  std::vector<float> w1_init, w2_init;
  int64_t ld() const { return 4 * shape.head_dim; }
};

inline Inputs make_inputs(AtlasShape shape, int64_t len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  Inputs in{shape, len, {}, {}, {}, {}};
  const int64_t hd = shape.head_dim;
  in.rows.resize(static_cast<size_t>(len * in.ld()));
  for (int64_t t = 0; t < len; ++t) {
    float* row = in.rows.data() + t * in.ld();
    for (int part = 0; part < 2; ++part) {  // l2-normalised q and k
      double norm = 0;
      for (int64_t j = 0; j < hd; ++j) norm += std::pow(row[part * hd + j] = normal(rng), 2);
      for (int64_t j = 0; j < hd; ++j) row[part * hd + j] /= static_cast<float>(std::sqrt(norm));
    }
    for (int64_t j = 0; j < hd; ++j) row[2 * hd + j] = normal(rng);
    row[3 * hd] = uniform(rng);
  }
  const int64_t chunks = (len + shape.chunk - 1) / shape.chunk;
  for (int64_t c = 0; c < chunks; ++c) {
    in.gates.push_back({0.8f + 0.15f * uniform(rng), 0.02f + 0.05f * uniform(rng), uniform(rng)});
  }
  for (int64_t i = 0; i < shape.memory_hidden * shape.d_phi(); ++i) {
    in.w1_init.push_back(normal(rng) / std::sqrt(static_cast<float>(shape.d_phi())));
  }
  for (int64_t i = 0; i < shape.head_dim * shape.memory_hidden; ++i) {
    in.w2_init.push_back(normal(rng) / std::sqrt(static_cast<float>(shape.memory_hidden)));
  }
  return in;
}

// The run of positions [begin, end) of `in`, writing y rows [begin, end).
inline HeadRun make_run(const Inputs& in, int64_t begin, int64_t end, std::vector<float>& y) {
  const int64_t hd = in.shape.head_dim;
  HeadRun r;
  r.first_pos = begin;
  r.len = end - begin;
  const float* row = in.rows.data() + begin * in.ld();
  r.q = row;
  r.k = row + hd;
  r.v = row + 2 * hd;
  r.gamma = row + 3 * hd;
  r.ld = in.ld();
  r.y = y.data() + begin * hd;
  r.ld_y = hd;
  const auto first_chunk = static_cast<size_t>(begin / in.shape.chunk);
  r.gates = std::span(in.gates).subspan(first_chunk);
  return r;
}

}  // namespace ringmaster::memory
