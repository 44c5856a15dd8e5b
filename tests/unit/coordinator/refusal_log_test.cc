#include "coordinator/refusal_log.h"

#include <gtest/gtest.h>

#include <string>

namespace ringmaster::coordinator {
namespace {

using namespace std::chrono_literals;
using Clock = RefusalLog::Clock;

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// A lone bad connection gets its own line at once, naming it.
TEST(RefusalLog, LoneEventsAreLoggedInFull) {
  RefusalLog log(1000ms);
  const Clock::time_point t0{};
  EXPECT_TRUE(log.note(t0 + 5s, "10.0.0.9", "10.0.0.9:1234", "wrong token"));
  EXPECT_FALSE(log.has_counted());
  EXPECT_TRUE(log.note(t0 + 7s, "10.0.0.9", "10.0.0.9:1235", "wrong token"));
  EXPECT_EQ(log.take_summary(t0 + 8s), "");
}

// A flood of 10 000 events in 3 s makes at most one line per second: the first in full, then a
// summary of counts with one example peer per reason.
TEST(RefusalLog, AFloodBecomesOneSummaryLinePerInterval) {
  RefusalLog log(1000ms);
  const Clock::time_point t0{};
  int lines = 0;
  std::string summaries;
  Clock::time_point now = t0;
  for (int i = 0; i < 10000; ++i) {
    now = t0 + std::chrono::microseconds(300 * i);  // 3 s in all
    const std::string peer = "127.0.0.1:" + std::to_string(20000 + i);
    const std::string reason = i % 2 ? "no first frame within 1000 ms" : "dropped for a newer one";
    if (log.note(now, "127.0.0.1", peer, reason)) ++lines;
    if (log.has_counted() && now >= log.summary_due()) {
      summaries += log.take_summary(now) + "\n";
      ++lines;
    }
  }
  summaries += log.take_summary(now);
  ++lines;
  EXPECT_EQ(count_of(summaries, "more connection(s) closed"), 3) << summaries;
  EXPECT_EQ(lines, 4);  // 1 in full, a summary at 1 s and 2 s, and the final flush
  EXPECT_NE(summaries.find("x no first frame within 1000 ms (e.g. 127.0.0.1:"), std::string::npos)
      << summaries;
  EXPECT_NE(summaries.find("from 1 address(es): 127.0.0.1"), std::string::npos) << summaries;
  // Every event is accounted for: 1 logged in full, the rest counted.
  int64_t counted = 0;
  for (size_t at = 0; (at = summaries.find(" x ", at)) != std::string::npos; ++at) {
    size_t start = summaries.rfind(' ', at - 1) + 1;
    counted += std::stoll(summaries.substr(start, at - start));
  }
  EXPECT_EQ(counted, 9999);
}

TEST(RefusalLog, DistinctReasonsAreCappedAndSourcesCounted) {
  RefusalLog log(1000ms);
  const Clock::time_point t0{};
  ASSERT_TRUE(log.note(t0, "a", "a:1", "first"));
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(
        log.note(t0 + 1ms, "10.0.0." + std::to_string(i), "p", "reason " + std::to_string(i)));
  }
  const std::string summary = log.take_summary(t0 + 1s);
  EXPECT_EQ(count_of(summary, " x reason "), static_cast<int>(RefusalLog::kMaxReasons));
  EXPECT_NE(summary.find("12 x other reasons"), std::string::npos) << summary;
  EXPECT_NE(summary.find("from more than 16 address(es)"), std::string::npos) << summary;
  EXPECT_FALSE(log.has_counted());
}

}  // namespace
}  // namespace ringmaster::coordinator
