// memory/cuda/atlas_cuda.h: the ATLAS chunk chain of one head on a GPU.
//
// The device twin of memory::run_head (memory/atlas.h), the same maths step for step: per chunk,
// READ at the start state, the Omega-window gradient in five GEMMs, momentum, NS5 on both
// momenta and the gated weight update. GEMMs run in cuBLAS in full f32 (no TF32: the chain feeds
// every later chunk, and MODEL.md asks f32 or wider for NS5); the elementwise steps are small
// kernels. The state and the run's rows live on the host, as the mixer keeps them: one call
// uploads the state and the rows, runs every chunk of the run on one stream, and downloads the
// outputs and the new weights. The window tail is advanced on the host by advance_tail, the same
// code the CPU chain uses.
//
// It agrees with run_head to f32 rounding (the GEMMs sum in another order; NS5's norm is summed in
// double on both). A chunk of 64 tokens is a handful of small GEMMs, so one head at a time is
// launch-bound on a GPU; batching the heads of a block is the next step for speed.
//
// Thread-compatible: one CudaAtlas per thread (it owns a stream, a cuBLAS handle and scratch).
// Built only with RINGMASTER_CUDA (target ringmaster_memory_cuda).
#pragma once

#include <memory>

#include "core/status.h"
#include "memory/atlas.h"
#include "memory/backend.h"

namespace ringmaster::memory {

class CudaAtlas {
 public:
  // Binds to `device`; errors (no such device, cuBLAS init) are kInternal naming the call.
  static StatusOr<std::unique_ptr<CudaAtlas>> create(int device);
  ~CudaAtlas();
  CudaAtlas(const CudaAtlas&) = delete;
  CudaAtlas& operator=(const CudaAtlas&) = delete;

  // As run_head: advances `state` over the run's chunks and writes run.y. Same REQUIRES.
  Status run_head(const AtlasShape& shape, HeadState& state, const HeadRun& run);

 private:
  struct Impl;
  explicit CudaAtlas(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// An AtlasBackend with one CudaAtlas (stream, cuBLAS handle, scratch) per slot on `device`.
StatusOr<std::unique_ptr<AtlasBackend>> make_cuda_atlas_backend(int device, int slots);

}  // namespace ringmaster::memory
