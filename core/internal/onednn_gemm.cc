#include "core/internal/onednn_gemm.h"

#include <map>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>

#include "core/check.h"

// GCC's OpenMP runtime (libgomp), which Debian's oneDNN runs on; declared here rather than
// through <omp.h> so no compiler's OpenMP mode (or LLVM's runtime under clang) is involved.
extern "C" {
int omp_get_max_threads();
void omp_set_num_threads(int threads);
}

namespace ringmaster::internal {
namespace {

using dnnl::memory;

// Everything a matmul primitive is specialised on.
using ShapeKey =
    std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, float, float, int>;

ShapeKey key_of(const CpuGemmParams& p) {
  return {p.m, p.n, p.k, p.lda, p.ldb, p.ldc, p.trans_a, p.trans_b, p.alpha, p.beta, p.threads};
}

// A primitive and memory objects whose data handles are swapped per call; `prim` is empty when
// oneDNN has no implementation for this shape and CPU.
struct Entry {
  std::unique_ptr<dnnl::matmul> prim;
  memory a, b, c;
  std::string impl;
};

struct ThreadState {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<ShapeKey, Entry> cache;
};

// Tile kernels see few shapes; a job with unusual block sizes could see more, so the cache is
// bounded (rebuilding is only slow, never wrong).
constexpr size_t kMaxCachedShapes = 512;

ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}

// op(A) [m, k] over A as stored: a transposed operand is a strided view, no copy.
memory::desc operand_desc(int64_t rows, int64_t cols, int64_t ld, bool trans,
                          memory::data_type type) {
  return memory::desc({rows, cols}, type, trans ? memory::dims{1, ld} : memory::dims{ld, 1});
}

Entry build(const CpuGemmParams& p, const dnnl::engine& engine) {
  using dt = memory::data_type;
  const memory::desc a_md = operand_desc(p.m, p.k, p.lda, p.trans_a, dt::bf16);
  const memory::desc b_md = operand_desc(p.k, p.n, p.ldb, p.trans_b, dt::bf16);
  const memory::desc c_md({p.m, p.n}, dt::f32, memory::dims{p.ldc, 1});
  dnnl::primitive_attr attr;
  if (p.alpha != 1.0f) attr.set_output_scales(0, {p.alpha});
  if (p.beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(p.beta);  // C = alpha A B + beta C
    attr.set_post_ops(ops);
  }
  Entry entry;
  try {
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine);
    entry.prim = std::make_unique<dnnl::matmul>(pd);
    entry.impl = pd.impl_info_str();
  } catch (const dnnl::error& e) {
    entry.impl = e.what();
    return entry;
  }
  entry.a = memory(a_md, engine, DNNL_MEMORY_NONE);
  entry.b = memory(b_md, engine, DNNL_MEMORY_NONE);
  entry.c = memory(c_md, engine, DNNL_MEMORY_NONE);
  return entry;
}

// oneDNN runs on OpenMP threads: the calling thread plus (threads - 1). The setting is per
// calling thread, so pool threads asking for 1 never oversubscribe the cores.
void set_threads(int threads) {
  if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
}

Entry& entry_for(const CpuGemmParams& p) {
  ThreadState& state = thread_state();
  const ShapeKey key = key_of(p);
  auto it = state.cache.find(key);
  if (it != state.cache.end()) return it->second;
  if (state.cache.size() >= kMaxCachedShapes) state.cache.clear();
  return state.cache.emplace(key, build(p, state.engine)).first->second;
}

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni (bf16 emulated)";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core (bf16 emulated)";
    case dnnl::cpu_isa::avx2_vnni:
    case dnnl::cpu_isa::avx2:
      return "avx2";
    default:
      return "older than avx2";
  }
}

}  // namespace

void onednn_sgemm(const CpuGemmParams& p, const float* a, int64_t lda, const float* b,
                  int64_t ldb) {
  set_threads(p.threads);
  // dnnl_sgemm is row-major, like cblas with CblasRowMajor.
  const dnnl_status_t status = dnnl_sgemm(p.trans_a ? 'T' : 'N', p.trans_b ? 'T' : 'N', p.m, p.n,
                                          p.k, p.alpha, a, lda, b, ldb, p.beta, p.c, p.ldc);
  RM_CHECK(status == dnnl_success) << "dnnl_sgemm failed (" << static_cast<int>(status) << ") on "
                                   << p.m << "x" << p.n << "x" << p.k;
}

bool onednn_bf16_gemm(const CpuGemmParams& p) {
  set_threads(p.threads);
  Entry& entry = entry_for(p);
  if (!entry.prim) return false;
  // oneDNN takes non-const handles for every argument; it only reads A and B.
  entry.a.set_data_handle(const_cast<void*>(p.a));
  entry.b.set_data_handle(const_cast<void*>(p.b));
  entry.c.set_data_handle(p.c);
  ThreadState& state = thread_state();
  entry.prim->execute(
      state.stream,
      {{DNNL_ARG_SRC, entry.a}, {DNNL_ARG_WEIGHTS, entry.b}, {DNNL_ARG_DST, entry.c}});
  state.stream.wait();
  return true;
}

std::string onednn_bf16_description() {
  // The attention kernel's Q K^T tile: 256 queries, 512 keys, head_dim 128, K transposed.
  CpuGemmParams p{.dtype = DType::kBf16,
                  .m = 256,
                  .n = 512,
                  .k = 128,
                  .lda = 128,
                  .ldb = 128,
                  .ldc = 512,
                  .trans_b = true};
  set_threads(1);
  const Entry& entry = entry_for(p);
  std::string out =
      entry.prim ? "onednn matmul " : "onednn sgemm on bf16 widened to f32 (no bf16 matmul: ";
  out.append(entry.impl);
  out.append(entry.prim ? ", isa " : "), isa ");
  out.append(isa_name(dnnl::get_effective_cpu_isa()));
  return out;
}

}  // namespace ringmaster::internal
