#include "attention/received_positions.h"

#include <vector>

namespace ringmaster::attention {

Status check_received_positions(const comm::PartitionPlan& plan, const comm::RecordLayout& layout,
                                int src, std::span<const int64_t> pos, std::span<const int32_t> seq,
                                const std::string& where) {
  const std::string from = where + ": the block from rank " + std::to_string(src);
  const std::vector<int64_t> tokens = plan.tokens_of(src);
  if (tokens.size() != pos.size() || (!seq.empty() && seq.size() != pos.size())) {
    return data_loss(from + " has " + std::to_string(pos.size()) + " positions and " +
                     std::to_string(seq.size()) + " sequence ids; the plan gives it " +
                     std::to_string(tokens.size()) + " tokens");
  }
  std::vector<int64_t> want_pos;
  std::vector<int32_t> want_seq;
  layout.positions_of(tokens, want_pos, want_seq);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t got_seq = seq.empty() ? 0 : seq[i];
    if (pos[i] == want_pos[i] && got_seq == want_seq[i]) continue;
    return data_loss(from + ": row " + std::to_string(i) + " has position " +
                     std::to_string(pos[i]) + " of sequence " + std::to_string(got_seq) +
                     "; the plan gives token " + std::to_string(tokens[i]) + " position " +
                     std::to_string(want_pos[i]) + " of sequence " + std::to_string(want_seq[i]));
  }
  return ok_status();
}

}  // namespace ringmaster::attention
