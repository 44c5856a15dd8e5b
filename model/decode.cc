#include "model/decode.h"

namespace ringmaster::model {

std::vector<int> tail_ranks(const comm::PartitionPlan& plan, const comm::RecordLayout& layout) {
  std::vector<int> tails(static_cast<size_t>(layout.num_records()));
  for (int r = 0; r < layout.num_records(); ++r) {
    tails[static_cast<size_t>(r)] = plan.owner_of(layout.start(r + 1) - 1);
  }
  return tails;
}

void index_local_rows(DecodeStep& step, int rank) {
  step.local.clear();
  for (size_t i = 0; i < step.tail.size(); ++i) {
    if (step.tail[i] == rank) step.local.push_back(i);
  }
}

}  // namespace ringmaster::model
