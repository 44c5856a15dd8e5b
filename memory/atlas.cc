#include "memory/atlas.h"

#include <algorithm>
#include <cstring>

#include "memory/features.h"
#include "memory/newton_schulz.h"

namespace ringmaster::memory {
namespace {

void copy_rows(const float* src, int64_t rows, int64_t width, float* dst) {
  std::memcpy(dst, src, static_cast<size_t>(rows * width) * sizeof(float));
}

// The token rows a run can see: the state's tail before first_pos, then the run's own rows.
struct TokenRows {
  const HeadState& state;
  const HeadRun& run;
  int64_t head_dim;

  int64_t tail_begin() const { return run.first_pos - state.tail; }
  const float* k(int64_t pos) const {
    return pos >= run.first_pos ? run.k + (pos - run.first_pos) * run.ld
                                : state.tail_k.data() + (pos - tail_begin()) * head_dim;
  }
  const float* v(int64_t pos) const {
    return pos >= run.first_pos ? run.v + (pos - run.first_pos) * run.ld
                                : state.tail_v.data() + (pos - tail_begin()) * head_dim;
  }
  float gamma(int64_t pos) const {
    return pos >= run.first_pos ? run.gamma[(pos - run.first_pos) * run.ld]
                                : state.tail_gamma[static_cast<size_t>(pos - tail_begin())];
  }
};

}  // namespace

int64_t AtlasShape::d_phi() const { return feature_dim(head_dim, feature_degree); }

int64_t AtlasShape::tail_at(int64_t position) const { return std::min(omega_window - 1, position); }

HeadState initial_state(const AtlasShape& shape, const float* w1_init, const float* w2_init) {
  const int64_t n1 = shape.memory_hidden * shape.d_phi(), n2 = shape.head_dim * shape.memory_hidden;
  HeadState s;
  s.w1.assign(w1_init, w1_init + n1);
  s.w2.assign(w2_init, w2_init + n2);
  s.s1.assign(static_cast<size_t>(n1), 0.0f);
  s.s2.assign(static_cast<size_t>(n2), 0.0f);
  return s;
}

void run_head(const AtlasShape& shape, HeadState& state, const HeadRun& run,
              AtlasScratch& scratch) {
  const int64_t hd = shape.head_dim, dphi = shape.d_phi(), omega = shape.omega_window;
  const MemoryDims dims = shape.dims();
  const int64_t n1 = dims.hidden * dphi, n2 = hd * dims.hidden;
  const int64_t end = run.first_pos + run.len;
  const TokenRows rows{state, run, hd};
  scratch.g1.resize(static_cast<size_t>(n1));
  scratch.n1.resize(static_cast<size_t>(n1));
  scratch.g2.resize(static_cast<size_t>(n2));
  scratch.n2.resize(static_cast<size_t>(n2));
  size_t chunk_index = 0;
  for (int64_t c0 = run.first_pos; c0 < end; c0 += shape.chunk, ++chunk_index) {
    const int64_t c1 = std::min(end, c0 + shape.chunk), b = c1 - c0;
    const ChunkGates gates = run.gates[chunk_index];

    // READ at the start state: the chunk never sees itself through the memory.
    scratch.uq.resize(static_cast<size_t>(b * dphi));
    features(run.q + (c0 - run.first_pos) * run.ld, b, run.ld, hd, shape.feature_degree,
             scratch.uq.data());
    memory_read(state.w1.data(), state.w2.data(), dims, scratch.uq.data(), b,
                run.y + (c0 - run.first_pos) * run.ld_y, run.ld_y, scratch.work);

    // The Omega window: token i carries gamma_i * n_i, n_i >= 1 for every i in [lo, c1).
    const int64_t lo = std::max<int64_t>(0, c0 - omega + 1), m = c1 - lo;
    scratch.u.resize(static_cast<size_t>(m * dphi));
    scratch.v.resize(static_cast<size_t>(m * hd));
    scratch.weight.resize(static_cast<size_t>(m));
    for (int64_t i = lo; i < c1; ++i) {
      const int64_t r = i - lo;
      features(rows.k(i), 1, hd, hd, shape.feature_degree, scratch.u.data() + r * dphi);
      copy_rows(rows.v(i), 1, hd, scratch.v.data() + r * hd);
      const int64_t n_i = std::min(i + omega - 1, c1 - 1) - std::max(i, c0) + 1;
      scratch.weight[static_cast<size_t>(r)] = rows.gamma(i) * static_cast<float>(n_i);
    }
    omega_gradient(state.w1.data(), state.w2.data(), dims, scratch.u.data(), scratch.v.data(),
                   scratch.weight.data(), m, scratch.g1.data(), scratch.g2.data(), scratch.work);

    // S = mom S + G;  W = keep W - lr NS5(S)
    for (int64_t i = 0; i < n1; ++i) state.s1[i] = gates.mom * state.s1[i] + scratch.g1[i];
    for (int64_t i = 0; i < n2; ++i) state.s2[i] = gates.mom * state.s2[i] + scratch.g2[i];
    newton_schulz5(state.s1.data(), dims.hidden, dphi, scratch.n1.data(), scratch.ns);
    newton_schulz5(state.s2.data(), hd, dims.hidden, scratch.n2.data(), scratch.ns);
    for (int64_t i = 0; i < n1; ++i) {
      state.w1[i] = gates.keep * state.w1[i] - gates.lr * scratch.n1[i];
    }
    for (int64_t i = 0; i < n2; ++i) {
      state.w2[i] = gates.keep * state.w2[i] - gates.lr * scratch.n2[i];
    }
  }

  advance_tail(shape, state, run);
}

void advance_tail(const AtlasShape& shape, HeadState& state, const HeadRun& run) {
  const int64_t hd = shape.head_dim, end = run.first_pos + run.len;
  const TokenRows rows{state, run, hd};
  // The next boundary's tail may reach back past this run (omega - 1 > run length).
  const int64_t tail = shape.tail_at(end);
  std::vector<float> tail_k(static_cast<size_t>(tail * hd)), tail_v(tail_k.size()),
      tail_gamma(static_cast<size_t>(tail));
  for (int64_t r = 0; r < tail; ++r) {
    const int64_t pos = end - tail + r;
    copy_rows(rows.k(pos), 1, hd, tail_k.data() + r * hd);
    copy_rows(rows.v(pos), 1, hd, tail_v.data() + r * hd);
    tail_gamma[static_cast<size_t>(r)] = rows.gamma(pos);
  }
  state.tail = tail;
  state.tail_k = std::move(tail_k);
  state.tail_v = std::move(tail_v);
  state.tail_gamma = std::move(tail_gamma);
}

int64_t state_floats(const AtlasShape& shape, int64_t heads, int64_t position) {
  const int64_t weights =
      shape.memory_hidden * shape.d_phi() + shape.head_dim * shape.memory_hidden;
  return heads * (2 * weights + shape.tail_at(position) * (2 * shape.head_dim + 1));
}

void pack_states(std::span<const HeadState> states, float* out) {
  for (const HeadState& s : states) {
    for (const std::vector<float>* part :
         {&s.w1, &s.w2, &s.s1, &s.s2, &s.tail_k, &s.tail_v, &s.tail_gamma}) {
      out = std::copy(part->begin(), part->end(), out);
    }
  }
}

void unpack_states(const AtlasShape& shape, int64_t position, const float* in,
                   std::span<HeadState> states) {
  const int64_t n1 = shape.memory_hidden * shape.d_phi(), n2 = shape.head_dim * shape.memory_hidden;
  const int64_t tail = shape.tail_at(position);
  for (HeadState& s : states) {
    s.tail = tail;
    const std::pair<std::vector<float>*, int64_t> parts[] = {{&s.w1, n1},
                                                             {&s.w2, n2},
                                                             {&s.s1, n1},
                                                             {&s.s2, n2},
                                                             {&s.tail_k, tail * shape.head_dim},
                                                             {&s.tail_v, tail * shape.head_dim},
                                                             {&s.tail_gamma, tail}};
    for (auto [part, count] : parts) {
      part->assign(in, in + count);
      in += count;
    }
  }
}

}  // namespace ringmaster::memory
