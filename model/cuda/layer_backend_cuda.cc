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
  Device device() const override { return Device::cuda(device_); }

  StatusOr<Tensor> empty(const Shape& shape, DType dtype) override {
    return empty_on_device(shape, dtype, device_);
  }

  StatusOr<Tensor> load(Tensor rows) override {
    if (!rows.device().is_cpu() || rows.dtype() != DType::kF32 || rows.rank() != 2) {
      return invalid_argument("cuda layers: load takes f32 host rows, not " + rows.to_string());
    }
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_ASSIGN_OR_RETURN(Tensor x, empty_on_device(rows.shape(), DType::kF32, device_));
    RM_RETURN_IF_ERROR(copy_bytes_async(x.mutable_raw(), rows.raw(), rows.bytes(), stream_));
    // `rows` may be freed once this returns: wait for the copy (once per forward).
    RM_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream_)).with_context(name_));
    return x;
  }

  Status mixer_input(const Tensor& x, const Tensor& g, float eps, Tensor& h) override {
    RM_RETURN_IF_ERROR(check_rows(h, x.shape(), "mixer_input"));
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_ASSIGN_OR_RETURN(const float* gain, norm_gain(g));
    const bool host = h.device().is_cpu();
    float* rows = h.data<float>();
    if (host) {
      RM_ASSIGN_OR_RETURN(rows, scratch<float>(rows_, x.numel()));
    }
    RM_RETURN_IF_ERROR(launch_rms_norm(
        {.x = x.data<float>(), .g = gain, .y = rows, .n = x.dim(0), .width = x.dim(1), .eps = eps},
        stream_));
    if (host) return download(rows, h.mutable_raw(), h.bytes());
    return finish();
  }

  Status add_residuals(Tensor& x, const Tensor& mixed, const Tensor& g, float eps,
                       const MlpWeights& mlp, const std::stop_token& stop,
                       const std::string& where) override {
    RM_RETURN_IF_ERROR(check_rows(mixed, x.shape(), "add_residuals"));
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    const int64_t n = x.dim(0), d = x.dim(1), hidden = mlp.w_gate.dim(0);
    RM_ASSIGN_OR_RETURN(const float* gain, norm_gain(g));
    RM_ASSIGN_OR_RETURN(const Tensor* w_gate, weight(mlp.w_gate));
    RM_ASSIGN_OR_RETURN(const Tensor* w_up, weight(mlp.w_up));
    RM_ASSIGN_OR_RETURN(const Tensor* w_down, weight(mlp.w_down));
    RM_ASSIGN_OR_RETURN(const float* mixed_rows, on_device(mixed, rows_));
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
    return finish();
  }

  Status project_heads(const Tensor& x, const Tensor& w, std::span<const int64_t> rope_pos,
                       double rope_theta, const Tensor& out, const std::stop_token& stop) override {
    const int64_t n = x.dim(0), heads = out.dim(1), head_dim = out.dim(2);
    const int64_t width = heads * head_dim;
    RM_RETURN_IF_ERROR(check_rows(x, {n, w.dim(1)}, "project_heads"));
    const bool out_fits = out.rank() == 3 && out.dim(0) == n && width == w.dim(0) &&
                          (out.dtype() == DType::kF32 || out.dtype() == DType::kBf16) &&
                          mine(out) && out.writable();
    if (!out_fits || (!rope_pos.empty() && static_cast<int64_t>(rope_pos.size()) != n)) {
      return invalid_argument("cuda layers: project_heads of " + x.to_string() + " by " +
                              w.to_string() + " into " + out.to_string());
    }
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_ASSIGN_OR_RETURN(const Tensor* weights, weight(w));
    const DType out_dtype = out.dtype();
    const bool host_out = out.device().is_cpu(), f32_out = out_dtype == DType::kF32;
    const int64_t tile = std::min(kDeviceTile, n);
    // Device f32 rows are projected in place; the others through a tile of scratch.
    RM_ASSIGN_OR_RETURN(float* proj,
                        scratch<float>(proj_, host_out || !f32_out ? tile * width : 0));
    RM_ASSIGN_OR_RETURN(uint16_t * proj_bf16,
                        scratch<uint16_t>(proj_bf16_, host_out && !f32_out ? tile * width : 0));
    RM_ASSIGN_OR_RETURN(int64_t * pos, scratch<int64_t>(pos_, rope_pos.empty() ? 0 : tile));
    const size_t row_bytes = static_cast<size_t>(width) * dtype_size(out_dtype);
    for (int64_t begin = 0; begin < n && !stop.stop_requested(); begin += tile) {
      const int64_t rows = std::min(tile, n - begin);
      const Tensor x_tile = x.rows(begin, begin + rows);
      RM_ASSIGN_OR_RETURN(const float* in, on_device(x_tile, in_));
      std::byte* dst =
          static_cast<std::byte*>(out.mutable_raw()) + static_cast<size_t>(begin) * row_bytes;
      float* y = !host_out && f32_out ? reinterpret_cast<float*>(dst) : proj;
      RM_RETURN_IF_ERROR(product(in, rows, *weights, y, /*accumulate=*/false));
      if (!rope_pos.empty()) {
        RM_RETURN_IF_ERROR(copy_bytes_async(pos, rope_pos.data() + begin,
                                            static_cast<size_t>(rows) * sizeof(int64_t), stream_));
        RM_RETURN_IF_ERROR(launch_rope({.x = y,
                                        .pos = pos,
                                        .n = rows,
                                        .heads = static_cast<int>(heads),
                                        .head_dim = static_cast<int>(head_dim),
                                        .theta = rope_theta},
                                       stream_));
      }
      const void* done = y;
      if (!f32_out) {
        uint16_t* narrow = host_out ? proj_bf16 : reinterpret_cast<uint16_t*>(dst);
        RM_RETURN_IF_ERROR(launch_to_bf16({.x = y, .y = narrow, .count = rows * width}, stream_));
        done = narrow;
      }
      if (host_out) {
        RM_RETURN_IF_ERROR(download(done, dst, static_cast<size_t>(rows) * row_bytes));
      }
    }
    return finish();
  }

  Status project_out(const Tensor& o, const Tensor& wo, const Tensor& out,
                     bool accumulate) override {
    const int64_t n = o.dim(0), width = wo.dim(1), d = wo.dim(0);
    const bool o_fits =
        o.rank() == 3 && o.dim(1) * o.dim(2) == width && o.dtype() == DType::kF32 && mine(o);
    if (!o_fits) {
      return invalid_argument("cuda layers: project_out of " + o.to_string() + " by " +
                              wo.to_string());
    }
    RM_RETURN_IF_ERROR(check_rows(out, {n, d}, "project_out"));
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_ASSIGN_OR_RETURN(const Tensor* weights, weight(wo));
    const bool host_out = out.device().is_cpu();
    const int64_t tile = std::min(kDeviceTile, n);
    RM_ASSIGN_OR_RETURN(float* proj, scratch<float>(proj_, host_out ? tile * d : 0));
    for (int64_t begin = 0; begin < n; begin += tile) {
      const int64_t rows = std::min(tile, n - begin);
      const Tensor o_tile = o.rows(begin, begin + rows);
      RM_ASSIGN_OR_RETURN(const float* in, on_device(o_tile, in_));
      float* dst = static_cast<float*>(out.mutable_raw()) + begin * d;
      float* y = host_out ? proj : dst;
      const size_t out_bytes = static_cast<size_t>(rows * d) * sizeof(float);
      if (accumulate && host_out) RM_RETURN_IF_ERROR(copy_bytes_async(y, dst, out_bytes, stream_));
      RM_RETURN_IF_ERROR(product(in, rows, *weights, y, accumulate));
      if (host_out) RM_RETURN_IF_ERROR(download(y, dst, out_bytes));
    }
    return finish();
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
  bool mine(const Tensor& t) const { return t.device().is_cpu() || t.device() == device(); }

  // f32 rows of `shape` on the host or this GPU.
  Status check_rows(const Tensor& t, const Shape& shape, const char* what) const {
    if (t.dtype() == DType::kF32 && t.shape() == shape && mine(t)) return ok_status();
    return invalid_argument(std::string("cuda layers: ") + what + " takes f32 rows " +
                            shape_to_string(shape) + " on the host or " + name_ + ", not " +
                            t.to_string());
  }

  // f32 `t` on this GPU: its own values for a device tensor, else a copy in `buffer` (pageable
  // host memory: the copy is staged before this returns, so `t` is free again).
  StatusOr<const float*> on_device(const Tensor& t, std::shared_ptr<Buffer>& buffer) {
    if (!t.device().is_cpu()) return t.data<float>();
    RM_ASSIGN_OR_RETURN(float* copy, scratch<float>(buffer, t.numel()));
    RM_RETURN_IF_ERROR(copy_bytes_async(copy, t.raw(), t.bytes(), stream_));
    return copy;
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
    return finish();
  }

  // Waits for the queued work: every call returns with its results final (layer_backend.h).
  Status finish() { return cuda_status(cudaStreamSynchronize(stream_)).with_context(name_); }

  struct Mirror {
    Tensor host;    // held so that no other tensor takes its address while the key is in use
    Tensor device;  // the same shape and dtype
  };

  int device_;
  std::string name_;
  cudaStream_t stream_;
  CublasHandle blas_;
  std::unordered_map<const void*, Mirror> weights_;
  // Reused device scratch (scratch<T>): rows_ holds host h on its way down and a host mixer
  // output on its way up; normed_, gate_, up_ one MLP tile; narrow_ a product's input rounded to
  // bf16; in_, proj_, proj_bf16_, pos_ one projection tile's host rows, results for host rows (and
  // for device bf16 rows, before rounding), bf16 results for host rows, positions.
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
