// coordinator/progress_line.h: the progress of a model job as workers report finished blocks.
//
// Work is counted in token-blocks: rank r has done blocks_done[r] * tokens[r] of
// num_blocks * sum(tokens). From that: the percentage, tokens/s (token-blocks per second over
// the block count) and the ETA at the rate so far. Per-rank block counts show a lagging worker.
//
//   terminal  one line rewritten in place (\r), at most 5 times a second, ended by finish()
//   plain     a new line whenever every rank has finished one more block (logs, CI)
//   none      nothing (--quiet)
// kAuto picks terminal when the stream is a TTY, else plain.
//
// Thread-compatible: owned by the coordinator's strand.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ringmaster::coordinator {

enum class ProgressMode { kAuto, kTerminal, kPlain, kNone };

class ProgressLine {
 public:
  // `tokens[r]`: fed tokens of rank r.
  ProgressLine(ProgressMode mode, std::vector<int64_t> tokens, int num_blocks,
               std::FILE* out = stderr);

  void update(int rank, int blocks_done);
  // Ends a terminal line with a newline so later output starts on its own line.
  void finish();

  // The line for `elapsed_s` seconds since the job started (exposed for tests).
  std::string render(double elapsed_s) const;

 private:
  ProgressMode mode_;
  std::vector<int64_t> tokens_;
  std::vector<int> blocks_done_;
  int num_blocks_;
  std::FILE* out_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  int plain_printed_ = 0;  // blocks every rank had finished at the last plain line
  bool drawn_ = false;
};

}  // namespace ringmaster::coordinator
