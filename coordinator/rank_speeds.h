// coordinator/rank_speeds.h: --rank-weights auto, from the speeds the workers measure when they
// join (worker/calibration.h) to the rank weights the plan is cut with (comm/partition.h).
//
// Each weight is the rank's speed over the fastest rank's, rounded to eighths (at least one
// eighth). Rounding keeps timing noise out of the cut: workers within about 6% of each other get
// the same weight, and equal weights give exactly the unweighted plan, so a job on alike workers
// cuts (and sums) the same way run after run. Pure; thread-safe.
#pragma once

#include <span>
#include <vector>

namespace ringmaster::coordinator {

inline constexpr int kWeightSteps = 8;

// REQUIRES: every speed finite and > 0.
std::vector<double> weights_from_speeds(std::span<const double> speeds);

// The weights moved `step` eighths of the way to the fastest's 1: step 0 leaves them, step 8 makes
// them equal. What the coordinator tries, step by step, when the measured cut gives a rank more
// tokens than --max-memory-per-worker allows (JobSpec.max_rank_tokens): the fastest rank's share
// shrinks with every step. REQUIRES: 0 <= step <= kWeightSteps; weights from weights_from_speeds.
std::vector<double> toward_equal(std::span<const double> weights, int step);

}  // namespace ringmaster::coordinator
