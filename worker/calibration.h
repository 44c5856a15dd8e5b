// worker/calibration.h: how fast this worker is, measured when it joins a --rank-weights auto
// job.
//
// A worker whose Welcome carries a Calibration times one block's dense half before its first
// Register (LayerBackend::add_residuals: RMSNorm, the SwiGLU MLP, the residual adds) on the
// backend and threads the job will use, and registers with the rows it pushed per second. The
// coordinator turns the speeds into rank weights (coordinator/rank_speeds.h). The MLP is most of
// a block's token-wise work, the part the weights move between ranks, and it is what differs
// most between workers of different cores or devices (a GPU worker and a CPU worker in one
// --device auto job).
//
// The measurement takes about kBudget: a warm-up pass, then passes until the budget is spent
// (at least kMinPasses); each pass is about kPassFlops, so a slow worker does fewer. The budget
// spans several CPU-quota periods (cgroups throttle per 100 ms), so a worker held to part of a
// core measures near its share rather than a lucky or an unlucky period. The MLP is
// capped at kMaxWidth x kMaxHidden, so a huge model does not allocate gigabytes to be timed.
// Thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <stop_token>

#include "core/dtype.h"
#include "core/status.h"
#include "worker/attention_backend.h"

namespace ringmaster::worker {

struct CalibrationSpec {
  int64_t d_model = 0;
  int64_t mlp_hidden = 0;
  int threads = 1;
  ComputeDevice device = ComputeDevice::kCpu;
  DType compute = DType::kF32;
  int local_rank = 0;  // picks the GPU, as the shard's backend will
};

inline constexpr std::chrono::milliseconds kBudget{500};
inline constexpr int kMinPasses = 3;
inline constexpr double kPassFlops = 1e9;
inline constexpr int64_t kMaxWidth = 1024;
inline constexpr int64_t kMaxHidden = 4096;

// Rows per second through add_residuals at `spec`'s (capped) widths. kCancelled once `stop` is
// requested; the backend's errors (no GPU for kCuda) otherwise.
StatusOr<double> measure_speed(const CalibrationSpec& spec, std::stop_token stop);

}  // namespace ringmaster::worker
