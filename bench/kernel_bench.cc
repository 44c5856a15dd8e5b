#include "bench/kernel_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "attention/attention.h"
#include "bench/gemm_rate.h"
#include "core/gemm.h"
#include "core/process_memory.h"
#include "core/stopwatch.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace ringmaster::bench {
namespace {

using Clock = std::chrono::steady_clock;

Tensor random_tensor(Shape shape, std::mt19937& rng) {
  Tensor t = Tensor::empty(std::move(shape), DType::kF32);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  float* data = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) data[i] = normal(rng);
  return t;
}

// Best-of-`repeats` rate of the attention kernel's two products as whole-block bf16 GEMMs, the
// shapes of issue 20's measurement: S = Q K^T ([l, d] x [d, l]) and O = P V ([l, l] x [l, d]),
// l = min(length, 4096) so S stays 64 MiB, on `threads` library threads.
double bf16_attention_gemm_gflops(int threads, int64_t length, int64_t head_dim, int repeats) {
  const int64_t l = std::min<int64_t>(length, 4096), d = head_dim;
  std::mt19937 rng(11);
  const Tensor q = narrow_to(random_tensor({l, d}, rng), DType::kBf16);
  const Tensor k = narrow_to(random_tensor({l, d}, rng), DType::kBf16);
  const Tensor v = narrow_to(random_tensor({l, d}, rng), DType::kBf16);
  const Tensor p = narrow_to(random_tensor({l, l}, rng), DType::kBf16);
  Tensor s = Tensor::empty({l, l}, DType::kF32), o = Tensor::empty({l, d}, DType::kF32);
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    cpu_gemm({.a = q.raw(),
              .b = k.raw(),
              .c = s.data<float>(),
              .dtype = DType::kBf16,
              .m = l,
              .n = l,
              .k = d,
              .lda = d,
              .ldb = d,
              .ldc = l,
              .trans_b = true,
              .threads = threads});
    cpu_gemm({.a = p.raw(),
              .b = v.raw(),
              .c = o.data<float>(),
              .dtype = DType::kBf16,
              .m = l,
              .n = d,
              .k = l,
              .lda = l,
              .ldb = d,
              .ldc = d,
              .threads = threads});
    best = std::min(best, seconds_since(start));
  }
  return 4.0 * static_cast<double>(l * l * d) / best / 1e9;
}

struct KernelRun {
  double seconds;
  double peak_rss_mib, baseline_rss_mib, inputs_mib;
};

StatusOr<KernelRun> time_kernel(int64_t length, int64_t head_dim, bool causal, int threads,
                                int repeats, DType compute) {
  reset_peak_rss();
  KernelRun run{};
  run.baseline_rss_mib = current_rss_mib();
  std::mt19937 rng(static_cast<unsigned>(length + head_dim));
  const Tensor q = random_tensor({length, 1, head_dim}, rng);
  const Tensor k = random_tensor({length, 1, head_dim}, rng);
  const Tensor v = random_tensor({length, 1, head_dim}, rng);
  run.inputs_mib = static_cast<double>(q.bytes() + k.bytes() + v.bytes()) / (1 << 20);
  std::vector<int64_t> pos(static_cast<size_t>(length));
  for (int64_t i = 0; i < length; ++i) pos[static_cast<size_t>(i)] = i;
  const attention::Positions positions{pos, {}};
  const attention::MaskSpec mask{.causal = causal};
  ThreadPool pool(threads);
  attention::BlockResult result = attention::make_empty_result(length, 1, head_dim);
  run.seconds = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    RM_RETURN_IF_ERROR(attention::attend_block_into(q, k, v, positions, positions, mask, pool,
                                                    result, {}, compute));
    run.seconds = std::min(run.seconds, seconds_since(start));
  }
  run.peak_rss_mib = peak_rss_mib();
  return run;
}

double attention_gflop(int64_t length, int64_t head_dim, bool causal) {
  const double flop = 4.0 * static_cast<double>(length) * static_cast<double>(length) *
                      static_cast<double>(head_dim);
  return (causal ? flop / 2 : flop) / 1e9;
}

void print_row(const KernelBenchRow& r) {
  std::printf("%7lld %8lld %6s %7d %12.1f %12.1f %12.1f %6.2f %10.1f\n",
              static_cast<long long>(r.L), static_cast<long long>(r.head_dim),
              r.causal ? "yes" : "no", r.threads, r.kernel_gflops, r.sgemm_gflops, r.gemm_gflops,
              r.kernel_gflops / r.gemm_gflops, r.peak_rss_mib);
  std::fflush(stdout);
}

}  // namespace

StatusOr<std::vector<KernelBenchRow>> run_kernel_bench(const KernelBenchOptions& options) {
  RM_ASSIGN_OR_RETURN(const DType compute, parse_dtype(options.dtype));
  if (compute != DType::kF32 && compute != DType::kBf16) {
    return invalid_argument("bench kernel: --dtype is f32 or bf16, not " + options.dtype);
  }
  const bool bf16 = compute == DType::kBf16;
  std::vector<KernelBenchRow> rows;
  if (!options.quiet) {
    std::printf("dtype %s: products through %s; gemm_GF/s is %s\n", dtype_name(compute),
                cpu_gemm_path(compute).c_str(),
                bf16 ? "the same bf16 GEMM on Q K^T and P V of min(L, 4096) rows"
                     : "the same f32 GEMM at n = 2048");
    std::printf("%7s %8s %6s %7s %12s %12s %12s %6s %10s\n", "L", "head_dim", "causal", "threads",
                "kernel_GF/s", "sgemm_GF/s", "gemm_GF/s", "ratio", "peak_MiB");
  }
  for (int threads : options.threads) {
    const double sgemm = square_gemm_gflops(DType::kF32, threads);
    for (int64_t length : options.lengths) {
      for (int64_t head_dim : options.head_dims) {
        const double reference =
            bf16 ? bf16_attention_gemm_gflops(threads, length, head_dim, 3) : sgemm;
        for (bool causal : options.causal) {
          // Short rows repeat so the best run is not one disturbed by a neighbour.
          const int repeats = length <= 4096 ? 3 : 1;
          RM_ASSIGN_OR_RETURN(KernelRun run,
                              time_kernel(length, head_dim, causal, threads, repeats, compute));
          KernelBenchRow row{length,
                             head_dim,
                             causal,
                             threads,
                             run.seconds,
                             attention_gflop(length, head_dim, causal) / run.seconds,
                             sgemm,
                             reference,
                             run.peak_rss_mib,
                             run.baseline_rss_mib,
                             run.inputs_mib};
          if (!options.quiet) print_row(row);
          rows.push_back(row);
        }
      }
    }
  }
  if (options.rss_length > 0) {
    const int threads = *std::max_element(options.threads.begin(), options.threads.end());
    RM_ASSIGN_OR_RETURN(KernelRun run, time_kernel(options.rss_length, options.rss_head_dim,
                                                   /*causal=*/true, threads, 1, compute));
    const double sgemm = square_gemm_gflops(DType::kF32, threads);
    KernelBenchRow row{
        options.rss_length,
        options.rss_head_dim,
        true,
        threads,
        run.seconds,
        attention_gflop(options.rss_length, options.rss_head_dim, true) / run.seconds,
        sgemm,
        bf16 ? bf16_attention_gemm_gflops(threads, options.rss_length, options.rss_head_dim, 1)
             : sgemm,
        run.peak_rss_mib,
        run.baseline_rss_mib,
        run.inputs_mib};
    if (!options.quiet) {
      print_row(row);
      std::printf(
          "memory row: peak %.1f MiB = baseline %.1f + inputs %.1f + %.1f MiB "
          "(output, lse and tiles; the budget is 64 MiB)\n",
          row.peak_rss_mib, row.baseline_rss_mib, row.inputs_mib,
          row.peak_rss_mib - row.baseline_rss_mib - row.inputs_mib);
    }
    rows.push_back(row);
  }
  if (!options.json_path.empty()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows) {
      out.push_back({{"L", r.L},
                     {"head_dim", r.head_dim},
                     {"causal", r.causal},
                     {"threads", r.threads},
                     {"kernel_seconds", r.kernel_seconds},
                     {"kernel_gflops", r.kernel_gflops},
                     {"sgemm_gflops", r.sgemm_gflops},
                     {"dtype", options.dtype},
                     {"gemm_gflops", r.gemm_gflops},
                     {"ratio", r.kernel_gflops / r.gemm_gflops},
                     {"peak_rss_mib", r.peak_rss_mib},
                     {"baseline_rss_mib", r.baseline_rss_mib},
                     {"inputs_mib", r.inputs_mib}});
    }
    std::ofstream file(options.json_path);
    file << out.dump(2) << "\n";
    if (!file) return data_loss(options.json_path + ": write failed");
  }
  return rows;
}

}  // namespace ringmaster::bench
