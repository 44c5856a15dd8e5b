#include "coordinator/job_output.h"

namespace ringmaster::coordinator {

io::JobSummary with_facts(io::JobSummary summary, const RunFacts& facts) {
  summary.wall_time_s = facts.wall_time_s;
  summary.worker_peaks = facts.worker_peaks;
  summary.worker_telemetry = facts.worker_telemetry;
  if (!facts.rank_weights.empty()) {
    summary.rank_weights = facts.rank_weights;
    summary.rank_speeds = facts.rank_speeds;
  }
  return summary;
}

}  // namespace ringmaster::coordinator
