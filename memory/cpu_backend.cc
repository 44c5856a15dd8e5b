#include <vector>

#include "core/check.h"
#include "memory/backend.h"

namespace ringmaster::memory {
namespace {

class CpuAtlasBackend final : public AtlasBackend {
 public:
  explicit CpuAtlasBackend(int slots) : scratch_(static_cast<size_t>(slots)) {}
  const char* name() const override { return "cpu"; }
  Status run_head(const AtlasShape& shape, HeadState& state, const HeadRun& run,
                  int slot) override {
    RM_CHECK(slot >= 0 && static_cast<size_t>(slot) < scratch_.size()) << "slot " << slot;
    memory::run_head(shape, state, run, scratch_[static_cast<size_t>(slot)]);
    return ok_status();
  }

 private:
  std::vector<AtlasScratch> scratch_;
};

}  // namespace

std::unique_ptr<AtlasBackend> make_cpu_atlas_backend(int slots) {
  return std::make_unique<CpuAtlasBackend>(slots);
}

}  // namespace ringmaster::memory
