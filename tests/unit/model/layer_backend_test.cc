// Model::forward hands the dense half of every block to ctx.layers (model/layer_backend.h): the
// backend loads the residual stream once, gives each block's mixer its input and takes its
// output back, and makes the final rows; the attention-family mixers, and the fit mixer for its
// token rows, project through it. A backend
// that only counts and forwards to the CPU one must see every block and change no bit; otherwise a
// device backend would be silently bypassed.
#include "model/layer_backend.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <random>
#include <span>
#include <stop_token>
#include <vector>

#include "comm/local_comm.h"
#include "model/init.h"
#include "model/model.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::model {
namespace {

class CountingLayers final : public LayerBackend {
 public:
  explicit CountingLayers(ThreadPool& pool) : inner_(make_cpu_layer_backend(pool)) {}
  const char* name() const override { return "counting"; }
  Device device() const override { return inner_->device(); }
  StatusOr<Tensor> empty(const Shape& shape, DType dtype) override {
    return inner_->empty(shape, dtype);
  }
  StatusOr<Tensor> load(Tensor rows) override {
    ++loads;
    return inner_->load(std::move(rows));
  }
  Status mixer_input(const Tensor& x, const Tensor& g, float eps, Tensor& h) override {
    ++mixer_inputs;
    return inner_->mixer_input(x, g, eps, h);
  }
  Status add_residuals(Tensor& x, const Tensor& mixed, const Tensor& g, float eps,
                       const MlpWeights& mlp, const std::stop_token& stop,
                       const std::string& where) override {
    ++residuals;
    return inner_->add_residuals(x, mixed, g, eps, mlp, stop, where);
  }
  Status project_heads(const Tensor& x, const Tensor& w, std::span<const int64_t> rope_pos,
                       double rope_theta, const Tensor& out, const std::stop_token& stop) override {
    ++head_projections;
    return inner_->project_heads(x, w, rope_pos, rope_theta, out, stop);
  }
  Status project_out(const Tensor& o, const Tensor& wo, const Tensor& out,
                     bool accumulate) override {
    ++out_projections;
    return inner_->project_out(o, wo, out, accumulate);
  }
  StatusOr<Tensor> output(Tensor x, const Tensor& g, float eps) override {
    ++outputs;
    return inner_->output(std::move(x), g, eps);
  }

  int loads = 0, mixer_inputs = 0, residuals = 0, outputs = 0;
  int head_projections = 0, out_projections = 0;

 private:
  std::unique_ptr<LayerBackend> inner_;
};

TEST(LayerBackend, ForwardRunsEveryBlockThroughCtxLayers) {
  testing::TempDir temp;
  const ModelConfig config = testing::small_model_config(
      true, {{.mixer = MixerKind::kWindow, .window = 16},
             {.mixer = MixerKind::kAttention},
             {.mixer = MixerKind::kLocal, .group = 32},
             {.mixer = MixerKind::kFit, .group = 32, .latents = 4, .global_layers = 1}});
  ASSERT_TRUE(init_model(config, 7, temp.file("model")).ok());
  auto model = Model::load(temp.file("model"));
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const int64_t tokens = 300;
  std::mt19937 rng(8);
  std::vector<int32_t> ids(static_cast<size_t>(tokens));
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 4);
  auto comms = comm::LocalComm::make_local_group(1, std::chrono::milliseconds(10000));
  const comm::RecordLayout layout({tokens});
  auto plan = comm::PartitionPlan::make_for_records(comm::PlanKind::kContiguous, layout, 1, 1);
  ASSERT_TRUE(plan.ok());
  ThreadPool pool(2);

  const ShardContext plain =
      make_shard_context(*comms[0], *plan, layout, pool, attention::ContextParallel::kRing);
  auto want = model->forward(plain, ids);
  ASSERT_TRUE(want.ok()) << want.status().to_string();

  auto counting = std::make_shared<CountingLayers>(pool);
  const ShardContext counted =
      make_shard_context(*comms[0], *plan, layout, pool, attention::ContextParallel::kRing,
                         {nullptr, nullptr, counting});
  auto got = model->forward(counted, ids);
  ASSERT_TRUE(got.ok()) << got.status().to_string();

  EXPECT_EQ(counting->loads, 1);
  EXPECT_EQ(counting->mixer_inputs, 4);
  EXPECT_EQ(counting->residuals, 4);
  EXPECT_EQ(counting->outputs, 1);
  // q, k and v, and the output projection, of each of the three attention-family blocks; the fit
  // block's token-side READ k and v, WRITE q and WRITE output projection.
  EXPECT_EQ(counting->head_projections, 12);
  EXPECT_EQ(counting->out_projections, 4);
  ASSERT_EQ(got->shape(), want->shape());
  EXPECT_EQ(std::memcmp(got->data<float>(), want->data<float>(), want->bytes()), 0);
}

}  // namespace
}  // namespace ringmaster::model
