#include "model/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/check.h"

namespace ringmaster::model {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// log-softmax of the raw logits at `token`, in float64: z_t - max - log(sum exp(z_j - max)).
double raw_log_prob(std::span<const float> logits, int32_t token) {
  double max = -kInf;
  for (const float z : logits) max = std::max(max, static_cast<double>(z));
  double sum = 0;
  for (const float z : logits) sum += std::exp(static_cast<double>(z) - max);
  return static_cast<double>(logits[token]) - max - std::log(sum);
}

// The smallest id whose cumulative probability passes u. If rounding leaves the total at or
// below u, the last id with p > 0, so an id the rule could never pick is never returned.
int32_t draw(const std::vector<double>& p, double u) {
  double cumulative = 0;
  int32_t last_positive = -1;
  for (size_t j = 0; j < p.size(); ++j) {
    if (p[j] <= 0) continue;
    cumulative += p[j];
    last_positive = static_cast<int32_t>(j);
    if (cumulative > u) return last_positive;
  }
  return last_positive;
}

}  // namespace

uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double uniform(uint64_t seed, uint64_t record, uint64_t step) {
  const uint64_t x = splitmix64(splitmix64(splitmix64(seed) ^ record) ^ step);
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

Choice choose_next(std::span<const float> logits, io::Vocab vocab, const SamplingOptions& options,
                   int64_t record, int64_t step) {
  const int32_t num_ids = io::vocab_size(vocab);
  RM_CHECK(static_cast<int64_t>(logits.size()) == num_ids)
      << logits.size() << " logits for a vocabulary of " << num_ids;
  RM_CHECK(options.temperature >= 0 && options.top_k >= 0 && record >= 0 && step >= 0);

  // Widened first: temperature and softmax are float64 (MODEL.md), the masks are -inf.
  std::vector<double> z(logits.begin(), logits.end());
  z[io::bos_id(vocab)] = -kInf;
  z[io::pad_id(vocab)] = -kInf;
  if (options.ignore_eos) z[io::eos_id(vocab)] = -kInf;

  int32_t token = 0;
  if (options.temperature == 0) {
    // Strict > from id 0 keeps the lowest id on ties.
    for (int32_t j = 1; j < num_ids; ++j) {
      if (z[j] > z[token]) token = j;
    }
  } else {
    for (double& v : z) v /= options.temperature;
    if (options.top_k > 0 && options.top_k < num_ids) {
      // The K first in (value descending, id ascending) stay; the order is total, so the kept
      // set is the same whichever selection algorithm finds it.
      std::vector<int32_t> order(static_cast<size_t>(num_ids));
      std::iota(order.begin(), order.end(), 0);
      const auto before = [&z](int32_t a, int32_t b) {
        return z[a] > z[b] || (z[a] == z[b] && a < b);
      };
      std::nth_element(order.begin(), order.begin() + options.top_k, order.end(), before);
      for (auto it = order.begin() + options.top_k; it != order.end(); ++it) z[*it] = -kInf;
    }
    const double max = *std::max_element(z.begin(), z.end());
    std::vector<double> p(z.size());
    double sum = 0;
    for (size_t j = 0; j < z.size(); ++j) sum += p[j] = std::exp(z[j] - max);
    for (double& v : p) v /= sum;
    token =
        draw(p, uniform(options.seed, static_cast<uint64_t>(record), static_cast<uint64_t>(step)));
  }
  return Choice{token, raw_log_prob(logits, token)};
}

}  // namespace ringmaster::model
