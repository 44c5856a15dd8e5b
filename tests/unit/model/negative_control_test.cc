// Negative controls for the whole-model exactness checks (issue 13): stack_reference_test
// (attention, window, local), fit_mixer_test and atlas_stack_test compare P ranks with the
// PyTorch model through testing::all_close at 1e-4. Each control here makes the model the
// C++ side runs slightly wrong (a window off by one in its config, one weight, a FIT latent, an
// ATLAS gate bias), keeps the reference on the original, and asserts that the same comparison
// now fails; the unchanged model passes it in the same test, so the failure is the change's.
// One plan, one P, the embed task: cheap.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "model/config.h"
#include "model/init.h"
#include "model/safetensors.h"
#include "tests/testing/close.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/model/stack_harness.h"

namespace ringmaster::model {
namespace {

namespace fs = std::filesystem;
using comm::PlanKind;

constexpr double kTolerance = 1e-4;  // the checks' tolerance (MODEL.md, whole model)

ModelConfig small_config(std::vector<BlockConfig> blocks) {
  return ringmaster::testing::small_model_config(/*causal=*/true, std::move(blocks));
}

// Copies model `from` to `to`, with element `index` of tensor `name` moved by `delta`.
void copy_with_weight_change(const std::string& from, const std::string& to,
                             const std::string& name, int64_t index, float delta) {
  fs::create_directories(to);
  fs::copy_file(from + "/config.json", to + "/config.json", fs::copy_options::overwrite_existing);
  auto file = WeightFile::open(from + "/weights.safetensors");
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  ASSERT_TRUE(file->contains(name)) << name;
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : file->names()) {
    Tensor t = file->f32(n).clone();
    if (n == name) t.data<float>()[index] += delta;
    tensors.emplace_back(n, std::move(t));
  }
  const Status written = write_safetensors(to + "/weights.safetensors", tensors);
  ASSERT_TRUE(written.ok()) << written.to_string();
}

// Copies model `from` to `to` with `config` as its config.json (the weights unchanged).
void copy_with_config(const std::string& from, const std::string& to, const ModelConfig& config) {
  fs::create_directories(to);
  fs::copy_file(from + "/weights.safetensors", to + "/weights.safetensors",
                fs::copy_options::overwrite_existing);
  std::ofstream(to + "/config.json") << to_json(config);
}

class NegativeControl : public ::testing::Test {
 protected:
  // Writes the model and the FASTA file, runs the reference once, and checks that the
  // unchanged model passes the comparison on `world` ranks.
  void prepare(const ModelConfig& config, const std::vector<int64_t>& lengths) {
    ASSERT_TRUE(init_model(config, 7, model()).ok());
    records_ = harness::make_records(lengths, dir_ + "/in.fa");
    want_ = harness::run_reference(model(), dir_ + "/in.fa", "embed", dir_ + "/ref");
    ASSERT_FALSE(want_.empty());
    const ringmaster::testing::Closeness error = error_of(model());
    std::printf("unchanged model: relative error %.3g\n", error.rel);
    ASSERT_TRUE(ringmaster::testing::within(error, kTolerance));
  }

  // The checks' comparison for the model in `dir`: zigzag, P = 2, aligned to 64.
  ringmaster::testing::Closeness error_of(const std::string& dir) const {
    const harness::Outputs got = harness::run_model(dir, records_, PlanKind::kZigzag, 2, 64);
    return ringmaster::testing::closeness(got.embeddings, want_);
  }

  // The comparison fails for the model in `dir`.
  void expect_fails(const std::string& dir, const char* what) const {
    const ringmaster::testing::Closeness error = error_of(dir);
    std::printf("%s: relative error %.3g\n", what, error.rel);
    EXPECT_FALSE(ringmaster::testing::within(error, kTolerance))
        << what << ": the comparison did not notice";
  }

  std::string model() const { return dir_ + "/model"; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  ringmaster::testing::TempDir temp_;
  const std::string dir_ = temp_.path().string();
  harness::Records records_;
  std::vector<double> want_;
};

// stack_reference_test's model: a window one token wider, one weight of the global attention
// block, one weight of the local block.
TEST_F(NegativeControl, AttentionWindowLocalStack) {
  ModelConfig config = small_config({{.mixer = MixerKind::kAttention},
                                     {.mixer = MixerKind::kWindow, .window = 37},
                                     {.mixer = MixerKind::kLocal, .group = 64}});
  ASSERT_NO_FATAL_FAILURE(prepare(config, {300, 1, 517, 90}));
  config.blocks[1].window = 38;
  copy_with_config(model(), file("window38"), config);
  expect_fails(file("window38"), "window 38 instead of 37");
  ASSERT_NO_FATAL_FAILURE(
      copy_with_weight_change(model(), file("wk"), "blocks.0.attn.wk", 5, 0.01f));
  expect_fails(file("wk"), "blocks.0.attn.wk[5] + 0.01");
  ASSERT_NO_FATAL_FAILURE(
      copy_with_weight_change(model(), file("wo"), "blocks.2.attn.wo", 5, 0.01f));
  expect_fails(file("wo"), "blocks.2.attn.wo[5] + 0.01");
}

// fit_mixer_test's kind of model: one FIT latent shifted.
TEST_F(NegativeControl, FitLatentShifted) {
  const BlockConfig fit = {.mixer = MixerKind::kFit, .group = 64, .latents = 4, .global_layers = 1};
  const ModelConfig config = small_config({fit, {.mixer = MixerKind::kLocal, .group = 64}, fit});
  ASSERT_NO_FATAL_FAILURE(prepare(config, {300, 1, 517, 40}));
  ASSERT_NO_FATAL_FAILURE(
      copy_with_weight_change(model(), file("latent"), "fit.latents", 3, 0.01f));
  expect_fails(file("latent"), "fit.latents[3] + 0.01");
}

// atlas_stack_test's "mixed" model: one gate bias of the first atlas block.
TEST_F(NegativeControl, AtlasGateBias) {
  const ModelConfig config = small_config({{.mixer = MixerKind::kAtlas,
                                            .chunk = 16,
                                            .omega_window = 24,
                                            .memory_hidden = 16,
                                            .feature_degree = 1},
                                           {.mixer = MixerKind::kWindow, .window = 37},
                                           {.mixer = MixerKind::kAttention}});
  ASSERT_NO_FATAL_FAILURE(prepare(config, {300, 1, 517, 90}));
  ASSERT_NO_FATAL_FAILURE(
      copy_with_weight_change(model(), file("gate"), "blocks.0.atlas.b_gates", 1, 0.01f));
  expect_fails(file("gate"), "blocks.0.atlas.b_gates[1] + 0.01");
}

}  // namespace
}  // namespace ringmaster::model
