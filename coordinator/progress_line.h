// coordinator/progress_line.h: the progress of a model job as workers report finished blocks.
//
// Work is counted in token-blocks: rank r has done blocks_done[r] * tokens[r] of
// num_blocks * sum(tokens). From that: the percentage, tokens/s (token-blocks per second over
// the block count) and the ETA at the rate so far. Per-rank block counts show a lagging worker.
//
// A generate job's decode follows (expect_decode): every rank runs every step, and the line shows
// the step the slowest rank finished, the tokens generated so far and their rate since decoding
// began ("decode step 40/128 | 160 tokens | 812 tokens/s").
//
//   terminal  one line rewritten in place (\r), at most 5 times a second, ended by finish()
//   plain     a new line whenever every rank has finished one more block, and in decode at every
//             tenth of max_new_tokens (logs, CI)
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
  // A generate job: decode runs up to `max_steps` steps after the blocks.
  void expect_decode(int64_t max_steps) { decode_max_steps_ = max_steps; }
  // Rank `rank` finished `steps` decode steps and has generated `tokens` (values from a worker:
  // clamped to what the job allows).
  void update_decode(int rank, int64_t steps, int64_t tokens);
  // Ends a terminal line with a newline so later output starts on its own line.
  void finish();

  // The line for `elapsed_s` seconds since the job started, or in decode since decoding began
  // (exposed for tests).
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
  int64_t decode_max_steps_ = 0;
  std::vector<int64_t> decode_steps_;   // [rank]; empty until decoding begins
  std::vector<int64_t> decode_tokens_;  // [rank]
  std::chrono::steady_clock::time_point decode_start_;
  int64_t plain_decode_printed_ = 0;  // the step of the last plain decode line
  // Draws `line` as the mode says (terminal: at most 5 times a second unless `final`).
  void draw(const std::string& line, bool final);
};

}  // namespace ringmaster::coordinator
