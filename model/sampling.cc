#include "model/sampling.h"

#include <cstdlib>

namespace ringmaster::model {

// Placeholder: the sampling rule is being written (MODEL.md "generate").
uint64_t splitmix64(uint64_t) { std::abort(); }
double uniform(uint64_t, uint64_t, uint64_t) { std::abort(); }
Choice choose_next(std::span<const float>, io::Vocab, const SamplingOptions&, int64_t, int64_t) {
  std::abort();
}

}  // namespace ringmaster::model
