// launcher/model_commands.h: `ringmaster init` and `ringmaster inspect`, the model-directory
// commands that need no workers.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace ringmaster::launcher {

struct InitOptions {
  std::string config_path;  // a config.json to copy the architecture from
  uint64_t seed = 0;
  std::string out_dir;
  std::string dtype = "f32";  // storage dtype: f32, bf16, f16
};

// Writes OUT/config.json and OUT/weights.safetensors with random weights (model/init.h).
Status run_init(const InitOptions& options);

struct InspectOptions {
  std::string model_dir;
  int64_t tokens = 1 << 20;  // L for the memory estimate
  int64_t workers = 2;       // P for the memory estimate
};

// Prints the architecture, the parameter count and the per-worker memory of an L-token job on
// P workers; loads and checks the weights, so a broken model directory is reported here.
Status run_inspect(const InspectOptions& options);

}  // namespace ringmaster::launcher
