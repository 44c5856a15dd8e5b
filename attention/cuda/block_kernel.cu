// The attention block kernel: flash-attention tiling on WMMA tensor cores (block_kernel.cuh).
//
// One thread block owns kBlockQ = 64 query rows of one head; each of its 4 warps owns 16 rows.
// Key/value tiles of kBlockK = 64 rows stream through shared memory; per tile and warp:
//   S = Q K^T                      16 x 64, tensor cores, f32 accumulators, stored to smem
//   m' = max(m, rowmax(S)),  P = 2^(S - m'),  l = 2^(m - m') l + rowsum(P)     (f32, per row)
//   O  = 2^(m - m') O + P V        P rounded to the input type, O in f32 accumulator registers
// with S pre-scaled by log2(e) / sqrt(head_dim), so m and l are base-2 and the natural-log lse is
// (m + log2 l) ln 2 at the end. Invariant after each tile: O / l is the softmax-weighted mean of
// the values seen so far and m their largest scaled score (-inf while every key was hidden).
// Memory is O(tile): no [q_len, kv_len] buffer exists anywhere.
//
// WMMA does not document which accumulator element a lane holds, but rescaling O by a per-row
// factor needs each element's row. Each warp therefore learns the map once, at the start: it
// loads a 16x16 tile whose entries are their own row numbers into an accumulator fragment, so
// element i of any accumulator fragment of this lane lies in row row_of[i].
//
// Masks are policy types (mask_policy.cuh): NoMask (one sequence, nothing hidden: only the key
// tail is masked) and PositionMask (attention/masks.h's rules from global positions and sequence
// ids). PositionMask also skips key tiles the mask hides from the whole query tile, as
// classify_tile does on the CPU, so causal attention does about half the work.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_pipeline_primitives.h>
#include <mma.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "attention/cuda/block_kernel.cuh"
#include "attention/cuda/mask_policy.cuh"
#include "core/cuda/cuda_status.h"

namespace ringmaster::attention {
namespace {

namespace wmma = nvcuda::wmma;
using kernel::Extent;
using kernel::NoMask;
using kernel::PositionMask;
using kernel::tile_hidden;

constexpr int kWarpSize = 32;
constexpr int kWarps = 4;
constexpr int kThreads = kWarpSize * kWarps;
constexpr int kRowsPerWarp = 16;                // one WMMA tile of rows
constexpr int kBlockQ = kWarps * kRowsPerWarp;  // query rows per thread block
constexpr int kBlockK = 64;                     // keys per streamed tile
constexpr int kColsPerLane = kBlockK / 2;
// Three blocks (12 warps) per SM hide more load latency than two; this caps registers at 168
// per thread, and the shared-memory layout below is sized so three blocks fit (~70 KB each).
constexpr int kMinBlocksPerSm = 3;  // two lanes share a score row
constexpr unsigned kFullMask = 0xffffffffu;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr int64_t kMaxGridY = 65535;

// Shared-memory layout for one element type and head_dim. Rows are padded so WMMA's leading
// dimensions stay multiples of 16 bytes while consecutive rows start in different banks.
constexpr size_t align128(size_t bytes) { return (bytes + 127) / 128 * 128; }

template <typename T, int kD>
struct Layout {
  static constexpr int kLdT = kD + 8;       // q, k, v rows (16-bit elements)
  static constexpr int kLdS = kBlockK + 4;  // score rows (f32)
  static constexpr int kLdP = kBlockK + 8;  // probability rows (16-bit)
  static constexpr int kLdO = kD + 4;       // output rows (f32), staged once at the end
  // Q is dead once each warp holds it in fragments, so P reuses its space; K and V are dead after
  // the key loop, so the output is staged in theirs. Smaller blocks: more of them per SM.
  static constexpr size_t kQ = 0;
  static constexpr size_t kP = kQ;
  static constexpr size_t kK = align128(kQ + sizeof(T) * kBlockQ * kLdT);
  static constexpr size_t kO = kK;
  static constexpr size_t kV = align128(kK + sizeof(T) * kBlockK * kLdT);
  static constexpr size_t kS = align128(kV + sizeof(T) * kBlockK * kLdT);
  static constexpr size_t kKPos = align128(kS + sizeof(float) * kBlockQ * kLdS);
  static constexpr size_t kKSeq = align128(kKPos + sizeof(int64_t) * kBlockK);
  static constexpr size_t kSkip = align128(kKSeq + sizeof(int32_t) * kBlockK);
  static constexpr size_t kBytes = align128(kSkip + 2 * sizeof(int));
  static_assert(sizeof(T) * kBlockQ * kLdP <= kK - kQ, "P must fit in Q's space");
  static_assert(sizeof(float) * kBlockQ * kLdO <= kS - kK, "O must fit in K's and V's space");
};

template <typename T>
__device__ T from_float(float x);
template <>
__device__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}

// After this every lane holds the warp-wide extent.
__device__ Extent warp_reduce(Extent e) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    e.min_pos = min(e.min_pos, __shfl_xor_sync(kFullMask, e.min_pos, offset));
    e.max_pos = max(e.max_pos, __shfl_xor_sync(kFullMask, e.max_pos, offset));
    e.min_seq = min(e.min_seq, __shfl_xor_sync(kFullMask, e.min_seq, offset));
    e.max_seq = max(e.max_seq, __shfl_xor_sync(kFullMask, e.max_seq, offset));
  }
  return e;
}

// ---- tile loads ---------------------------------------------------------------------------------

// Copies rows [row0, row0 + rows) of head `head` from `src` ([len, heads, kD]) into `dst` (rows
// of ld kLdT), 16 bytes per thread and step; rows at or past `len` are zero-filled (plain stores)
// so the tail of a tile contributes exact zeros (and never NaN garbage) to the products.
// kAsync copies with cp.async: the rows land once this thread has passed __pipeline_wait_prior
// for the group committed after this call, and are visible to the block after the __syncthreads
// that follows.
template <typename T, int kD, int kRows, bool kAsync = false>
__device__ void load_rows(T* dst, const T* src, int64_t row0, int64_t len, int heads, int head) {
  constexpr int kChunksPerRow = kD * static_cast<int>(sizeof(T)) / 16;
  constexpr int kLdT = Layout<T, kD>::kLdT;
  for (int i = static_cast<int>(threadIdx.x); i < kRows * kChunksPerRow; i += kThreads) {
    const int r = i / kChunksPerRow;
    const int c = i % kChunksPerRow;
    const int64_t row = row0 + r;
    uint4* to = reinterpret_cast<uint4*>(dst + r * kLdT) + c;
    if (row >= len) {
      *to = make_uint4(0, 0, 0, 0);
      continue;
    }
    const uint4* from = reinterpret_cast<const uint4*>(src + (row * heads + head) * kD) + c;
    if constexpr (kAsync) {
      __pipeline_memcpy_async(to, from, sizeof(uint4));
    } else {
      *to = *from;
    }
  }
}

// ---- the kernel ---------------------------------------------------------------------------------

template <typename T, int kD, typename Mask>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    attend_kernel(const AttendParams p, float scale_log2) {
  using L = Layout<T, kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  T* s_q = reinterpret_cast<T*>(smem + L::kQ);
  T* s_k = reinterpret_cast<T*>(smem + L::kK);
  T* s_v = reinterpret_cast<T*>(smem + L::kV);
  int64_t* s_kpos = reinterpret_cast<int64_t*>(smem + L::kKPos);
  int32_t* s_kseq = reinterpret_cast<int32_t*>(smem + L::kKSeq);
  int* s_skip = reinterpret_cast<int*>(smem + L::kSkip);

  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  // Later query tiles first: under a causal mask they see the most keys, so the long blocks
  // start early and the short ones fill the tail of the grid.
  const int64_t q0 = (static_cast<int64_t>(gridDim.x) - 1 - blockIdx.x) * kBlockQ;
  const int head = static_cast<int>(blockIdx.y);
  const int kv_head = head / (p.n_heads / p.n_kv_heads);
  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);

  // This warp's slices of the score, probability and output tiles.
  float* s_s = reinterpret_cast<float*>(smem + L::kS) + warp * kRowsPerWarp * L::kLdS;
  T* s_p = reinterpret_cast<T*>(smem + L::kP) + warp * kRowsPerWarp * L::kLdP;
  float* s_o = reinterpret_cast<float*>(smem + L::kO) + warp * kRowsPerWarp * L::kLdO;

  load_rows<T, kD, kBlockQ>(s_q, q, q0, p.q_len, p.n_heads, head);

  // The accumulator fragments' row map (see the top of this file), through this warp's S slice.
  using Accumulator = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
  int row_of[Accumulator::num_elements];
  {
    for (int i = lane; i < 16 * 16; i += kWarpSize) s_s[(i / 16) * L::kLdS + i % 16] = i / 16;
    __syncwarp();
    Accumulator rows;
    wmma::load_matrix_sync(rows, s_s, L::kLdS, wmma::mem_row_major);
    for (int i = 0; i < Accumulator::num_elements; ++i) row_of[i] = static_cast<int>(rows.x[i]);
    __syncwarp();  // read before the first S tile overwrites the slice
  }
  Accumulator o_frag[kD / 16];
  for (int n = 0; n < kD / 16; ++n) wmma::fill_fragment(o_frag[n], 0.0f);

  // Softmax state: lanes 2r and 2r+1 share row r of this warp's 16 and hold identical copies.
  // Each lane owns the interleaved columns 2j + half, which spreads the pair over banks.
  const int r_local = lane / 2;
  const int half = lane % 2;
  const int64_t q_idx = q0 + warp * kRowsPerWarp + r_local;
  const typename Mask::Row mask_row = Mask::row(p, q_idx);
  float m = -INFINITY;  // running max of scaled scores (base 2)
  float l = 0.0f;       // running sum of 2^(s - m)

  Extent q_extent;  // meaningful in warp 0 only
  if constexpr (Mask::kUsesPositions) {
    if (warp == 0) {
      for (int i = lane; i < kBlockQ; i += kWarpSize) {
        const int64_t row = q0 + i;
        if (row < p.q_len) q_extent.include(p.q_pos[row], p.q_seq ? p.q_seq[row] : 0);
      }
      q_extent = warp_reduce(q_extent);
    }
  }
  __syncthreads();

  // Q stays in registers for the whole key loop.
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> q_frag[kD / 16];
  for (int kk = 0; kk < kD / 16; ++kk) {
    wmma::load_matrix_sync(q_frag[kk], s_q + warp * kRowsPerWarp * L::kLdT + kk * 16, L::kLdT);
  }
  __syncthreads();  // every warp holds its Q before any warp writes P over it

  const int64_t num_k_tiles = (p.kv_len + kBlockK - 1) / kBlockK;
  for (int64_t kt = 0; kt < num_k_tiles; ++kt) {
    const int64_t k0 = kt * kBlockK;
    if constexpr (Mask::kUsesPositions) {
      // Warp 0 stages the tile's positions and decides whether the mask hides all of it. The
      // flag alternates between two slots: a warp still reading last tile's slot is never
      // overwritten, since warp 0 cannot pass the next __syncthreads before it.
      if (warp == 0) {
        Extent k_extent;
        for (int i = lane; i < kBlockK; i += kWarpSize) {
          const int64_t key = k0 + i;
          const int64_t pos = key < p.kv_len ? p.k_pos[key] : 0;
          const int32_t seq = key < p.kv_len && p.k_seq ? p.k_seq[key] : 0;
          s_kpos[i] = pos;
          s_kseq[i] = seq;
          if (key < p.kv_len) k_extent.include(pos, seq);
        }
        k_extent = warp_reduce(k_extent);
        if (lane == 0) s_skip[kt % 2] = tile_hidden(p, q_extent, k_extent) ? 1 : 0;
      }
      __syncthreads();
      if (s_skip[kt % 2]) continue;  // block-uniform
    }
    // K and V are copied asynchronously, as two groups: S and the softmax need only K, so V's
    // copy overlaps them.
    load_rows<T, kD, kBlockK, true>(s_k, k, k0, p.kv_len, p.n_kv_heads, kv_head);
    __pipeline_commit();
    load_rows<T, kD, kBlockK, true>(s_v, v, k0, p.kv_len, p.n_kv_heads, kv_head);
    __pipeline_commit();
    __pipeline_wait_prior(1);  // this thread's K copies have landed...
    __syncthreads();           // ...and every thread's

    // S = Q K^T: K rows in smem read as a column-major K^T.
    for (int n = 0; n < kBlockK / 16; ++n) {
      Accumulator acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int kk = 0; kk < kD / 16; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> k_frag;
        wmma::load_matrix_sync(k_frag, s_k + n * 16 * L::kLdT + kk * 16, L::kLdT);
        wmma::mma_sync(acc, q_frag[kk], k_frag, acc);
      }
      wmma::store_matrix_sync(s_s + n * 16, acc, L::kLdS, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax for row r_local, this lane's 32 columns.
    // The masked, scaled scores go back in place (each lane rewrites only its own columns), not
    // into a register array: registers are the kernel's scarcest resource.
    float* s_row = s_s + r_local * L::kLdS;
    float tile_max = -INFINITY;
    for (int j = 0; j < kColsPerLane; ++j) {
      const int col = 2 * j + half;
      const bool visible = k0 + col < p.kv_len && Mask::visible(mask_row, s_kpos, s_kseq, col);
      const float score = visible ? s_row[col] * scale_log2 : -INFINITY;
      s_row[col] = score;
      tile_max = fmaxf(tile_max, score);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(kFullMask, tile_max, 1));
    const float m_new = fmaxf(m, tile_max);
    // alpha = 2^(m - m'); guarded so a row hidden so far never computes (-inf) - (-inf).
    const float alpha = m == -INFINITY ? 0.0f : exp2f(m - m_new);
    T* p_row = s_p + r_local * L::kLdP;
    float tile_sum = 0.0f;
    for (int j = 0; j < kColsPerLane; ++j) {
      const float prob = m_new == -INFINITY ? 0.0f : exp2f(s_row[2 * j + half] - m_new);
      tile_sum += prob;
      p_row[2 * j + half] = from_float<T>(prob);
    }
    tile_sum += __shfl_xor_sync(kFullMask, tile_sum, 1);
    l = l * alpha + tile_sum;
    m = m_new;
    // O = alpha O, row by row: element i's row is row_of[i], whose alpha lanes 2 row_of[i] and
    // 2 row_of[i] + 1 hold.
    float alpha_of[Accumulator::num_elements];
    for (int i = 0; i < Accumulator::num_elements; ++i) {
      alpha_of[i] = __shfl_sync(kFullMask, alpha, 2 * row_of[i]);
    }
    for (int n = 0; n < kD / 16; ++n) {
      for (int i = 0; i < Accumulator::num_elements; ++i) o_frag[n].x[i] *= alpha_of[i];
    }
    __pipeline_wait_prior(0);  // this thread's V copies have landed...
    __syncthreads();           // ...and every thread's; P (warp-local) is written too

    // O += P V.
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> p_frag[kBlockK / 16];
    for (int kk = 0; kk < kBlockK / 16; ++kk) {
      wmma::load_matrix_sync(p_frag[kk], s_p + kk * 16, L::kLdP);
    }
    for (int n = 0; n < kD / 16; ++n) {
      for (int kk = 0; kk < kBlockK / 16; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> v_frag;
        wmma::load_matrix_sync(v_frag, s_v + kk * 16 * L::kLdT + n * 16, L::kLdT);
        wmma::mma_sync(o_frag[n], p_frag[kk], v_frag, o_frag[n]);
      }
    }
    // Every warp is done with this K/V tile (and its positions) before the next overwrites it,
    // and before any warp stages its output over K and V after the last tile.
    __syncthreads();
  }

  // out = O / l, lse = (m + log2 l) ln 2; a row that saw no key has l = 0: out 0, lse -inf.
  // O goes through shared memory (K's and V's space: every warp has left the key loop, whose
  // last iteration ends in __syncthreads) so rows past q_len are never written to global.
  const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
  float inv_of[Accumulator::num_elements];
  for (int i = 0; i < Accumulator::num_elements; ++i) {
    inv_of[i] = __shfl_sync(kFullMask, inv_l, 2 * row_of[i]);
  }
  for (int n = 0; n < kD / 16; ++n) {
    for (int i = 0; i < Accumulator::num_elements; ++i) o_frag[n].x[i] *= inv_of[i];
    wmma::store_matrix_sync(s_o + n * 16, o_frag[n], L::kLdO, wmma::mem_row_major);
  }
  __syncwarp();
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int64_t row = q0 + warp * kRowsPerWarp + rr;
    if (row >= p.q_len) break;  // warp-uniform
    float* dst = p.out + (row * p.n_heads + head) * kD;
    for (int c = lane; c < kD; c += kWarpSize) dst[c] = s_o[rr * L::kLdO + c];
  }
  if (half == 0 && q_idx < p.q_len) {
    p.lse[q_idx * p.n_heads + head] = l > 0.0f ? (m + log2f(l)) * kLn2 : -INFINITY;
  }
}

// ---- dispatch -----------------------------------------------------------------------------------

template <typename T, int kD, typename Mask>
Status launch_typed(const AttendParams& p, cudaStream_t stream) {
  constexpr size_t kBytes = Layout<T, kD>::kBytes;
  const auto kernel = attend_kernel<T, kD, Mask>;
  RM_RETURN_IF_ERROR(cuda_status(cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kBytes))));
  const dim3 grid(static_cast<unsigned>((p.q_len + kBlockQ - 1) / kBlockQ),
                  static_cast<unsigned>(p.n_heads));
  const float scale_log2 = kLog2e / sqrtf(static_cast<float>(kD));
  kernel<<<grid, kThreads, kBytes, stream>>>(p, scale_log2);
  return cuda_status(cudaGetLastError()).with_context("launch_attend_block");
}

template <typename T, int kD>
Status launch_masked(const AttendParams& p, cudaStream_t stream) {
  const bool one_sequence = p.q_seq == nullptr && p.k_seq == nullptr;
  if (!p.causal && p.window == 0 && p.group == 0 && one_sequence) {
    return launch_typed<T, kD, NoMask>(p, stream);
  }
  return launch_typed<T, kD, PositionMask>(p, stream);
}

// Runtime dtype -> element type, once; `f` is a template lambda `[&]<typename T>() -> Status`.
template <typename F>
Status visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kBf16:
      return f.template operator()<__nv_bfloat16>();
    case DType::kF16:
      return f.template operator()<__half>();
    default:
      return invalid_argument(std::string("launch_attend_block: dtype ") + dtype_name(dtype) +
                              " (bf16 or f16)");
  }
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

Status check_params(const AttendParams& p) {
  const auto bad = [](const std::string& what) {
    return invalid_argument("launch_attend_block: " + what);
  };
  if (p.head_dim != 64 && p.head_dim != 128) {
    return bad("head_dim " + std::to_string(p.head_dim) + " (64 or 128)");
  }
  if (p.q_len < 0 || p.kv_len < 0) {
    return bad("q_len " + std::to_string(p.q_len) + ", kv_len " + std::to_string(p.kv_len));
  }
  if (p.n_heads <= 0 || p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads != 0 ||
      p.n_heads > kMaxGridY) {
    return bad("n_heads " + std::to_string(p.n_heads) + ", n_kv_heads " +
               std::to_string(p.n_kv_heads));
  }
  if (p.window < 0 || p.group < 0) {
    return bad("window " + std::to_string(p.window) + ", group " + std::to_string(p.group));
  }
  if (p.dtype != DType::kBf16 && p.dtype != DType::kF16) {
    return bad(std::string("dtype ") + dtype_name(p.dtype) + " (bf16 or f16)");
  }
  if (p.q_len == 0) return ok_status();
  if (!p.q || !p.q_pos || !p.out || !p.lse) return bad("null q, q_pos, out or lse");
  if (p.kv_len > 0 && (!p.k || !p.v || !p.k_pos)) return bad("null k, v or k_pos");
  if (!aligned16(p.q) || !aligned16(p.k) || !aligned16(p.v)) {
    return bad("q, k and v must be 16-byte aligned");
  }
  return ok_status();
}

// f32 <-> bf16/f16 element conversion, bit for bit as core/dtype.cc's host functions.
__device__ uint16_t narrow_bits(float x, DType dtype) {
  const uint32_t bits = __float_as_uint(x);
  if (dtype == DType::kBf16) {
    if (isnan(x)) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // keep it a NaN
    return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
  if (isnan(x)) return static_cast<uint16_t>(((bits >> 16) & 0x8000u) | 0x7e00u);
  return __half_as_ushort(__float2half_rn(x));
}

__device__ float widen_bits(uint16_t bits, DType dtype) {
  if (dtype == DType::kBf16) return __uint_as_float(uint32_t{bits} << 16);
  return __half2float(__ushort_as_half(bits));
}

__global__ void convert_kernel(const void* src, DType src_dtype, void* dst, DType dst_dtype,
                               int64_t count) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    if (src_dtype == DType::kF32) {
      static_cast<uint16_t*>(dst)[i] = narrow_bits(static_cast<const float*>(src)[i], dst_dtype);
    } else {
      static_cast<float*>(dst)[i] = widen_bits(static_cast<const uint16_t*>(src)[i], src_dtype);
    }
  }
}

}  // namespace

Status launch_attend_block(const AttendParams& p, cudaStream_t stream) {
  RM_RETURN_IF_ERROR(check_params(p));
  if (p.q_len == 0) return ok_status();
  return visit_dtype(p.dtype, [&]<typename T>() -> Status {
    // The only instantiations: {bf16, f16} x {64, 128} x {NoMask, PositionMask}.
    return p.head_dim == 64 ? launch_masked<T, 64>(p, stream) : launch_masked<T, 128>(p, stream);
  });
}

Status launch_convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t count,
                      cudaStream_t stream) {
  const auto narrow = [](DType d) { return d == DType::kBf16 || d == DType::kF16; };
  const bool ok_pair = (src_dtype == DType::kF32 && narrow(dst_dtype)) ||
                       (narrow(src_dtype) && dst_dtype == DType::kF32);
  if (!ok_pair || count < 0) {
    return invalid_argument(std::string("launch_convert: ") + dtype_name(src_dtype) + " -> " +
                            dtype_name(dst_dtype) + ", count " + std::to_string(count) +
                            " (f32 <-> bf16 or f16)");
  }
  if (count == 0) return ok_status();
  if (!src || !dst) return invalid_argument("launch_convert: null device pointer");
  constexpr int kConvertThreads = 256;
  constexpr int64_t kMaxBlocks = int64_t{1} << 16;  // beyond this, threads loop
  const int64_t blocks = (count + kConvertThreads - 1) / kConvertThreads;
  convert_kernel<<<static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks),
                   kConvertThreads, 0, stream>>>(src, src_dtype, dst, dst_dtype, count);
  return cuda_status(cudaGetLastError()).with_context("launch_convert");
}

}  // namespace ringmaster::attention
