#include "coordinator/generated_records.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "proto/convert.h"
#include "proto/validate.h"

namespace ringmaster::coordinator {
namespace {

// [record] -> the rank whose ranges hold the record's last fed token (its tail). The ranges of
// every rank, sorted, are swept once along the tails, which increase with the record.
std::vector<int32_t> tail_owners(const comm::RecordLayout& layout,
                                 const comm::PartitionPlan& plan) {
  std::vector<std::tuple<int64_t, int64_t, int32_t>> ranges;  // begin, end, rank
  for (int r = 0; r < plan.world(); ++r) {
    for (const comm::TokenRange& range : plan.ranges_of(r)) {
      ranges.emplace_back(range.begin, range.end, r);
    }
  }
  std::sort(ranges.begin(), ranges.end());
  std::vector<int32_t> owner(static_cast<size_t>(layout.num_records()), -1);
  size_t at = 0;
  for (int record = 0; record < layout.num_records(); ++record) {
    const int64_t tail = layout.start(record) + layout.length(record) - 1;
    while (at < ranges.size() && std::get<1>(ranges[at]) <= tail) ++at;
    RM_CHECK(at < ranges.size() && std::get<0>(ranges[at]) <= tail)
        << "the plan leaves token " << tail << " to no rank";
    owner[static_cast<size_t>(record)] = std::get<2>(ranges[at]);
  }
  return owner;
}

// Log-likelihoods are sums of log-probabilities (<= 0); a little rounding above 0 is allowed.
constexpr double kMaxLogLikelihood = 1e-6;

}  // namespace

GeneratedRecords::GeneratedRecords(const pb::JobSpec& job, const comm::PartitionPlan& plan,
                                   io::Vocab vocab)
    : max_new_tokens_(job.model().max_new_tokens()),
      ignore_eos_(job.model().ignore_eos()),
      regular_ids_(io::num_regular_ids(vocab)),
      tail_owner_(tail_owners(proto::to_record_layout(job), plan)) {
  have_.assign(tail_owner_.size(), 0);
  expected_.assign(static_cast<size_t>(plan.world()), 0);
  received_.assign(static_cast<size_t>(plan.world()), 0);
  for (const int32_t r : tail_owner_) ++expected_[static_cast<size_t>(r)];
  records_.resize(tail_owner_.size());
}

Status GeneratedRecords::add(int rank, const pb::ResultChunk& chunk) {
  const std::string who = "rank " + std::to_string(rank);
  if (chunk.rank() != rank) {
    return invalid_argument(who + " sent a ResultChunk claiming rank " +
                            std::to_string(chunk.rank()));
  }
  RM_RETURN_IF_ERROR(proto::validate_generated_chunk(chunk, max_new_tokens_).with_context(who));
  // Every record is checked before any is stored, so a bad chunk leaves no trace. Records are
  // marked as they pass, which also catches a duplicate inside this chunk; on error the marks are
  // undone.
  auto fail = [&](int marked, Status status) {
    for (int j = 0; j < marked; ++j) have_[static_cast<size_t>(chunk.generated(j).record())] = 0;
    return status;
  };
  const auto num_records = static_cast<int64_t>(records_.size());
  for (int i = 0; i < chunk.generated_size(); ++i) {
    const pb::GeneratedRecord& g = chunk.generated(i);
    const int64_t record = g.record();
    const std::string what = who + " sent record " + std::to_string(record);
    if (record < 0 || record >= num_records) {
      return fail(i, invalid_argument(what + " outside [0, " + std::to_string(num_records) + ")"));
    }
    const int32_t owner = tail_owner_[static_cast<size_t>(record)];
    if (owner != rank) {
      return fail(i, invalid_argument(what + ", whose last prompt token the plan gives rank " +
                                      std::to_string(owner)));
    }
    if (have_[static_cast<size_t>(record)] != 0) {
      return fail(i, data_loss(what + " twice"));
    }
    for (int k = 0; k < g.tokens_size(); ++k) {
      if (g.tokens(k) < 0 || g.tokens(k) >= regular_ids_) {
        return fail(
            i, invalid_argument(what + " with token " + std::to_string(g.tokens(k)) + " at step " +
                                std::to_string(k) + ", not a regular id of the vocabulary (0.." +
                                std::to_string(regular_ids_ - 1) + ")"));
      }
    }
    // MODEL.md: a record stops at <eos> (never drawn with --ignore-eos) or after max_new_tokens.
    const bool stop_ok = g.eos() ? !ignore_eos_ && g.tokens_size() < max_new_tokens_
                                 : g.tokens_size() == max_new_tokens_;
    if (!stop_ok) {
      return fail(i,
                  invalid_argument(what + " stopping " + (g.eos() ? "at <eos>" : "at length") +
                                   " after " + std::to_string(g.tokens_size()) +
                                   " tokens; max_new_tokens is " + std::to_string(max_new_tokens_) +
                                   (ignore_eos_ ? " and <eos> is ignored" : "")));
    }
    if (g.log_likelihood() > kMaxLogLikelihood) {
      return fail(
          i, invalid_argument(what + " with log-likelihood " + std::to_string(g.log_likelihood()) +
                              " > 0, not a log-probability"));
    }
    have_[static_cast<size_t>(record)] = 1;
  }
  for (const pb::GeneratedRecord& g : chunk.generated()) {
    io::Generation& out = records_[static_cast<size_t>(g.record())];
    out.tokens.assign(g.tokens().begin(), g.tokens().end());
    out.log_likelihood = g.log_likelihood();
    out.eos = g.eos();
  }
  received_[static_cast<size_t>(rank)] += chunk.generated_size();
  received_total_ += chunk.generated_size();
  return ok_status();
}

Status GeneratedRecords::check_done(int rank, int64_t records, double prefill_s, double decode_s) {
  const int64_t expected = expected_[static_cast<size_t>(rank)];
  const int64_t received = received_[static_cast<size_t>(rank)];
  if (records != expected || received != expected) {
    return data_loss("rank " + std::to_string(rank) + " finished with " + std::to_string(records) +
                     " records sent and " + std::to_string(received) +
                     " received; the plan gives it " + std::to_string(expected));
  }
  for (const double seconds : {prefill_s, decode_s}) {
    if (!std::isfinite(seconds) || seconds < 0) {
      return invalid_argument("rank " + std::to_string(rank) + " reported " +
                              std::to_string(seconds) + " s of prefill or decode");
    }
  }
  prefill_s_ = std::max(prefill_s_, prefill_s);
  decode_s_ = std::max(decode_s_, decode_s);
  return ok_status();
}

void GeneratedRecords::clear() {
  std::fill(have_.begin(), have_.end(), uint8_t{0});
  std::fill(received_.begin(), received_.end(), int64_t{0});
  received_total_ = 0;
  for (io::Generation& g : records_) g = io::Generation{};
  prefill_s_ = 0;
  decode_s_ = 0;
}

}  // namespace ringmaster::coordinator
