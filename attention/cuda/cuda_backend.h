// attention/cuda/cuda_backend.h: the AttentionBackend (attention/backend.h) on one GPU.
//
// Blocks run with launch_attend_block (block_kernel.cuh) and merges with launch_merge
// (merge.cuh), in order on a stream the backend owns. Inputs may be on the host (uploaded per
// call) or on the backend's GPU; f32 inputs are converted on the device to f16 first, because
// f16 keeps 10 mantissa bits against bf16's 7, so results stay closer to the f32 CPU reference
// (the check job's values lie in [-1, 1), far inside f16's range). bf16 and f16 inputs go to the
// kernel as they are. Results land where the caller's result tensors are: device results stay
// queued (synchronize() waits), host results are downloaded before the call returns.
//
// Host inputs are copied into pinned memory and uploaded from there, so a call with device
// results returns without waiting for the GPU. A device k or v that had to be converted (f32)
// or realigned is kept converted for the next call given the same tensor (same buffer, address,
// size and dtype): the ring's query slices convert each K/V block once. That copy is dropped by
// synchronize(), copy(), a call that returns host results, and a write of this backend into
// its memory; a caller changing a device input otherwise must call synchronize() first, as
// backend.h already asks.
//
// Built only when RINGMASTER_CUDA is on (target ringmaster_attention_cuda). Thread-compatible:
// one thread issues a backend's calls; two backends on one GPU are independent.
#pragma once

#include <memory>

#include "attention/backend.h"

namespace ringmaster::attention {

// A backend on GPU `device` (0-based, as cudaSetDevice counts). kInternal naming the device when
// it does not exist or the stream cannot be made; call cuda_device_available() first for a
// clearer "no GPU" message.
StatusOr<std::unique_ptr<AttentionBackend>> make_cuda_backend(int device);

}  // namespace ringmaster::attention
