// fuzz/safetensors_fuzz.cc: WeightFile::open (model/safetensors.h) over arbitrary bytes, then
// check_against a fixed config (RELIABILITY.md S10, rule 11). WeightFile reads only paths (it
// maps the file), so each input is written to one memfd and opened as /proc/self/fd/N: no disk,
// nothing to clean up. Beyond "no crash, no leak, no UB" it checks what open promises: every
// tensor it returns widens to f32 values that are all finite.
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "model/config.h"
#include "model/safetensors.h"

namespace ringmaster::model {
namespace {

// tests/data/models/good_tiny/config.json, so that seed passes check_against in full.
ModelConfig tiny_config() {
  ModelConfig c;
  c.d_model = 8;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 4;
  c.mlp_hidden = 8;
  c.norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  BlockConfig window;
  window.mixer = MixerKind::kWindow;
  window.window = 4;
  c.blocks = {BlockConfig{}, window};
  return c;
}

// The memfd every input is written to, and the path that opens it.
struct MemFile {
  int fd = -1;
  std::string path;
};

const MemFile& mem_file() {
  static const MemFile file = [] {
    MemFile f;
    f.fd = ::memfd_create("safetensors_fuzz", MFD_CLOEXEC);
    if (f.fd < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    f.path = "/proc/self/fd/" + std::to_string(f.fd);
    return f;
  }();
  return file;
}

void write_input(const uint8_t* data, size_t size) {
  const MemFile& file = mem_file();
  // The previous input's mapping is gone (its WeightFile and tensors died with that run).
  if (::ftruncate(file.fd, 0) != 0 ||
      (size > 0 && ::pwrite(file.fd, data, size, 0) != static_cast<ssize_t>(size))) {
    std::perror("safetensors_fuzz: writing the memfd");
    std::abort();
  }
}

void fuzz_one(const uint8_t* data, size_t size) {
  static const ModelConfig config = tiny_config();
  write_input(data, size);
  StatusOr<WeightFile> file = WeightFile::open(mem_file().path);
  if (!file.ok()) return;
  for (const std::string& name : file->names()) {
    const Tensor values = file->f32(name);
    const float* p = values.data<float>();
    for (int64_t i = 0; i < values.numel(); ++i) {
      if (!std::isfinite(p[i])) {
        std::fprintf(stderr, "safetensors_fuzz: open accepted a non-finite value in %s\n",
                     name.c_str());
        std::abort();
      }
    }
  }
  (void)file->check_against(config);
}

}  // namespace
}  // namespace ringmaster::model

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ringmaster::model::fuzz_one(data, size);
  return 0;
}
