// fuzz/config_fuzz.cc: the config.json parser (model/config.h) over arbitrary text
// (RELIABILITY.md S10). A config that parses is then held to what config.h promises:
//   - validate_config accepts it (parse_config_text ran it already);
//   - to_json gives text that parses back to an equal config;
//   - param_count stays within kMaxParams, and memory_estimate, which `ringmaster inspect` runs
//     on any config a user points it at, does its sums without overflowing, for the largest job
//     a JobSpec allows (2^32 tokens) on one worker and a small job on many.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "model/config.h"

namespace ringmaster::model {
namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "config_fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

void fuzz_one(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  StatusOr<ModelConfig> config = parse_config_text(text, "config.json");
  if (!config.ok()) return;

  if (const Status status = validate_config(*config, "config.json"); !status.ok()) {
    fail("a parsed config fails validate_config", status.to_string());
  }
  const std::string json = to_json(*config);
  StatusOr<ModelConfig> again = parse_config_text(json, "to_json");
  if (!again.ok()) fail("to_json output does not parse", again.status().to_string() + "\n" + json);
  if (!(*again == *config)) fail("to_json output parses to another config", json);
  if (param_count(*config) > kMaxParams) fail("param_count above kMaxParams", json);

  for (const auto& [tokens, workers] : {std::pair<int64_t, int64_t>{int64_t{1} << 32, 1},
                                        std::pair<int64_t, int64_t>{1000, 1024}}) {
    StatusOr<MemoryEstimate> m = memory_estimate(*config, tokens, workers);
    if (!m.ok()) fail("memory_estimate refuses valid arguments", m.status().to_string());
    if (m->total_bytes < m->weight_bytes || m->total_bytes < m->state_bytes) {
      fail("memory_estimate's total is below a part of it", json);
    }
  }
}

}  // namespace
}  // namespace ringmaster::model

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ringmaster::model::fuzz_one(data, size);
  return 0;
}
