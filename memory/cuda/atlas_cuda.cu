#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/cuda/cuda_status.h"
#include "core/cuda/gemm.h"
#include "memory/cuda/atlas_cuda.h"
#include "memory/newton_schulz.h"

namespace ringmaster::memory {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 4096;  // grid-stride loops cover the rest

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

// A device array that only grows, so a chain of calls allocates once.
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { (void)cudaFree(data_); }

  // Grows to `count` floats (contents lost). Work queued on `stream` may still use the old
  // memory, so growing waits for the stream before freeing it (cudaFree's own implicit wait is
  // not a documented guarantee).
  Status reserve(int64_t count, cudaStream_t stream) {
    if (count <= capacity_) return ok_status();
    if (data_ != nullptr) RM_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream)));
    (void)cudaFree(data_);
    data_ = nullptr;
    capacity_ = 0;
    RM_RETURN_IF_ERROR(cuda_status(cudaMalloc(&data_, sizeof(float) * static_cast<size_t>(count))));
    capacity_ = count;
    return ok_status();
  }
  float* get() const { return data_; }

 private:
  float* data_ = nullptr;
  int64_t capacity_ = 0;
};

// ---- elementwise kernels (grid-stride loops) ----

// out[n, width] = phi(u_i), u rows [n, head_dim] with row stride ld (memory/features.h).
__global__ void features_kernel(const float* u, int64_t n, int64_t ld, int64_t head_dim, int degree,
                                float* out) {
  const int64_t width = degree == 2 ? head_dim + head_dim * head_dim : head_dim;
  const float inv_sqrt2 = 0.70710678118654752440f;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < n * width;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = idx / width, j = idx % width;
    const float* row = u + i * ld;
    if (j < head_dim) {
      out[idx] = row[j];
    } else {
      const int64_t a = (j - head_dim) / head_dim, b = (j - head_dim) % head_dim;
      out[idx] = row[a] * inv_sqrt2 * row[b];  // the CPU's (row[a] / sqrt 2) * row[b]
    }
  }
}

__global__ void silu_kernel(float* a, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    a[i] = a[i] / (1.0f + expf(-a[i]));
  }
}

// a = silu(z), sig = silu'(z) = s (1 + z (1 - s)).
__global__ void silu_and_slope_kernel(const float* z, float* a, float* sig, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float s = 1.0f / (1.0f + expf(-z[i]));
    a[i] = z[i] * s;
    sig[i] = s * (1.0f + z[i] * (1.0f - s));
  }
}

// weight[r] = gamma[r] * n_i for token i = lo + r of the window of chunk [c0, c1).
__global__ void window_weight_kernel(const float* gamma, int64_t m, int64_t lo, int64_t c0,
                                     int64_t c1, int64_t omega, float* weight) {
  for (int64_t r = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; r < m;
       r += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = lo + r;
    const int64_t hi = i + omega - 1 < c1 - 1 ? i + omega - 1 : c1 - 1;
    const int64_t from = i > c0 ? i : c0;
    weight[r] = gamma[r] * static_cast<float>(hi - from + 1);
  }
}

// e[i, :] = 2 weight_i (e[i, :] - v[i, :]), rows of width d_v.
__global__ void residual_kernel(float* e, const float* v, const float* weight, int64_t n,
                                int64_t d_v) {
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < n * d_v;
       idx += int64_t{gridDim.x} * blockDim.x) {
    e[idx] = 2.0f * weight[idx / d_v] * (e[idx] - v[idx]);
  }
}

__global__ void multiply_kernel(float* z, const float* sig, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    z[i] *= sig[i];
  }
}

// y = alpha y + x.
__global__ void scale_add_kernel(float* y, float alpha, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    y[i] = alpha * y[i] + x[i];
  }
}

// w = keep w - lr x.
__global__ void gated_update_kernel(float* w, float keep, float lr, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    w[i] = keep * w[i] - lr * x[i];
  }
}

// inv[0] = 1 / (sqrt(sum g^2) + 1e-7), summed in double as the CPU does. One block.
__global__ void inverse_norm_kernel(const float* g, int64_t n, float* inv) {
  __shared__ double partial[kThreads];
  double sum = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += double{g[i]} * g[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride)
      partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) inv[0] = static_cast<float>(1.0 / (sqrt(partial[0]) + 1e-7));
}

// out = scale[0] * (transpose ? g^T : g), g [rows, cols].
__global__ void scaled_copy_kernel(const float* g, int64_t rows, int64_t cols, bool transpose,
                                   const float* scale, float* out) {
  const float s = scale ? scale[0] : 1.0f;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < rows * cols;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = idx / cols, j = idx % cols;
    out[transpose ? j * rows + i : idx] = s * g[idx];
  }
}

}  // namespace

struct CudaAtlas::Impl {
  int device = 0;
  cudaStream_t stream = nullptr;
  CublasHandle blas;
  // State, gradients and NS5 outputs.
  DeviceArray w1, w2, s1, s2, g1, g2, n1, n2;
  // The run's rows: k, v and gamma of [first_pos - tail, end), q and y of [first_pos, end).
  DeviceArray k, v, gamma, q, y;
  // Per-chunk scratch.
  DeviceArray uq, u, weight, z, a, sig, e;
  // NS5 scratch: x, x_next [r, s]; a, b [r, r]; the inverse norm.
  DeviceArray ns_x, ns_next, ns_a, ns_b, ns_inv;

  // The cuBLAS handle is bound to the stream (gemm sets it), so it goes first; queued work is
  // finished before either goes, and before the arrays (destroyed after this body) are freed.
  ~Impl() {
    if (!stream) return;
    (void)cudaSetDevice(device);
    (void)cudaStreamSynchronize(stream);
    blas = CublasHandle();
    (void)cudaStreamDestroy(stream);
  }

  // Row-major C[m, n] = alpha op(A) op(B) + beta C in full f32 (core/cuda/gemm.h; no TF32: the
  // chain feeds every later chunk).
  Status gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t kk, float alpha, const float* a_,
              int64_t lda, const float* b_, int64_t ldb, float beta, float* c, int64_t ldc) {
    GemmParams p;
    p.a = a_;
    p.b = b_;
    p.c = c;
    p.m = m;
    p.n = n;
    p.k = kk;
    p.lda = lda;
    p.ldb = ldb;
    p.ldc = ldc;
    p.trans_a = ta;
    p.trans_b = tb;
    p.alpha = alpha;
    p.beta = beta;
    return ringmaster::gemm(blas, p, stream);
  }

  Status launched(const char* what) {
    return cuda_status(cudaGetLastError()).with_context(std::string("CudaAtlas: ") + what);
  }

  // y[n, d_v] (row stride ldy) = M(u) at (w1, w2): memory_read.
  Status read(const MemoryDims& dims, const float* u_, int64_t n, float* y_, int64_t ldy) {
    if (n == 0) return ok_status();
    RM_RETURN_IF_ERROR(z.reserve(n * dims.hidden, stream));
    RM_RETURN_IF_ERROR(gemm(false, true, n, dims.hidden, dims.d_phi, 1.0f, u_, dims.d_phi, w1.get(),
                            dims.d_phi, 0.0f, z.get(), dims.hidden));
    silu_kernel<<<blocks_for(n * dims.hidden), kThreads, 0, stream>>>(z.get(), n * dims.hidden);
    RM_RETURN_IF_ERROR(launched("silu"));
    return gemm(false, true, n, dims.d_v, dims.hidden, 1.0f, z.get(), dims.hidden, w2.get(),
                dims.hidden, 0.0f, y_, ldy);
  }

  // (g1, g2) = omega_gradient at (w1, w2) over rows u [n, d_phi], v [n, d_v], weight [n].
  Status gradient(const MemoryDims& dims, const float* u_, const float* v_, int64_t n) {
    const int64_t hid = dims.hidden, dv = dims.d_v, dphi = dims.d_phi;
    for (DeviceArray* buf : {&z, &a, &sig}) RM_RETURN_IF_ERROR(buf->reserve(n * hid, stream));
    RM_RETURN_IF_ERROR(e.reserve(n * dv, stream));
    RM_RETURN_IF_ERROR(
        gemm(false, true, n, hid, dphi, 1.0f, u_, dphi, w1.get(), dphi, 0.0f, z.get(), hid));
    silu_and_slope_kernel<<<blocks_for(n * hid), kThreads, 0, stream>>>(z.get(), a.get(), sig.get(),
                                                                        n * hid);
    RM_RETURN_IF_ERROR(launched("silu_and_slope"));
    RM_RETURN_IF_ERROR(
        gemm(false, true, n, dv, hid, 1.0f, a.get(), hid, w2.get(), hid, 0.0f, e.get(), dv));
    residual_kernel<<<blocks_for(n * dv), kThreads, 0, stream>>>(e.get(), v_, weight.get(), n, dv);
    RM_RETURN_IF_ERROR(launched("residual"));
    RM_RETURN_IF_ERROR(
        gemm(true, false, dv, hid, n, 1.0f, e.get(), dv, a.get(), hid, 0.0f, g2.get(), hid));
    RM_RETURN_IF_ERROR(
        gemm(false, false, n, hid, dv, 1.0f, e.get(), dv, w2.get(), hid, 0.0f, z.get(), hid));
    multiply_kernel<<<blocks_for(n * hid), kThreads, 0, stream>>>(z.get(), sig.get(), n * hid);
    RM_RETURN_IF_ERROR(launched("multiply"));
    return gemm(true, false, hid, dphi, n, 1.0f, z.get(), hid, u_, dphi, 0.0f, g1.get(), dphi);
  }

  // out[rows, cols] = NS5(g): memory/newton_schulz.h, on the wide orientation.
  Status newton_schulz(const float* g, int64_t rows, int64_t cols, float* out) {
    const bool transposed = rows > cols;
    const int64_t r = transposed ? cols : rows, s = transposed ? rows : cols;
    RM_RETURN_IF_ERROR(ns_x.reserve(r * s, stream));
    RM_RETURN_IF_ERROR(ns_next.reserve(r * s, stream));
    RM_RETURN_IF_ERROR(ns_a.reserve(r * r, stream));
    RM_RETURN_IF_ERROR(ns_b.reserve(r * r, stream));
    RM_RETURN_IF_ERROR(ns_inv.reserve(1, stream));
    inverse_norm_kernel<<<1, kThreads, 0, stream>>>(g, rows * cols, ns_inv.get());
    RM_RETURN_IF_ERROR(launched("inverse_norm"));
    scaled_copy_kernel<<<blocks_for(r * s), kThreads, 0, stream>>>(g, rows, cols, transposed,
                                                                   ns_inv.get(), ns_x.get());
    RM_RETURN_IF_ERROR(launched("scaled_copy"));
    float* x = ns_x.get();
    float* x_next = ns_next.get();
    const size_t rr_bytes = sizeof(float) * static_cast<size_t>(r * r);
    const size_t rs_bytes = sizeof(float) * static_cast<size_t>(r * s);
    for (int step = 0; step < kNsSteps; ++step) {
      // A = X X^T;  B = c A A + b A;  X' = a X + B X
      RM_RETURN_IF_ERROR(gemm(false, true, r, r, s, 1.0f, x, s, x, s, 0.0f, ns_a.get(), r));
      RM_RETURN_IF_ERROR(cuda_status(
          cudaMemcpyAsync(ns_b.get(), ns_a.get(), rr_bytes, cudaMemcpyDeviceToDevice, stream)));
      RM_RETURN_IF_ERROR(gemm(false, false, r, r, r, static_cast<float>(kNsC), ns_a.get(), r,
                              ns_a.get(), r, static_cast<float>(kNsB), ns_b.get(), r));
      RM_RETURN_IF_ERROR(
          cuda_status(cudaMemcpyAsync(x_next, x, rs_bytes, cudaMemcpyDeviceToDevice, stream)));
      RM_RETURN_IF_ERROR(gemm(false, false, r, s, r, 1.0f, ns_b.get(), r, x, s,
                              static_cast<float>(kNsA), x_next, s));
      std::swap(x, x_next);
    }
    // Back to [rows, cols]: x is [r, s] = [cols, rows] when transposed.
    scaled_copy_kernel<<<blocks_for(r * s), kThreads, 0, stream>>>(x, r, s, transposed, nullptr,
                                                                   out);
    return launched("scaled_copy");
  }
};

CudaAtlas::CudaAtlas(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaAtlas::~CudaAtlas() = default;

StatusOr<std::unique_ptr<CudaAtlas>> CudaAtlas::create(int device) {
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device)).with_context("CudaAtlas"));
  RM_RETURN_IF_ERROR(cuda_status(cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking)));
  RM_ASSIGN_OR_RETURN(impl->blas, CublasHandle::create());
  return std::unique_ptr<CudaAtlas>(new CudaAtlas(std::move(impl)));
}

Status CudaAtlas::run_head(const AtlasShape& shape, HeadState& state, const HeadRun& run) {
  Impl& d = *impl_;
  RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(d.device)));
  const int64_t hd = shape.head_dim, dphi = shape.d_phi(), omega = shape.omega_window;
  const MemoryDims dims = shape.dims();
  const int64_t n1 = dims.hidden * dphi, n2 = hd * dims.hidden;
  const int64_t end = run.first_pos + run.len;
  const int64_t base = run.first_pos - state.tail;  // position of the first k/v row on the device
  const int64_t rows = state.tail + run.len;
  if (run.len == 0) {
    advance_tail(shape, state, run);
    return ok_status();
  }

  // Host staging: the tail's rows, then the run's (strided) rows, packed dense.
  std::vector<float> k(static_cast<size_t>(rows * hd)), v(k.size()),
      gamma(static_cast<size_t>(rows)), q(static_cast<size_t>(run.len * hd));
  std::copy(state.tail_k.begin(), state.tail_k.end(), k.begin());
  std::copy(state.tail_v.begin(), state.tail_v.end(), v.begin());
  std::copy(state.tail_gamma.begin(), state.tail_gamma.end(), gamma.begin());
  for (int64_t i = 0; i < run.len; ++i) {
    const size_t at = static_cast<size_t>((state.tail + i) * hd);
    std::memcpy(&k[at], run.k + i * run.ld, sizeof(float) * static_cast<size_t>(hd));
    std::memcpy(&v[at], run.v + i * run.ld, sizeof(float) * static_cast<size_t>(hd));
    std::memcpy(&q[static_cast<size_t>(i * hd)], run.q + i * run.ld,
                sizeof(float) * static_cast<size_t>(hd));
    gamma[static_cast<size_t>(state.tail + i)] = run.gamma[i * run.ld];
  }

  const int64_t max_window = std::min(omega - 1, end) + shape.chunk;
  const std::pair<DeviceArray*, int64_t> sizes[] = {{&d.w1, n1},
                                                    {&d.s1, n1},
                                                    {&d.g1, n1},
                                                    {&d.n1, n1},
                                                    {&d.w2, n2},
                                                    {&d.s2, n2},
                                                    {&d.g2, n2},
                                                    {&d.n2, n2},
                                                    {&d.k, rows * hd},
                                                    {&d.v, rows * hd},
                                                    {&d.gamma, rows},
                                                    {&d.q, run.len * hd},
                                                    {&d.y, run.len * hd},
                                                    {&d.uq, shape.chunk * dphi},
                                                    {&d.u, max_window * dphi},
                                                    {&d.weight, max_window}};
  for (auto [buf, count] : sizes) RM_RETURN_IF_ERROR(buf->reserve(count, d.stream));

  auto upload = [&](DeviceArray& dst, const std::vector<float>& src) {
    return cuda_status(cudaMemcpyAsync(dst.get(), src.data(), sizeof(float) * src.size(),
                                       cudaMemcpyHostToDevice, d.stream));
  };
  RM_RETURN_IF_ERROR(upload(d.w1, state.w1));
  RM_RETURN_IF_ERROR(upload(d.w2, state.w2));
  RM_RETURN_IF_ERROR(upload(d.s1, state.s1));
  RM_RETURN_IF_ERROR(upload(d.s2, state.s2));
  RM_RETURN_IF_ERROR(upload(d.k, k));
  RM_RETURN_IF_ERROR(upload(d.v, v));
  RM_RETURN_IF_ERROR(upload(d.gamma, gamma));
  RM_RETURN_IF_ERROR(upload(d.q, q));

  size_t chunk_index = 0;
  for (int64_t c0 = run.first_pos; c0 < end; c0 += shape.chunk, ++chunk_index) {
    const int64_t c1 = std::min(end, c0 + shape.chunk), b = c1 - c0;
    const ChunkGates gates = run.gates[chunk_index];

    // READ at the start state.
    features_kernel<<<blocks_for(b * dphi), kThreads, 0, d.stream>>>(
        d.q.get() + (c0 - run.first_pos) * hd, b, hd, hd, shape.feature_degree, d.uq.get());
    RM_RETURN_IF_ERROR(d.launched("features"));
    RM_RETURN_IF_ERROR(d.read(dims, d.uq.get(), b, d.y.get() + (c0 - run.first_pos) * hd, hd));

    // The Omega window [lo, c1): rows lo - base onwards on the device.
    const int64_t lo = std::max<int64_t>(0, c0 - omega + 1), m = c1 - lo;
    features_kernel<<<blocks_for(m * dphi), kThreads, 0, d.stream>>>(
        d.k.get() + (lo - base) * hd, m, hd, hd, shape.feature_degree, d.u.get());
    RM_RETURN_IF_ERROR(d.launched("features"));
    window_weight_kernel<<<blocks_for(m), kThreads, 0, d.stream>>>(
        d.gamma.get() + (lo - base), m, lo, c0, c1, omega, d.weight.get());
    RM_RETURN_IF_ERROR(d.launched("window_weight"));
    RM_RETURN_IF_ERROR(d.gradient(dims, d.u.get(), d.v.get() + (lo - base) * hd, m));

    // S = mom S + G;  W = keep W - lr NS5(S)
    scale_add_kernel<<<blocks_for(n1), kThreads, 0, d.stream>>>(d.s1.get(), gates.mom, d.g1.get(),
                                                                n1);
    scale_add_kernel<<<blocks_for(n2), kThreads, 0, d.stream>>>(d.s2.get(), gates.mom, d.g2.get(),
                                                                n2);
    RM_RETURN_IF_ERROR(d.launched("scale_add"));
    RM_RETURN_IF_ERROR(d.newton_schulz(d.s1.get(), dims.hidden, dphi, d.n1.get()));
    RM_RETURN_IF_ERROR(d.newton_schulz(d.s2.get(), hd, dims.hidden, d.n2.get()));
    gated_update_kernel<<<blocks_for(n1), kThreads, 0, d.stream>>>(d.w1.get(), gates.keep, gates.lr,
                                                                   d.n1.get(), n1);
    gated_update_kernel<<<blocks_for(n2), kThreads, 0, d.stream>>>(d.w2.get(), gates.keep, gates.lr,
                                                                   d.n2.get(), n2);
    RM_RETURN_IF_ERROR(d.launched("gated_update"));
  }

  auto download = [&](std::vector<float>& dst, const DeviceArray& src) {
    return cuda_status(cudaMemcpyAsync(dst.data(), src.get(), sizeof(float) * dst.size(),
                                       cudaMemcpyDeviceToHost, d.stream));
  };
  RM_RETURN_IF_ERROR(download(state.w1, d.w1));
  RM_RETURN_IF_ERROR(download(state.w2, d.w2));
  RM_RETURN_IF_ERROR(download(state.s1, d.s1));
  RM_RETURN_IF_ERROR(download(state.s2, d.s2));
  RM_RETURN_IF_ERROR(cuda_status(cudaMemcpy2DAsync(
      run.y, sizeof(float) * static_cast<size_t>(run.ld_y), d.y.get(),
      sizeof(float) * static_cast<size_t>(hd), sizeof(float) * static_cast<size_t>(hd),
      static_cast<size_t>(run.len), cudaMemcpyDeviceToHost, d.stream)));
  RM_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(d.stream)).with_context("CudaAtlas"));
  advance_tail(shape, state, run);
  return ok_status();
}

namespace {

class CudaAtlasBackend final : public AtlasBackend {
 public:
  explicit CudaAtlasBackend(std::vector<std::unique_ptr<CudaAtlas>> slots)
      : slots_(std::move(slots)) {}
  const char* name() const override { return "cuda"; }
  Status run_head(const AtlasShape& shape, HeadState& state, const HeadRun& run,
                  int slot) override {
    if (slot < 0 || static_cast<size_t>(slot) >= slots_.size()) {
      return invalid_argument("CudaAtlasBackend: slot " + std::to_string(slot) + " of " +
                              std::to_string(slots_.size()));
    }
    return slots_[static_cast<size_t>(slot)]->run_head(shape, state, run);
  }

 private:
  std::vector<std::unique_ptr<CudaAtlas>> slots_;
};

}  // namespace

StatusOr<std::unique_ptr<AtlasBackend>> make_cuda_atlas_backend(int device, int slots) {
  std::vector<std::unique_ptr<CudaAtlas>> made;
  for (int i = 0; i < slots; ++i) {
    RM_ASSIGN_OR_RETURN(std::unique_ptr<CudaAtlas> atlas, CudaAtlas::create(device));
    made.push_back(std::move(atlas));
  }
  return std::unique_ptr<AtlasBackend>(std::make_unique<CudaAtlasBackend>(std::move(made)));
}

}  // namespace ringmaster::memory
