#include "coordinator/refusal_log.h"

#include <cstdio>

namespace ringmaster::coordinator {

bool RefusalLog::note(Clock::time_point now, const std::string& source, const std::string& peer,
                      const std::string& reason) {
  if (!logged_ || (counted_ == 0 && now - last_line_ >= interval_)) {
    logged_ = true;
    last_line_ = now;
    return true;
  }
  ++counted_;
  if (sources_.size() < kMaxSources) {
    sources_.insert(source);
  } else if (sources_.count(source) == 0) {
    more_sources_ = true;
  }
  for (Reason& r : reasons_) {
    if (r.text == reason) {
      ++r.count;
      return false;
    }
  }
  if (reasons_.size() < kMaxReasons) {
    reasons_.push_back(Reason{reason, peer, 1});
  } else {
    ++other_reasons_;
  }
  return false;
}

std::string RefusalLog::take_summary(Clock::time_point now) {
  if (counted_ == 0) return "";
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f",
                std::chrono::duration<double>(now - last_line_).count());
  // Appended piece by piece: GCC 12 misreports chains of operator+ here (-Wrestrict).
  std::string line = std::to_string(counted_);
  line += " more connection(s) closed before authenticating in the last ";
  line += seconds;
  line += " s:";
  for (const Reason& r : reasons_) {
    line += ' ';
    line += std::to_string(r.count);
    line += " x ";
    line += r.text;
    line += " (e.g. ";
    line += r.example_peer;
    line += ");";
  }
  if (other_reasons_ > 0) {
    line += ' ';
    line += std::to_string(other_reasons_);
    line += " x other reasons;";
  }
  line += more_sources_ ? " from more than " : " from ";
  line += std::to_string(sources_.size());
  line += " address(es):";
  for (const std::string& source : sources_) {
    line += ' ';
    line += source;
  }
  logged_ = true;
  last_line_ = now;
  counted_ = 0;
  reasons_.clear();
  other_reasons_ = 0;
  sources_.clear();
  more_sources_ = false;
  return line;
}

}  // namespace ringmaster::coordinator
