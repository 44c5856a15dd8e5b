#include "model/layer_backend.h"

#include "core/cancel.h"
#include "model/internal/projection.h"

namespace ringmaster::model {
namespace {

class CpuLayers final : public LayerBackend {
 public:
  explicit CpuLayers(ThreadPool& pool) : pool_(pool) {}

  const char* name() const override { return "cpu"; }

  StatusOr<Tensor> load(Tensor rows) override { return rows; }

  Status mixer_input(const Tensor& x, const Tensor& g, float eps, Tensor& h) override {
    rms_norm_rows(pool_, x.data<float>(), x.dim(0), x.dim(1), g.const_data<float>(), eps,
                  h.data<float>());
    return ok_status();
  }

  Status add_residuals(Tensor& x, const Tensor& mixed, const Tensor& g, float eps,
                       const MlpWeights& mlp, const std::stop_token& stop,
                       const std::string& where) override {
    float* xs = x.data<float>();
    const float* ms = mixed.const_data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) xs[i] += ms[i];
    if (!add_mlp_residual(xs, x.dim(0), g.const_data<float>(), eps, mlp, pool_, stop)) {
      return check_cancelled(stop, where);
    }
    return ok_status();
  }

  Status project_heads(const float* x, int64_t n, const Tensor& w, int64_t heads, int64_t head_dim,
                       std::span<const int64_t> rope_pos, double rope_theta, void* out,
                       DType out_dtype, const std::stop_token& stop) override {
    project_heads_into(pool_, x, n, w, heads, head_dim, rope_pos, rope_theta, out, out_dtype, stop);
    return ok_status();
  }

  Status project_out(const Tensor& o, const Tensor& wo, float* out, bool accumulate) override {
    model::project_out(pool_, o, wo, out, accumulate);
    return ok_status();
  }

  StatusOr<Tensor> output(Tensor x, const Tensor& g, float eps) override {
    rms_norm(x.data<float>(), x.dim(0), x.dim(1), g.const_data<float>(), eps, x.data<float>());
    return x;
  }

 private:
  ThreadPool& pool_;
};

}  // namespace

std::unique_ptr<LayerBackend> make_cpu_layer_backend(ThreadPool& pool) {
  return std::make_unique<CpuLayers>(pool);
}

}  // namespace ringmaster::model
