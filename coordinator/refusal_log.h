// coordinator/refusal_log.h: rate-limited warnings about connections that never authenticated.
//
// One line per refused or timed-out connection lets a flood write the log as fast as it can
// connect (RELIABILITY.md S3). Instead: the first event after a quiet interval is logged in full
// at once (so a lone wrong-token worker or port scan still gets its own line naming the peer),
// and the events after it are counted and logged as one summary line per interval: how many for
// each reason (the first 8 distinct reasons; later ones count as "other reasons"), one example
// peer of each, and how many source addresses. At most one line per interval.
//
// Time is passed in, never read here, so tests drive it with a fake clock. Thread-compatible:
// owned by the coordinator's strand.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ringmaster::coordinator {

class RefusalLog {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RefusalLog(std::chrono::milliseconds interval) : interval_(interval) {}

  // Records one connection from `source` (address without port; `peer` is address:port) closed
  // for `reason` (a Status string without the peer). True: log it in full now; false: it was
  // counted for the next summary (see summary_due()).
  bool note(Clock::time_point now, const std::string& source, const std::string& peer,
            const std::string& reason);
  // True when events were counted since the last line.
  bool has_counted() const { return counted_ > 0; }
  // When the summary of the counted events may be logged: one interval after the last line.
  Clock::time_point summary_due() const { return last_line_ + interval_; }
  // The summary line of what was counted, then forgets it; empty when nothing was.
  std::string take_summary(Clock::time_point now);

  static constexpr size_t kMaxReasons = 8;

 private:
  struct Reason {
    std::string text;
    std::string example_peer;
    int64_t count = 0;
  };

  std::chrono::milliseconds interval_;
  bool logged_ = false;
  Clock::time_point last_line_{};
  int64_t counted_ = 0;
  std::vector<Reason> reasons_;  // in order of first appearance, at most kMaxReasons
  int64_t other_reasons_ = 0;
  std::set<std::string> sources_;  // at most kMaxSources named
  bool more_sources_ = false;
  static constexpr size_t kMaxSources = 16;
};

}  // namespace ringmaster::coordinator
