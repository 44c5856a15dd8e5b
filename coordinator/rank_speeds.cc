#include "coordinator/rank_speeds.h"

#include <algorithm>
#include <cmath>

namespace ringmaster::coordinator {

std::vector<double> weights_from_speeds(std::span<const double> speeds) {
  const double fastest = *std::max_element(speeds.begin(), speeds.end());
  std::vector<double> weights;
  weights.reserve(speeds.size());
  for (const double speed : speeds) {
    const double steps = std::max(1.0, std::round(kWeightSteps * speed / fastest));
    weights.push_back(steps / kWeightSteps);
  }
  return weights;
}

std::vector<double> toward_equal(std::span<const double> weights, int step) {
  std::vector<double> moved;
  moved.reserve(weights.size());
  for (const double w : weights) moved.push_back(w + (1.0 - w) * step / kWeightSteps);
  return moved;
}

}  // namespace ringmaster::coordinator
