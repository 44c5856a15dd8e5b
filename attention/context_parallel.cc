#include "attention/context_parallel.h"

#include <string>

namespace ringmaster::attention {

StatusOr<ContextParallel> parse_context_parallel(std::string_view name) {
  if (name == "ring") return ContextParallel::kRing;
  if (name == "ulysses") return ContextParallel::kUlysses;
  return invalid_argument("unknown context parallelism '" + std::string(name) +
                          "' (ring, ulysses)");
}

const char* context_parallel_name(ContextParallel how) {
  return how == ContextParallel::kUlysses ? "ulysses" : "ring";
}

}  // namespace ringmaster::attention
