#include "coordinator/progress_line.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>

namespace ringmaster::coordinator {
namespace {

std::string human_count(double value) {
  char buffer[32];
  if (value >= 1e6) {
    std::snprintf(buffer, sizeof buffer, "%.2fM", value / 1e6);
  } else if (value >= 1e3) {
    std::snprintf(buffer, sizeof buffer, "%.1fk", value / 1e3);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.0f", value);
  }
  return buffer;
}

std::string duration(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(seconds));
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%lld:%02lld", static_cast<long long>(s / 60),
                static_cast<long long>(s % 60));
  return buffer;
}

}  // namespace

ProgressLine::ProgressLine(ProgressMode mode, std::vector<int64_t> tokens, int num_blocks,
                           std::FILE* out)
    : mode_(mode),
      tokens_(std::move(tokens)),
      blocks_done_(tokens_.size(), 0),
      num_blocks_(num_blocks),
      out_(out),
      start_(std::chrono::steady_clock::now()) {
  if (mode_ == ProgressMode::kAuto) {
    mode_ = ::isatty(::fileno(out_)) != 0 ? ProgressMode::kTerminal : ProgressMode::kPlain;
  }
}

std::string ProgressLine::render(double elapsed_s) const {
  if (!decode_steps_.empty()) {
    const int64_t step = *std::min_element(decode_steps_.begin(), decode_steps_.end());
    int64_t tokens = 0;
    for (const int64_t t : decode_tokens_) tokens += t;
    std::string line = fmt::format("decode step {}/{} | {} tokens", step, decode_max_steps_,
                                   human_count(static_cast<double>(tokens)));
    if (elapsed_s > 0 && tokens > 0) {
      line += fmt::format(" | {} tokens/s", human_count(static_cast<double>(tokens) / elapsed_s));
    }
    return line;
  }
  double total = 0, done = 0;
  for (size_t r = 0; r < tokens_.size(); ++r) {
    total += static_cast<double>(tokens_[r]) * num_blocks_;
    done += static_cast<double>(tokens_[r]) * blocks_done_[r];
  }
  const double fraction = total > 0 ? done / total : 1.0;
  // fmt, not operator+ chains: GCC 12's -Wrestrict misfires on those (GCC bug 105329).
  std::string line = fmt::format("progress {}% | blocks", static_cast<int>(fraction * 100));
  if (tokens_.size() <= 8) {
    for (size_t r = 0; r < tokens_.size(); ++r) {
      line += fmt::format(" r{} {}/{}", r, blocks_done_[r], num_blocks_);
    }
  } else {
    const auto [lo, hi] = std::minmax_element(blocks_done_.begin(), blocks_done_.end());
    line += fmt::format(" {}..{}/{} over {} ranks", *lo, *hi, num_blocks_, tokens_.size());
  }
  if (elapsed_s > 0 && done > 0) {
    const double rate = done / elapsed_s;  // token-blocks per second
    line += fmt::format(" | {} tokens/s | ETA {}", human_count(rate / num_blocks_),
                        duration((total - done) / rate));
  }
  return line;
}

void ProgressLine::update(int rank, int blocks_done) {
  if (rank < 0 || static_cast<size_t>(rank) >= blocks_done_.size()) return;
  blocks_done_[static_cast<size_t>(rank)] = std::clamp(blocks_done, 0, num_blocks_);
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (mode_ == ProgressMode::kTerminal) {
    const bool all_done = std::all_of(blocks_done_.begin(), blocks_done_.end(),
                                      [&](int b) { return b == num_blocks_; });
    if (drawn_ && !all_done && now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    drawn_ = true;
    std::fprintf(out_, "\r%s\033[K", render(elapsed).c_str());
    std::fflush(out_);
  } else if (mode_ == ProgressMode::kPlain) {
    const int slowest = *std::min_element(blocks_done_.begin(), blocks_done_.end());
    if (slowest <= plain_printed_) return;
    plain_printed_ = slowest;
    std::fprintf(out_, "%s\n", render(elapsed).c_str());
    std::fflush(out_);
  }
}

void ProgressLine::update_decode(int rank, int64_t steps, int64_t tokens) {
  if (rank < 0 || static_cast<size_t>(rank) >= tokens_.size() || decode_max_steps_ <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (decode_steps_.empty()) {
    decode_steps_.assign(tokens_.size(), 0);
    decode_tokens_.assign(tokens_.size(), 0);
    decode_start_ = now;
  }
  const auto r = static_cast<size_t>(rank);
  decode_steps_[r] = std::clamp<int64_t>(steps, 0, decode_max_steps_);
  // A rank generates at most one token per record per step; the records are bounded by int32.
  decode_tokens_[r] = std::clamp<int64_t>(tokens, 0, decode_max_steps_ * int64_t{INT32_MAX});
  const int64_t slowest = *std::min_element(decode_steps_.begin(), decode_steps_.end());
  const std::string line = render(std::chrono::duration<double>(now - decode_start_).count());
  if (mode_ == ProgressMode::kPlain) {
    // Every tenth of the steps (every step when there are fewer than ten).
    const int64_t every = std::max<int64_t>(1, decode_max_steps_ / 10);
    if (slowest < plain_decode_printed_ + every && slowest != decode_max_steps_) return;
    if (slowest <= plain_decode_printed_) return;
    plain_decode_printed_ = slowest;
  }
  draw(line, slowest == decode_max_steps_);
}

void ProgressLine::draw(const std::string& line, bool final) {
  const auto now = std::chrono::steady_clock::now();
  if (mode_ == ProgressMode::kTerminal) {
    if (drawn_ && !final && now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    drawn_ = true;
    std::fprintf(out_, "\r%s\033[K", line.c_str());
    std::fflush(out_);
  } else if (mode_ == ProgressMode::kPlain) {
    std::fprintf(out_, "%s\n", line.c_str());
    std::fflush(out_);
  }
}

void ProgressLine::finish() {
  if (mode_ == ProgressMode::kTerminal && drawn_) {
    std::fputc('\n', out_);
    std::fflush(out_);
    drawn_ = false;
  }
}

}  // namespace ringmaster::coordinator
