// predict/planner.h: `ringmaster plan`'s answer for one job on given hardware: the busiest
// rank's memory (predict/memory_model.h) with a verdict against the memory each worker has, the
// prefill time split by block (predict/time_model.h), the decode time per token, and the
// partition plan and context-parallel layout predicted fastest among those the model allows.
// Also what `ringmaster run` checks before it launches. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "predict/hardware.h"
#include "predict/job.h"
#include "predict/memory_model.h"
#include "predict/time_model.h"

namespace ringmaster::predict {

// The largest worker count the verdict searches ("needs N workers").
inline constexpr int kMaxPlannedWorkers = 1 << 20;

struct Verdict {
  bool fits = true;
  int oom_block = -1;      // the first block whose peak passes the limit; -1: none, or before any
  int workers_needed = 0;  // the fewest workers (same plan) that fit; 0: fits, or none do
  std::string text;        // one line: "fits: ...", "OOM at block 2 (fit): ...; needs 8 workers"
};

// The verdict of `memory` against `memory_per_worker` bytes (0: no limit). `job` and `hw` are
// what `memory` came from; they let it search for the worker count that fits.
Verdict judge_memory(const PlannedJob& job, const Hardware& hw, const RankMemory& memory,
                     int64_t memory_per_worker);

struct Candidate {
  comm::PlanKind plan = comm::PlanKind::kZigzag;
  attention::ContextParallelism context_parallel;
  double prefill_s = 0;
  int64_t peak_bytes = 0;
};

struct PlanReport {
  PlannedJob job;
  int64_t memory_per_worker = 0;  // 0: no limit
  RankMemory memory;
  Verdict verdict;
  PrefillTime prefill;
  double decode_s_per_token = -1;     // -1: a bidirectional model does not generate
  std::vector<Candidate> candidates;  // every plan x layout the model allows, fastest first
};

// Errors: the job is not allowed as described (check_job_allowed), or an invalid size.
StatusOr<PlanReport> make_plan(const PlannedJob& job, const Hardware& hw,
                               int64_t memory_per_worker);

// The report as JSON (bytes, seconds, FLOP/s), with the hardware it assumed.
std::string plan_to_json(const PlanReport& report, const Hardware& hw);
// The report as the table `ringmaster plan` prints.
std::string plan_to_text(const PlanReport& report);
// The memory lines `ringmaster run` prints before it launches.
std::string memory_to_text(const PlanReport& report);

}  // namespace ringmaster::predict
