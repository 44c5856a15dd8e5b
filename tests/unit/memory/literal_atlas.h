// An independent float64 transcription of MODEL.md's atlas mixer for one head, written from
// MODEL.md and ALGORITHMS.md 6.8 as plain loops: it calls nothing in memory/ (only the test
// inputs of atlas_inputs.h), so a bug in features, memory_read, omega_gradient or
// newton_schulz5 cannot hide in the reference as well. Slow on purpose: the loss is summed over
// every (t, i) pair of a chunk, as MODEL.md writes it. Header-only, test code.
//
// Layouts (row-major): w1 [hidden, d_phi], w2 [d_v, hidden], u [d_phi], v [d_v].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tests/unit/memory/atlas_inputs.h"

namespace ringmaster::memory::literal {

struct Dims {
  int64_t d_phi, hidden, d_v;
};

// phi(u) = u (degree 1), or [u ; flatten(u u^T) / sqrt(2)] with flatten row-major (degree 2).
inline std::vector<double> phi(const float* u, int64_t hd, int degree) {
  std::vector<double> f(u, u + hd);
  if (degree == 2) {
    for (int64_t a = 0; a < hd; ++a) {
      for (int64_t b = 0; b < hd; ++b) f.push_back(double(u[a]) * double(u[b]) / std::sqrt(2.0));
    }
  }
  return f;
}

inline double logistic(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// M(u) = W2 silu(W1 u), no bias.
inline std::vector<double> memory(const std::vector<double>& w1, const std::vector<double>& w2,
                                  const Dims& d, const std::vector<double>& u) {
  std::vector<double> a(static_cast<size_t>(d.hidden)), y(static_cast<size_t>(d.d_v), 0.0);
  for (int64_t j = 0; j < d.hidden; ++j) {
    double z = 0;
    for (int64_t k = 0; k < d.d_phi; ++k) z += w1[j * d.d_phi + k] * u[k];
    a[j] = z * logistic(z);
  }
  for (int64_t o = 0; o < d.d_v; ++o) {
    for (int64_t j = 0; j < d.hidden; ++j) y[o] += w2[o * d.hidden + j] * a[j];
  }
  return y;
}

// weight |M(u) - v|^2 (sum of squares; no 1/2).
inline double loss_term(const std::vector<double>& w1, const std::vector<double>& w2, const Dims& d,
                        const std::vector<double>& u, const double* v, double weight) {
  const std::vector<double> y = memory(w1, w2, d, u);
  double sum = 0;
  for (int64_t o = 0; o < d.d_v; ++o) sum += (y[o] - v[o]) * (y[o] - v[o]);
  return weight * sum;
}

// Adds the gradient of loss_term w.r.t. (w1, w2) to (g1, g2), by the chain rule
// (ALGORITHMS.md 6.8): e = M(u) - v, g = 2 weight e, dW2 = g a^T,
// delta = (W2^T g) * silu'(z), dW1 = delta u^T, silu'(z) = s(z) (1 + z (1 - s(z))).
inline void add_gradient(const std::vector<double>& w1, const std::vector<double>& w2,
                         const Dims& d, const std::vector<double>& u, const double* v,
                         double weight, std::vector<double>& g1, std::vector<double>& g2) {
  std::vector<double> z(static_cast<size_t>(d.hidden)), a(z.size());
  for (int64_t j = 0; j < d.hidden; ++j) {
    z[j] = 0;
    for (int64_t k = 0; k < d.d_phi; ++k) z[j] += w1[j * d.d_phi + k] * u[k];
    a[j] = z[j] * logistic(z[j]);
  }
  std::vector<double> g(static_cast<size_t>(d.d_v));
  for (int64_t o = 0; o < d.d_v; ++o) {
    double y = 0;
    for (int64_t j = 0; j < d.hidden; ++j) y += w2[o * d.hidden + j] * a[j];
    g[o] = 2.0 * weight * (y - v[o]);
  }
  for (int64_t o = 0; o < d.d_v; ++o) {
    for (int64_t j = 0; j < d.hidden; ++j) g2[o * d.hidden + j] += g[o] * a[j];
  }
  for (int64_t j = 0; j < d.hidden; ++j) {
    double back = 0;
    for (int64_t o = 0; o < d.d_v; ++o) back += w2[o * d.hidden + j] * g[o];
    const double s = logistic(z[j]);
    const double delta = back * s * (1.0 + z[j] * (1.0 - s));
    for (int64_t k = 0; k < d.d_phi; ++k) g1[j * d.d_phi + k] += delta * u[k];
  }
}

// MODEL.md's NS5 of g [rows, cols]:
//   X = G / (|G|_F + 1e-7); if rows > cols: X = X^T
//   5 times: A = X X^T; B = -4.7750 A + 2.0315 A A; X = 3.4445 X + B X;  transpose back.
inline std::vector<double> ns5(const std::vector<double>& g, int64_t rows, int64_t cols) {
  double norm = 0;
  for (double e : g) norm += e * e;
  norm = std::sqrt(norm) + 1e-7;
  const bool transposed = rows > cols;
  const int64_t r = transposed ? cols : rows, c = transposed ? rows : cols;
  std::vector<double> x(static_cast<size_t>(r * c));
  for (int64_t i = 0; i < r; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      x[i * c + j] = (transposed ? g[j * cols + i] : g[i * cols + j]) / norm;
    }
  }
  for (int step = 0; step < 5; ++step) {
    std::vector<double> a(static_cast<size_t>(r * r), 0.0), b(a.size(), 0.0), next(x.size());
    for (int64_t i = 0; i < r; ++i) {
      for (int64_t j = 0; j < r; ++j) {
        for (int64_t k = 0; k < c; ++k) a[i * r + j] += x[i * c + k] * x[j * c + k];
      }
    }
    for (int64_t i = 0; i < r; ++i) {
      for (int64_t j = 0; j < r; ++j) {
        double aa = 0;
        for (int64_t k = 0; k < r; ++k) aa += a[i * r + k] * a[k * r + j];
        b[i * r + j] = -4.7750 * a[i * r + j] + 2.0315 * aa;
      }
    }
    for (int64_t i = 0; i < r; ++i) {
      for (int64_t j = 0; j < c; ++j) {
        double bx = 0;
        for (int64_t k = 0; k < r; ++k) bx += b[i * r + k] * x[k * c + j];
        next[i * c + j] = 3.4445 * x[i * c + j] + bx;
      }
    }
    x = std::move(next);
  }
  std::vector<double> out(g.size());
  for (int64_t i = 0; i < r; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      if (transposed) {
        out[j * cols + i] = x[i * c + j];
      } else {
        out[i * cols + j] = x[i * c + j];
      }
    }
  }
  return out;
}

// The chain of one head over all of `in` (one record from position 0): per chunk, READ at the
// start state, GRAD of L_C = sum_{t in C} sum_{i in [max(0, t - omega + 1), t]} gamma_i
// |M(phi(k_i)) - v_i|^2 pair by pair, then S = mom S + G, W = keep W - lr NS5(S).
// Returns y [len, head_dim].
inline std::vector<double> chain(const Inputs& in) {
  const AtlasShape& s = in.shape;
  const int64_t hd = s.head_dim;
  const Dims d{s.feature_degree == 2 ? hd + hd * hd : hd, s.memory_hidden, hd};
  std::vector<double> w1(in.w1_init.begin(), in.w1_init.end()),
      w2(in.w2_init.begin(), in.w2_init.end()), s1(w1.size(), 0.0), s2(w2.size(), 0.0);
  std::vector<double> y(static_cast<size_t>(in.len * hd));
  auto row = [&](int64_t t) { return in.rows.data() + t * in.ld(); };  // q | k | v | gamma
  for (int64_t c0 = 0, c = 0; c0 < in.len; c0 += s.chunk, ++c) {
    const int64_t c1 = std::min(in.len, c0 + s.chunk);
    for (int64_t t = c0; t < c1; ++t) {
      const std::vector<double> out = memory(w1, w2, d, phi(row(t), hd, s.feature_degree));
      std::copy(out.begin(), out.end(), y.begin() + t * hd);
    }
    std::vector<double> g1(w1.size(), 0.0), g2(w2.size(), 0.0);
    for (int64_t t = c0; t < c1; ++t) {
      for (int64_t i = std::max<int64_t>(0, t - s.omega_window + 1); i <= t; ++i) {
        const std::vector<double> v(row(i) + 2 * hd, row(i) + 3 * hd);
        add_gradient(w1, w2, d, phi(row(i) + hd, hd, s.feature_degree), v.data(), row(i)[3 * hd],
                     g1, g2);
      }
    }
    const ChunkGates gate = in.gates[static_cast<size_t>(c)];
    for (size_t j = 0; j < s1.size(); ++j) s1[j] = gate.mom * s1[j] + g1[j];
    for (size_t j = 0; j < s2.size(); ++j) s2[j] = gate.mom * s2[j] + g2[j];
    const std::vector<double> n1 = ns5(s1, d.hidden, d.d_phi), n2 = ns5(s2, d.d_v, d.hidden);
    for (size_t j = 0; j < w1.size(); ++j) w1[j] = gate.keep * w1[j] - gate.lr * n1[j];
    for (size_t j = 0; j < w2.size(); ++j) w2[j] = gate.keep * w2[j] - gate.lr * n2[j];
  }
  return y;
}

}  // namespace ringmaster::memory::literal
