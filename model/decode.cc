#include "model/decode.h"

namespace ringmaster::model {

std::vector<DecodeStream> record_ends(const comm::RecordLayout& layout) {
  std::vector<DecodeStream> streams;
  for (int32_t r = 0; r < layout.num_records(); ++r) streams.push_back({r, layout.length(r)});
  return streams;
}

DecodeStreams::DecodeStreams(std::vector<DecodeStream> s, const comm::PartitionPlan& plan,
                             const comm::RecordLayout& layout)
    : streams(std::move(s)) {
  tail.reserve(streams.size());
  for (const DecodeStream& stream : streams) {
    tail.push_back(plan.owner_of(layout.start(stream.record) + stream.base - 1));
  }
}

std::vector<int32_t> DecodeStreams::tailed_by(int rank) const {
  std::vector<int32_t> mine;
  for (size_t s = 0; s < tail.size(); ++s) {
    if (tail[s] == rank) mine.push_back(static_cast<int32_t>(s));
  }
  return mine;
}

void index_local_rows(DecodeStep& step, int rank) {
  step.local.clear();
  for (size_t i = 0; i < step.tail.size(); ++i) {
    if (step.tail[i] == rank) step.local.push_back(i);
  }
}

}  // namespace ringmaster::model
