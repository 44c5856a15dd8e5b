// model/cuda/layer_backend_cuda.h: the block stack's dense layers on a GPU (model/layer_backend.h).
//
// The residual stream x stays in device memory from load to output. The norms and the residual
// add are model/cuda/layer_kernels.cuh; the MLP's three products are cuBLAS GEMMs
// (core/cuda/gemm.h) over tiles of up to 8192 rows with [tile, mlp_hidden] scratch: in full f32
// (no TF32) on f32 weights, and in bf16 compute on the bf16 weights with their input rows rounded
// to bf16 and f32 accumulation, as model/layers.h's linear does on the CPU.
// The projections (project_heads, project_out) run as the same GEMMs, with rope (and the bf16
// rounding of bf16 rows) on the device, tile by tile; host inputs go up and host outputs come
// down, device rows stay where they are. A mixer that takes device rows (the attention family)
// gets h and gives its output on the device; the others' h goes down and their output comes up.
// Weights (norm gains, MLP matrices) are uploaded on first use and kept while the backend
// lives, keyed by the host tensor they mirror (which the cache holds, so its address cannot be
// reused by another tensor meanwhile).
//
// Results agree with the CPU backend to f32 rounding (GEMMs sum in another order; the device
// exp and the fused multiply-adds round differently from the host's).
// Thread-compatible: one forward at a time (one stream, one cuBLAS handle). Built only with
// RINGMASTER_CUDA (target ringmaster_model_cuda).
#pragma once

#include <memory>

#include "core/status.h"
#include "model/layer_backend.h"

namespace ringmaster::model {

// A backend on GPU `device`; kInternal naming the device when it cannot be set up.
StatusOr<std::unique_ptr<LayerBackend>> make_cuda_layer_backend(int device);

}  // namespace ringmaster::model
