// tests/testing/time_slack.h: how much longer than in a plain build a test's time bounds may be,
// for unit and integration tests alike. Every time bound a test asserts (and every deadline it
// gives a process, where a starved process could trip over it) is scaled by time_slack(), or
// written as slack(ms), so a sanitizer build or a loaded machine does not fail on speed.
// Header-only: the sanitizer is detected in the test's own translation unit.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace ringmaster::testing {

// RINGMASTER_TEST_TIME_SLACK when set (a number >= 1), else 3 in a sanitizer build (ASan, TSan:
// several times slower on 2 shared cores), else 1.
inline double time_slack() {
  if (const char* value = std::getenv("RINGMASTER_TEST_TIME_SLACK"); value && *value) {
    char* end = nullptr;
    const double slack = std::strtod(value, &end);
    if (*end == '\0' && slack >= 1.0) return slack;
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return 3.0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return 3.0;
#endif
#endif
  return 1.0;
}

// `bound` times time_slack().
inline std::chrono::milliseconds slack(std::chrono::milliseconds bound) {
  return std::chrono::milliseconds(static_cast<int64_t>(bound.count() * time_slack()));
}

// `ms` times time_slack(), as the decimal string a command-line flag takes.
inline std::string slack_ms_flag(int ms) {
  return std::to_string(slack(std::chrono::milliseconds(ms)).count());
}

}  // namespace ringmaster::testing
