// launcher/calibrate.h: `ringmaster bench calibrate`, which measures on this machine what the
// planner (predict/planner.h) needs and writes it as the hardware file `ringmaster plan
// --hardware` reads (predict/hardware.h):
//   flops             a GEMM at the model's MLP shape [tile, d_model] x [d_model, mlp_hidden]
//   attention_flops   the CPU attention block kernel at the model's head_dim (bench kernel's row)
//   block_flops       each block kind of the model, alone in a one-block copy of it with random
//                     weights, forward over `block_tokens` on one rank: model FLOPs per second
//   bf16              the three rates above, and the job costs below, again with
//                     --compute-dtype bf16's products
//   memory_bandwidth  STREAM's triad (bench/stream_triad.h)
//   link_*            an in-process UcxComm pair (bench/link_rate.h): one-way bandwidth at 16 MiB
//                     messages, half the round trip of 8 bytes
//   process_bytes,    one tiny `ringmaster run` of the model (1 worker): its worker's peak RSS
//   job_overhead_s    less the planner's job data, its wall time less the planner's compute
// Every rate with `threads` compute threads, as a worker of `ringmaster run --threads` has.
// Run it on an otherwise idle machine. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "predict/hardware.h"

namespace ringmaster::launcher {

struct CalibrateOptions {
  std::string out;          // hardware JSON to write; empty: print only
  std::string model_dir;    // the model whose shapes to measure; empty: config_path
  std::string config_path;  // a config.json; empty (with no model): scripts/demo_config.json's
  int threads = 1;
  int64_t block_tokens = 16384;  // forward length of each one-block model
  // ... of the global attention one: long enough that its pairs dominate, as they do at 64K+
  int64_t attention_tokens = 16384;
  int64_t job_tokens = 4096;  // bases of the tiny job
  std::string work_dir;       // empty: a fresh directory under /tmp, removed after
};

StatusOr<predict::Hardware> run_calibrate(const CalibrateOptions& options);

}  // namespace ringmaster::launcher
