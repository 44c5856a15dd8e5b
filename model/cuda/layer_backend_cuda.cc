#include "model/cuda/layer_backend_cuda.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/cancel.h"
#include "core/cuda/cuda_status.h"
#include "core/cuda/device_buffer.h"
#include "core/cuda/gemm.h"
#include "model/cuda/layer_kernels.cuh"

namespace ringmaster::model {
namespace {

// Rows per MLP tile: large enough that each GEMM fills the GPU, small enough that the tile's
// two [tile, mlp_hidden] f32 buffers stay a few hundred MiB at mlp_hidden 8192.
constexpr int64_t kDeviceTile = 8192;

class CudaLayers final : public LayerBackend {
 public:
  CudaLayers(int device, cudaStream_t stream, CublasHandle blas)
      : device_(device),
        name_("cuda:" + std::to_string(device)),
        stream_(stream),
        blas_(std::move(blas)) {}

  ~CudaLayers() override {
    // Queued work may still read the scratch and weights freed below, and the cuBLAS handle is
    // bound to the stream: finish, drop the handle, then the stream.
    if (cudaSetDevice(device_) == cudaSuccess) (void)cudaStreamSynchronize(stream_);
    blas_ = CublasHandle();
    (void)cudaStreamDestroy(stream_);
  }
  CudaLayers(const CudaLayers&) = delete;
  CudaLayers& operator=(const CudaLayers&) = delete;

  const char* name() const override { return name_.c_str(); }

  StatusOr<Tensor> load(Tensor rows) override {
    RM_RETURN_IF_ERROR(check_host_rows(rows, "load"));
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_ASSIGN_OR_RETURN(Tensor x, empty_on_device(rows.shape(), DType::kF32, device_));
    RM_RETURN_IF_ERROR(copy_bytes_async(x.mutable_raw(), rows.raw(), rows.bytes(), stream_));
    // `rows` may be freed once this returns: wait for the copy (once per forward).
    RM_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream_)).with_context(name_));
    return x;
  }

  Status mixer_input(const Tensor& x, const Tensor& g, float eps, Tensor& h) override {
    RM_RETURN_IF_ERROR(check_host_rows(h, "mixer_input"));
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_ASSIGN_OR_RETURN(const float* gain, norm_gain(g));
    RM_RETURN_IF_ERROR(reserve(rows_, x.numel(), DType::kF32));
    RM_RETURN_IF_ERROR(launch_rms_norm({.x = x.data<float>(),
                                        .g = gain,
                                        .y = rows_.data<float>(),
                                        .n = x.dim(0),
                                        .width = x.dim(1),
                                        .eps = eps},
                                       stream_));
    return download(rows_.data<float>(), h);
  }

  Status add_residuals(Tensor& x, const Tensor& mixed, const Tensor& g, float eps,
                       const MlpWeights& mlp, const std::stop_token& stop,
                       const std::string& where) override {
    RM_RETURN_IF_ERROR(check_host_rows(mixed, "add_residuals"));
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    const int64_t n = x.dim(0), d = x.dim(1), hidden = mlp.w_gate.dim(0);
    RM_ASSIGN_OR_RETURN(const float* gain, norm_gain(g));
    RM_ASSIGN_OR_RETURN(const Tensor* w_gate, weight(mlp.w_gate));
    RM_ASSIGN_OR_RETURN(const Tensor* w_up, weight(mlp.w_up));
    RM_ASSIGN_OR_RETURN(const Tensor* w_down, weight(mlp.w_down));
    RM_RETURN_IF_ERROR(reserve(rows_, x.numel(), DType::kF32));
    // Pageable host memory: the copy is staged before this returns, so `mixed` is free again.
    RM_RETURN_IF_ERROR(copy_bytes_async(rows_.mutable_raw(), mixed.raw(), mixed.bytes(), stream_));
    RM_RETURN_IF_ERROR(
        launch_add({.x = rows_.data<float>(), .y = x.data<float>(), .count = x.numel()}, stream_));

    const int64_t tile = std::min(kDeviceTile, n);
    RM_RETURN_IF_ERROR(reserve(normed_, tile * d, DType::kF32));
    RM_RETURN_IF_ERROR(reserve(gate_, tile * hidden, DType::kF32));
    RM_RETURN_IF_ERROR(reserve(up_, tile * hidden, DType::kF32));
    for (int64_t begin = 0; begin < n; begin += tile) {
      if (stop.stop_requested()) {
        (void)cudaStreamSynchronize(stream_);
        return check_cancelled(stop, where);
      }
      const int64_t rows = std::min(tile, n - begin);
      float* xs = x.data<float>() + begin * d;
      RM_RETURN_IF_ERROR(launch_rms_norm(
          {.x = xs, .g = gain, .y = normed_.data<float>(), .n = rows, .width = d, .eps = eps},
          stream_));
      RM_RETURN_IF_ERROR(product(normed_.data<float>(), rows, *w_gate, gate_.data<float>(),
                                 /*accumulate=*/false));
      RM_RETURN_IF_ERROR(
          product(normed_.data<float>(), rows, *w_up, up_.data<float>(), /*accumulate=*/false));
      RM_RETURN_IF_ERROR(launch_swiglu({.gate = gate_.data<float>(),
                                        .up = up_.data<float>(),
                                        .out = gate_.data<float>(),
                                        .count = rows * hidden},
                                       stream_));
      RM_RETURN_IF_ERROR(product(gate_.data<float>(), rows, *w_down, xs, /*accumulate=*/true));
    }
    return ok_status();
  }

  StatusOr<Tensor> output(Tensor x, const Tensor& g, float eps) override {
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_ASSIGN_OR_RETURN(const float* gain, norm_gain(g));
    RM_RETURN_IF_ERROR(launch_rms_norm({.x = x.data<float>(),
                                        .g = gain,
                                        .y = x.data<float>(),
                                        .n = x.dim(0),
                                        .width = x.dim(1),
                                        .eps = eps},
                                       stream_));
    Tensor hf = Tensor::empty(x.shape(), DType::kF32);
    RM_RETURN_IF_ERROR(download(x.data<float>(), hf));
    return hf;
  }

 private:
  static Status check_host_rows(const Tensor& t, const char* what) {
    if (t.device().is_cpu() && t.dtype() == DType::kF32 && t.rank() == 2) return ok_status();
    return invalid_argument(std::string("cuda layers: ") + what + " takes f32 host rows, not " +
                            t.to_string());
  }

  // y[rows, out] (+)= x[rows, in] W^T for W [out, in] on the device. A bf16 W reads x rounded to
  // bf16, as model/layers.h's linear does on the CPU.
  Status product(const float* x, int64_t rows, const Tensor& w, float* y, bool accumulate) {
    const int64_t out = w.dim(0), in = w.dim(1);
    const void* a = x;
    if (w.dtype() == DType::kBf16) {
      RM_RETURN_IF_ERROR(reserve(narrow_, rows * in, DType::kBf16));
      RM_RETURN_IF_ERROR(
          launch_to_bf16({.x = x, .y = narrow_.data<uint16_t>(), .count = rows * in}, stream_));
      a = narrow_.raw();
    }
    return gemm(blas_,
                {.a = a,
                 .b = w.raw(),
                 .c = y,
                 .dtype = w.dtype(),
                 .m = rows,
                 .n = out,
                 .k = in,
                 .lda = in,
                 .ldb = in,
                 .ldc = out,
                 .trans_b = true,
                 .beta = accumulate ? 1.0f : 0.0f},
                stream_);
  }

  // The device copy of host weight `w` (f32, or bf16 in bf16 compute), uploaded on first use.
  StatusOr<const Tensor*> weight(const Tensor& w) {
    if ((w.dtype() != DType::kF32 && w.dtype() != DType::kBf16) || !w.device().is_cpu()) {
      return invalid_argument("cuda layers: weight " + w.to_string() +
                              " (f32 or bf16 host weights)");
    }
    auto it = weights_.find(w.raw());
    if (it == weights_.end()) {
      RM_ASSIGN_OR_RETURN(Tensor copy, empty_on_device(w.shape(), w.dtype(), device_));
      RM_RETURN_IF_ERROR(copy_bytes(copy.mutable_raw(), w.raw(), w.bytes()));
      it = weights_.emplace(w.raw(), Mirror{w, std::move(copy)}).first;
    }
    return &it->second.device;
  }

  // A norm's gain, f32 in every compute dtype.
  StatusOr<const float*> norm_gain(const Tensor& g) {
    if (g.dtype() != DType::kF32) {
      return invalid_argument("cuda layers: norm gain " + g.to_string() + " (f32)");
    }
    RM_ASSIGN_OR_RETURN(const Tensor* copy, weight(g));
    return copy->data<float>();
  }

  // Grows `buffer` to at least `numel` elements of `dtype`. The old memory may still be read by
  // queued work, so the stream finishes first.
  Status reserve(Tensor& buffer, int64_t numel, DType dtype) {
    if (buffer.defined() && buffer.numel() >= numel) return ok_status();
    RM_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream_)).with_context(name_));
    buffer = Tensor();
    RM_ASSIGN_OR_RETURN(buffer, empty_on_device({std::max<int64_t>(numel, 1)}, dtype, device_));
    return ok_status();
  }

  // host (f32 rows) = the first host.numel() floats at `src`, after the work queued before.
  Status download(const float* src, Tensor& host) {
    RM_RETURN_IF_ERROR(copy_bytes_async(host.mutable_raw(), src, host.bytes(), stream_));
    return cuda_status(cudaStreamSynchronize(stream_)).with_context(name_);
  }

  struct Mirror {
    Tensor host;    // held so that no other tensor takes its address while the key is in use
    Tensor device;  // f32, the same shape
  };

  int device_;
  std::string name_;
  cudaStream_t stream_;
  CublasHandle blas_;
  std::unordered_map<const void*, Mirror> weights_;
  Tensor rows_;                // [n, d]: h on its way down, the mixer's output on its way up
  Tensor normed_, gate_, up_;  // one MLP tile: [tile, d], [tile, hidden], [tile, hidden]
  Tensor narrow_;              // bf16 compute: a product's input rows rounded to bf16
};

}  // namespace

StatusOr<std::unique_ptr<LayerBackend>> make_cuda_layer_backend(int device) {
  const std::string where = "cuda layers on cuda:" + std::to_string(device);
  RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device)).with_context(where));
  RM_ASSIGN_OR_RETURN(CublasHandle blas, CublasHandle::create());
  cudaStream_t stream = nullptr;
  RM_RETURN_IF_ERROR(
      cuda_status(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)).with_context(where));
  return std::unique_ptr<LayerBackend>(new CudaLayers(device, stream, std::move(blas)));
}

}  // namespace ringmaster::model
