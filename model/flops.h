// model/flops.h: the floating-point work of MODEL.md's forward pass, for model-FLOP-use figures
// (`ringmaster bench model`): model FLOPs / wall time / the machine's GEMM rate.
//
// Counts 2 FLOPs per multiply-add of the matrix products only (projections, MLPs, attention's
// Q K^T and P V over the keys the mask leaves visible, FIT's latent attention, the ATLAS memory's
// forward, gradient and NS5 products); norms, rope, softmax and gates are left out, as is usual
// for MFU. Exact for the products it counts except ATLAS, where each Omega-window term is
// counted at its full window (an upper bound near a sequence start). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <span>

#include "model/config.h"

namespace ringmaster::model {

// FLOPs of one forward over records of `record_lengths` fed tokens each (<bos> included);
// `logits` adds the head (score, generate), which embed does not run.
double forward_flops(const ModelConfig& config, std::span<const int64_t> record_lengths,
                     bool logits);

}  // namespace ringmaster::model
