#include "model/cuda/layer_backend_cuda.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <span>
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
    RM_ASSIGN_OR_RETURN(float* rows, scratch<float>(rows_, x.numel()));
    RM_RETURN_IF_ERROR(launch_rms_norm(
        {.x = x.data<float>(), .g = gain, .y = rows, .n = x.dim(0), .width = x.dim(1), .eps = eps},
        stream_));
    return download(rows, h.mutable_raw(), h.bytes());
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
    RM_ASSIGN_OR_RETURN(float* mixed_rows, scratch<float>(rows_, x.numel()));
    // Pageable host memory: the copy is staged before this returns, so `mixed` is free again.
    RM_RETURN_IF_ERROR(copy_bytes_async(mixed_rows, mixed.raw(), mixed.bytes(), stream_));
    RM_RETURN_IF_ERROR(
        launch_add({.x = mixed_rows, .y = x.data<float>(), .count = x.numel()}, stream_));

    const int64_t tile = std::min(kDeviceTile, n);
    RM_ASSIGN_OR_RETURN(float* normed, scratch<float>(normed_, tile * d));
    RM_ASSIGN_OR_RETURN(float* gate, scratch<float>(gate_, tile * hidden));
    RM_ASSIGN_OR_RETURN(float* up, scratch<float>(up_, tile * hidden));
    for (int64_t begin = 0; begin < n; begin += tile) {
      if (stop.stop_requested()) {
        (void)cudaStreamSynchronize(stream_);
        return check_cancelled(stop, where);
      }
      const int64_t rows = std::min(tile, n - begin);
      float* xs = x.data<float>() + begin * d;
      RM_RETURN_IF_ERROR(launch_rms_norm(
          {.x = xs, .g = gain, .y = normed, .n = rows, .width = d, .eps = eps}, stream_));
      RM_RETURN_IF_ERROR(product(normed, rows, *w_gate, gate, /*accumulate=*/false));
      RM_RETURN_IF_ERROR(product(normed, rows, *w_up, up, /*accumulate=*/false));
      RM_RETURN_IF_ERROR(
          launch_swiglu({.gate = gate, .up = up, .out = gate, .count = rows * hidden}, stream_));
      RM_RETURN_IF_ERROR(product(gate, rows, *w_down, xs, /*accumulate=*/true));
    }
    return ok_status();
  }

  Status project_heads(const float* x, int64_t n, const Tensor& w, int64_t heads, int64_t head_dim,
                       std::span<const int64_t> rope_pos, double rope_theta, void* out,
                       DType out_dtype, const std::stop_token& stop) override {
    if (out_dtype != DType::kF32 && out_dtype != DType::kBf16) {
      return invalid_argument(std::string("cuda layers: project_heads into ") +
                              dtype_name(out_dtype) + " rows (f32 or bf16)");
    }
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_ASSIGN_OR_RETURN(const Tensor* weights, weight(w));
    const int64_t d = w.dim(1), width = heads * head_dim, tile = std::min(kDeviceTile, n);
    RM_ASSIGN_OR_RETURN(float* in, scratch<float>(in_, tile * d));
    RM_ASSIGN_OR_RETURN(float* proj, scratch<float>(proj_, tile * width));
    RM_ASSIGN_OR_RETURN(
        uint16_t * proj_bf16,
        scratch<uint16_t>(proj_bf16_, out_dtype == DType::kBf16 ? tile * width : 0));
    RM_ASSIGN_OR_RETURN(int64_t * pos, scratch<int64_t>(pos_, rope_pos.empty() ? 0 : tile));
    for (int64_t begin = 0; begin < n && !stop.stop_requested(); begin += tile) {
      const int64_t rows = std::min(tile, n - begin);
      RM_RETURN_IF_ERROR(copy_bytes_async(in, x + begin * d,
                                          static_cast<size_t>(rows * d) * sizeof(float), stream_));
      RM_RETURN_IF_ERROR(product(in, rows, *weights, proj, /*accumulate=*/false));
      if (!rope_pos.empty()) {
        RM_RETURN_IF_ERROR(copy_bytes_async(pos, rope_pos.data() + begin,
                                            static_cast<size_t>(rows) * sizeof(int64_t), stream_));
        RM_RETURN_IF_ERROR(launch_rope({.x = proj,
                                        .pos = pos,
                                        .n = rows,
                                        .heads = static_cast<int>(heads),
                                        .head_dim = static_cast<int>(head_dim),
                                        .theta = rope_theta},
                                       stream_));
      }
      const size_t row_bytes = static_cast<size_t>(width) * dtype_size(out_dtype);
      std::byte* dst = static_cast<std::byte*>(out) + static_cast<size_t>(begin) * row_bytes;
      const void* src = proj;
      if (out_dtype == DType::kBf16) {
        RM_RETURN_IF_ERROR(
            launch_to_bf16({.x = proj, .y = proj_bf16, .count = rows * width}, stream_));
        src = proj_bf16;
      }
      RM_RETURN_IF_ERROR(download(src, dst, static_cast<size_t>(rows) * row_bytes));
    }
    return ok_status();
  }

  Status project_out(const Tensor& o, const Tensor& wo, float* out, bool accumulate) override {
    if (!o.device().is_cpu() || o.dtype() != DType::kF32) {
      return invalid_argument("cuda layers: project_out takes f32 host rows, not " + o.to_string());
    }
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_ASSIGN_OR_RETURN(const Tensor* weights, weight(wo));
    const int64_t n = o.dim(0), width = wo.dim(1), d = wo.dim(0), tile = std::min(kDeviceTile, n);
    RM_ASSIGN_OR_RETURN(float* in, scratch<float>(in_, tile * width));
    RM_ASSIGN_OR_RETURN(float* proj, scratch<float>(proj_, tile * d));
    for (int64_t begin = 0; begin < n; begin += tile) {
      const int64_t rows = std::min(tile, n - begin);
      const size_t out_bytes = static_cast<size_t>(rows * d) * sizeof(float);
      RM_RETURN_IF_ERROR(copy_bytes_async(in, o.data<float>() + begin * width,
                                          static_cast<size_t>(rows * width) * sizeof(float),
                                          stream_));
      if (accumulate) {
        RM_RETURN_IF_ERROR(copy_bytes_async(proj, out + begin * d, out_bytes, stream_));
      }
      RM_RETURN_IF_ERROR(product(in, rows, *weights, proj, accumulate));
      RM_RETURN_IF_ERROR(download(proj, out + begin * d, out_bytes));
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
    RM_RETURN_IF_ERROR(download(x.raw(), hf.mutable_raw(), hf.bytes()));
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
      RM_ASSIGN_OR_RETURN(uint16_t * narrow, scratch<uint16_t>(narrow_, rows * in));
      RM_RETURN_IF_ERROR(launch_to_bf16({.x = x, .y = narrow, .count = rows * in}, stream_));
      a = narrow;
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

  // Room for `count` T in the reused device buffer `buffer`, grown when too small. The old memory
  // may still be read by queued work, so the stream finishes before it is freed.
  template <typename T>
  StatusOr<T*> scratch(std::shared_ptr<Buffer>& buffer, int64_t count) {
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T);
    if (!buffer || buffer->bytes() < bytes) {
      RM_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream_)).with_context(name_));
      buffer.reset();
      RM_ASSIGN_OR_RETURN(buffer, allocate_device(bytes, device_));
    }
    return reinterpret_cast<T*>(buffer->data());
  }

  // `bytes` from device `src` to host `dst`, after the work queued before; returns when they are
  // there.
  Status download(const void* src, void* dst, size_t bytes) {
    RM_RETURN_IF_ERROR(copy_bytes_async(dst, src, bytes, stream_));
    return cuda_status(cudaStreamSynchronize(stream_)).with_context(name_);
  }

  struct Mirror {
    Tensor host;    // held so that no other tensor takes its address while the key is in use
    Tensor device;  // the same shape and dtype
  };

  int device_;
  std::string name_;
  cudaStream_t stream_;
  CublasHandle blas_;
  std::unordered_map<const void*, Mirror> weights_;
  // Reused device scratch (scratch<T>): rows_ holds h on its way down and the mixer's output on
  // its way up; normed_, gate_, up_ one MLP tile; narrow_ a product's input rounded to bf16;
  // in_, proj_, proj_bf16_, pos_ one projection tile's rows, results, bf16 results, positions.
  std::shared_ptr<Buffer> rows_, normed_, gate_, up_, narrow_, in_, proj_, proj_bf16_, pos_;
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
