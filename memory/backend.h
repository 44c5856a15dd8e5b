// memory/backend.h: where an ATLAS chain runs (STYLE.md "compute backends").
//
// The atlas mixer hands each head's run of chunks to an AtlasBackend: the CPU backend runs
// memory::run_head, the CUDA backend (memory/cuda/, make_cuda_atlas_backend) the same chain on a
// GPU. The worker picks one per job, with the attention backend; nothing above changes. States
// and rows stay on the host either way (memory/atlas.h).
//
// Thread-safety: run_head may be called concurrently with distinct `slot`s; a slot is one
// thread's scratch (and, on a GPU, its stream).
#pragma once

#include <memory>

#include "core/status.h"
#include "memory/atlas.h"

namespace ringmaster::memory {

class AtlasBackend {
 public:
  virtual ~AtlasBackend() = default;
  virtual const char* name() const = 0;
  // As memory::run_head. REQUIRES: 0 <= slot < the slots the backend was made with.
  virtual Status run_head(const AtlasShape& shape, HeadState& state, const HeadRun& run,
                          int slot) = 0;
};

// run_head with one AtlasScratch per slot.
std::unique_ptr<AtlasBackend> make_cpu_atlas_backend(int slots);

}  // namespace ringmaster::memory
