#include "model/layer_backend.h"

#include <initializer_list>
#include <string>

#include "core/cancel.h"
#include "model/internal/projection.h"

namespace ringmaster::model {
namespace {

class CpuLayers final : public LayerBackend {
 public:
  explicit CpuLayers(ThreadPool& pool) : pool_(pool) {}

  const char* name() const override { return "cpu"; }
  Device device() const override { return Device::cpu(); }

  StatusOr<Tensor> empty(const Shape& shape, DType dtype) override {
    return Tensor::empty(shape, dtype);
  }

  StatusOr<Tensor> load(Tensor rows) override { return rows; }

  Status mixer_input(const Tensor& x, const Tensor& g, float eps, Tensor& h) override {
    RM_RETURN_IF_ERROR(check_on_host({&h}, "mixer_input"));
    rms_norm_rows(pool_, x.data<float>(), x.dim(0), x.dim(1), g.const_data<float>(), eps,
                  h.data<float>());
    return ok_status();
  }

  Status add_residuals(Tensor& x, const Tensor& mixed, const Tensor& g, float eps,
                       const MlpWeights& mlp, const std::stop_token& stop,
                       const std::string& where) override {
    RM_RETURN_IF_ERROR(check_on_host({&mixed}, "add_residuals"));
    float* xs = x.data<float>();
    const float* ms = mixed.const_data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) xs[i] += ms[i];
    if (!add_mlp_residual(xs, x.dim(0), g.const_data<float>(), eps, mlp, pool_, stop)) {
      return check_cancelled(stop, where);
    }
    return ok_status();
  }

  Status project_heads(const Tensor& x, const Tensor& w, std::span<const int64_t> rope_pos,
                       double rope_theta, const Tensor& out, const std::stop_token& stop) override {
    RM_RETURN_IF_ERROR(check_on_host({&x, &out}, "project_heads"));
    project_heads_into(pool_, x.data<float>(), x.dim(0), w, out.dim(1), out.dim(2), rope_pos,
                       rope_theta, out.mutable_raw(), out.dtype(), stop);
    return ok_status();
  }

  Status project_out(const Tensor& o, const Tensor& wo, const Tensor& out,
                     bool accumulate) override {
    RM_RETURN_IF_ERROR(check_on_host({&o, &out}, "project_out"));
    model::project_out(pool_, o, wo, static_cast<float*>(out.mutable_raw()), accumulate);
    return ok_status();
  }

  StatusOr<Tensor> output(Tensor x, const Tensor& g, float eps) override {
    rms_norm(x.data<float>(), x.dim(0), x.dim(1), g.const_data<float>(), eps, x.data<float>());
    return x;
  }

 private:
  static Status check_on_host(std::initializer_list<const Tensor*> rows, const char* op) {
    for (const Tensor* t : rows) {
      if (!t->device().is_cpu()) {
        return invalid_argument(std::string("cpu layers: ") + op + " of " + t->to_string());
      }
    }
    return ok_status();
  }

  ThreadPool& pool_;
};

}  // namespace

std::unique_ptr<LayerBackend> make_cpu_layer_backend(ThreadPool& pool) {
  return std::make_unique<CpuLayers>(pool);
}

}  // namespace ringmaster::model
