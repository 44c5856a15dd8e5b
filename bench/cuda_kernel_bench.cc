// bench/cuda_kernel_bench.cc: the device attention kernel's TFLOP/s next to cuBLAS's bf16 GEMM.
//
// Usage: ringmaster_cuda_kernel_bench [--min-time SECONDS] [--heads H] [--lengths L1,L2,...]
// Times launch_attend_block (bf16, head_dim 128, Lq = Lk = L, positions 0..L-1) causal and not,
// and a square cuBLAS bf16 GEMM (n = 8192, f32 accumulate and output) on the same device in the
// same run, and prints one row per (L, causal) with the ratio: the goal is >= 0.6 at
// L = 16384. Attention FLOPs are 4 L^2 head_dim heads (two products of 2 L^2 head_dim each),
// halved for causal (the kernel skips the hidden half). Each row repeats the launch, doubling
// the count, until one batch takes at least --min-time (default 0.5 s), timed by CUDA events.
// Exit status 1 when no GPU is visible or a launch fails.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "attention/cuda/block_kernel.cuh"
#include "core/cuda/cuda_status.h"
#include "core/cuda/gemm.h"
#include "core/dtype.h"

namespace ringmaster::bench {
namespace {

struct DeviceFree {
  void operator()(void* p) const { (void)cudaFree(p); }
};
using DevicePtr = std::unique_ptr<void, DeviceFree>;

StatusOr<DevicePtr> device_alloc(size_t bytes) {
  void* raw = nullptr;
  RM_RETURN_IF_ERROR(cuda_status(cudaMalloc(&raw, bytes)));
  return DevicePtr(raw);
}

// Seconds per call of `launch`: doubles the batch until it runs for at least `min_seconds`.
StatusOr<double> time_per_call(const std::function<Status()>& launch, double min_seconds) {
  RM_RETURN_IF_ERROR(launch());  // warm-up: attributes, cuBLAS heuristics, clocks
  cudaEvent_t start = nullptr, stop = nullptr;
  RM_RETURN_IF_ERROR(cuda_status(cudaEventCreate(&start)));
  if (Status s = cuda_status(cudaEventCreate(&stop)); !s.ok()) {
    (void)cudaEventDestroy(start);
    return s;
  }
  const auto destroy = [&] {
    (void)cudaEventDestroy(start);
    (void)cudaEventDestroy(stop);
  };
  for (int64_t calls = 1;; calls *= 2) {
    Status s = cuda_status(cudaEventRecord(start));
    for (int64_t i = 0; i < calls && s.ok(); ++i) s = launch();
    if (s.ok()) s = cuda_status(cudaEventRecord(stop));
    if (s.ok()) s = cuda_status(cudaEventSynchronize(stop));
    float ms = 0.0f;
    if (s.ok()) s = cuda_status(cudaEventElapsedTime(&ms, start, stop));
    if (!s.ok()) {
      destroy();
      return s;
    }
    if (ms / 1e3 >= min_seconds || calls >= (int64_t{1} << 20)) {
      destroy();
      return ms / 1e3 / static_cast<double>(calls);
    }
  }
}

// Random bf16 values in [-1, 1] on the device.
StatusOr<DevicePtr> random_bf16(int64_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<uint16_t> host(static_cast<size_t>(count));
  for (uint16_t& x : host) x = f32_to_bf16(dist(rng));
  RM_ASSIGN_OR_RETURN(DevicePtr dev, device_alloc(host.size() * sizeof(uint16_t)));
  RM_RETURN_IF_ERROR(cuda_status(
      cudaMemcpy(dev.get(), host.data(), host.size() * sizeof(uint16_t), cudaMemcpyHostToDevice)));
  return dev;
}

StatusOr<double> gemm_tflops(int64_t n, double min_seconds, std::mt19937& rng) {
  RM_ASSIGN_OR_RETURN(CublasHandle handle, CublasHandle::create());
  RM_ASSIGN_OR_RETURN(DevicePtr a, random_bf16(n * n, rng));
  RM_ASSIGN_OR_RETURN(DevicePtr b, random_bf16(n * n, rng));
  RM_ASSIGN_OR_RETURN(DevicePtr c, device_alloc(sizeof(float) * n * n));
  GemmParams p;
  p.a = a.get();
  p.b = b.get();
  p.c = static_cast<float*>(c.get());
  p.dtype = DType::kBf16;
  p.m = p.n = p.k = n;
  p.lda = p.ldb = p.ldc = n;
  p.trans_b = true;  // x W^T, the model's layout
  RM_ASSIGN_OR_RETURN(const double seconds,
                      time_per_call([&] { return gemm(handle, p, nullptr); }, min_seconds));
  return 2.0 * static_cast<double>(n) * n * n / seconds / 1e12;
}

struct Options {
  double min_seconds = 0.5;
  int heads = 16;
  std::vector<int64_t> lengths = {4096, 16384};
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    const char* value = argv[++i];
    if (arg == "--min-time") {
      o.min_seconds = std::atof(value);
    } else if (arg == "--heads") {
      o.heads = std::atoi(value);
    } else if (arg == "--lengths") {
      o.lengths.clear();
      for (const char* p = value; *p;) {
        char* end = nullptr;
        o.lengths.push_back(std::strtoll(p, &end, 10));
        if (end == p) return false;
        p = *end == ',' ? end + 1 : end;
      }
    } else {
      return false;
    }
  }
  return o.min_seconds > 0 && o.heads > 0 && !o.lengths.empty();
}

Status run(const Options& o) {
  constexpr int kHeadDim = 128;
  constexpr int64_t kGemmN = 8192;
  std::mt19937 rng(42);
  cudaDeviceProp prop{};
  RM_RETURN_IF_ERROR(cuda_status(cudaGetDeviceProperties(&prop, 0)));
  RM_ASSIGN_OR_RETURN(const double gemm_rate, gemm_tflops(kGemmN, o.min_seconds, rng));
  std::printf("device: %s\n", prop.name);
  std::printf("cuBLAS bf16 GEMM %lld^3 (f32 accumulate, f32 out): %.1f TFLOP/s\n",
              static_cast<long long>(kGemmN), gemm_rate);
  std::printf("attention forward: bf16, head_dim %d, %d heads, Lq = Lk = L\n", kHeadDim, o.heads);
  std::printf("%8s %7s %10s %9s %8s\n", "L", "causal", "ms", "TFLOP/s", "vs GEMM");

  for (const int64_t L : o.lengths) {
    const int64_t elems = L * o.heads * kHeadDim;
    // q, k and v share one buffer: the timing does not depend on the values.
    RM_ASSIGN_OR_RETURN(DevicePtr qkv, random_bf16(elems, rng));
    RM_ASSIGN_OR_RETURN(DevicePtr out, device_alloc(sizeof(float) * elems));
    RM_ASSIGN_OR_RETURN(DevicePtr lse, device_alloc(sizeof(float) * L * o.heads));
    std::vector<int64_t> host_pos(static_cast<size_t>(L));
    for (int64_t i = 0; i < L; ++i) host_pos[static_cast<size_t>(i)] = i;
    RM_ASSIGN_OR_RETURN(DevicePtr pos, device_alloc(sizeof(int64_t) * L));
    RM_RETURN_IF_ERROR(cuda_status(
        cudaMemcpy(pos.get(), host_pos.data(), sizeof(int64_t) * L, cudaMemcpyHostToDevice)));
    for (const bool causal : {false, true}) {
      attention::AttendParams p;
      p.q = p.k = p.v = qkv.get();
      p.dtype = DType::kBf16;
      p.q_pos = p.k_pos = static_cast<const int64_t*>(pos.get());
      p.out = static_cast<float*>(out.get());
      p.lse = static_cast<float*>(lse.get());
      p.q_len = p.kv_len = L;
      p.n_heads = p.n_kv_heads = o.heads;
      p.head_dim = kHeadDim;
      p.causal = causal;
      RM_ASSIGN_OR_RETURN(
          const double seconds,
          time_per_call([&] { return attention::launch_attend_block(p, nullptr); }, o.min_seconds));
      const double flops =
          4.0 * static_cast<double>(L) * L * kHeadDim * o.heads * (causal ? 0.5 : 1.0);
      const double tflops = flops / seconds / 1e12;
      std::printf("%8lld %7s %10.3f %9.1f %8.2f\n", static_cast<long long>(L),
                  causal ? "yes" : "no", seconds * 1e3, tflops, tflops / gemm_rate);
      std::fflush(stdout);
    }
  }
  return ok_status();
}

}  // namespace
}  // namespace ringmaster::bench

int main(int argc, char** argv) {
  ringmaster::bench::Options options;
  if (!ringmaster::bench::parse(argc, argv, options)) {
    std::fprintf(stderr, "usage: %s [--min-time SECONDS] [--heads H] [--lengths L1,L2,...]\n",
                 argv[0]);
    return 2;
  }
  if (!ringmaster::cuda_device_available()) {
    std::fprintf(stderr, "no CUDA device visible\n");
    return 1;
  }
  const ringmaster::Status s = ringmaster::bench::run(options);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return 1;
  }
  return 0;
}
