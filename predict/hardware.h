// predict/hardware.h: what the planner (predict/planner.h) needs to know about one worker and
// the links between workers, and the JSON file `ringmaster bench calibrate` writes and
// `ringmaster plan --hardware` reads.
//
// Every rate is achieved, not peak, and in SI units: FLOP/s, bytes/s, seconds, bytes. The
// hardware file:
//   {"format": "ringmaster-hardware/1", "threads": 1, "flops": 5.1e10,
//    "attention_flops": 3.2e10, "block_flops": {"atlas": 4e9, ...}, "memory_bandwidth": 1.2e10,
//    "link_bandwidth": 3e9, "link_latency": 4e-6, "process_bytes": 5e7, "job_overhead_s": 0.6,
//    "job_s_per_token": 6e-6,
//    "bf16": {"flops": 9.8e10, "attention_flops": 5.9e10, "block_flops": {"atlas": 4.4e9, ...},
//             "job_overhead_s": 0.7, "job_s_per_token": 7e-6}}
// block_flops, process_bytes, job_overhead_s, job_s_per_token and bf16 are optional. Plain
// values; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/dtype.h"
#include "core/status.h"
#include "model/config.h"

namespace ringmaster::predict {

inline constexpr std::string_view kHardwareFormat = "ringmaster-hardware/1";
inline constexpr int kNumMixerKinds = 5;  // model::MixerKind's enumerators

// The compute rates of --compute-dtype bf16 (CPU products read bf16 and accumulate in f32):
// Hardware's flops, attention_flops, block_flops and per-job costs measured in bf16; 0 where not
// measured.
struct Bf16Rates {
  double flops = 0;
  double attention_flops = 0;
  std::array<double, kNumMixerKinds> block_flops{};
  double job_overhead_s = 0;
  double job_s_per_token = 0;
};

struct Hardware {
  int threads = 1;  // compute threads per worker the rates were measured with
  // F of ALGORITHMS.md 0.1 for the dense products (projections, MLPs, heads): FLOP/s.
  double flops = 0;
  // F for attention's Q K^T and P V (the block kernel); 0: use `flops`.
  double attention_flops = 0;
  // Measured whole-block rates (model FLOPs of model/flops.h per second of the real forward),
  // per model::MixerKind; 0 where not measured. Where set, they replace the two rates above for
  // that kind: they include what FLOP counts leave out (norms, softmax, ATLAS's small products).
  std::array<double, kNumMixerKinds> block_flops{};
  double memory_bandwidth = 0;  // bytes/s one worker streams from memory (STREAM triad)
  double link_bandwidth = 0;    // B of ALGORITHMS.md 0.1: bytes/s per direction between workers
  double link_latency = 0;      // alpha: seconds per message, independent of size
  int64_t process_bytes = 0;    // resident memory of a worker before it holds any job data
  double job_overhead_s = 0;    // per job: start, join, load; independent of L
  // Per fed token of the job (not of a rank): reading the input, streaming the result rows to
  // the coordinator and writing them, and whatever else the block rates leave out.
  double job_s_per_token = 0;
  Bf16Rates bf16;

  double block_rate(model::MixerKind kind) const { return block_flops[static_cast<size_t>(kind)]; }
  double attention_rate() const { return attention_flops > 0 ? attention_flops : flops; }
};

// The rates a job that computes in `compute` runs at: `hw` itself for kF32; for kBf16, hw with
// its bf16 rates where measured (> 0) in place of the f32 ones.
Hardware rates_for(const Hardware& hw, DType compute);

// A 2-core x86 machine of this project's CI as `ringmaster bench calibrate` measured it (one
// thread per worker): what `ringmaster run` assumes for its memory check, where only
// process_bytes matters.
Hardware typical_hardware();

// REQUIRES nothing; kInvalidArgument naming the field when flops, memory_bandwidth,
// link_bandwidth are not > 0, link_latency < 0, or a value is not finite.
Status validate_hardware(const Hardware& hw, std::string_view source);

// The JSON text above (pretty-printed).
std::string hardware_to_json(const Hardware& hw);
// Parses and validates hardware JSON; errors name `source` and the key. Unknown keys are errors
// (usually typos), except "host" and "measured", which say where and when it was measured.
StatusOr<Hardware> parse_hardware_json(std::string_view text, std::string_view source);
StatusOr<Hardware> read_hardware_file(const std::string& path);

// Quantities with units, for flags. Errors name `what` (the flag).
//   bytes:     "16GiB", "512MiB", "2e9", "1.5GB", "100kB"
//   bandwidth: bytes/s: "12.5GB/s", "3TB/s", "3e9"; bits/s: "25Gbit/s", "400Gb/s", "100Gbps"
//   seconds:   "5us", "2ms", "1e-6", "0.5s"
//   flops:     "50e9", "50G", "1.2T" (FLOP/s)
StatusOr<int64_t> parse_bytes(std::string_view text, std::string_view what);
StatusOr<double> parse_bandwidth(std::string_view text, std::string_view what);
StatusOr<double> parse_seconds(std::string_view text, std::string_view what);
StatusOr<double> parse_flops(std::string_view text, std::string_view what);

}  // namespace ringmaster::predict
