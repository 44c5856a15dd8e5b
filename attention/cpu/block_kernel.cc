// The CPU block kernel: FlashAttention's tiling with a host GEMM (core/gemm.h) for both tile
// products.
//
// For one (query tile, head) task, with running row state (m, l) and accumulator O:
//   for each key tile the mask does not hide entirely:
//     S = (Q_t K_j^T) / sqrt(head_dim)             gemm, [tq, tk], f32 out
//     S[r][c] = -inf where the mask hides (r, c)   only on tiles the mask cuts
//     S = exp(S - m_new), corr = exp(m - m_new)    softmax_rows, f32
//     O = corr * O + S V_j                         gemm, beta = 1 after the row rescale
//   out = O / l,  lse = m + ln l                   (l = 0: out = 0, lse = -inf)
// Memory per thread is one [tq, tk] score tile and one [tq, head_dim] accumulator: O(tile).
// The products' inputs are f32 or, in bf16 compute, bf16: each task loads its Q tile and each
// K, V tile of its head into contiguous bf16 scratch (copying bf16 inputs, rounding f32 ones to
// nearest even); the softmax pass rounds the probabilities P; S, softmax, O and lse stay f32.
// Converting per tile costs O(tile) memory (a whole-tensor copy would cost O(n) per call);
// producers that can (the window and local mixers) hand over bf16 rows, rounded once.
// Why library GEMMs and not our own SIMD microkernel: OpenBLAS's and oneDNN's packed kernels
// already run near the core's FMA / BF16-dot peak, so the kernel's ceiling is their rate; bench
// kernel reports the ratio.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/cpu/softmax_rows.h"
#include "core/cancel.h"
#include "core/gemm.h"

namespace ringmaster::attention {
namespace {

// 256 query rows x 512 keys: the score tile (512 KiB) and the head_dim-128 accumulator
// (128 KiB) fit a 1 MiB L2. Of 64/128/256 x 256/512/1024, bench kernel measured 256 x 512 best
// (by ~5%, within the machine's noise for the rest) at L = 8192 and 16384, head_dim 128.
constexpr int64_t kQueryTile = 256;
constexpr int64_t kKeyTile = 512;

// Sized to the problem's largest tile, not the kernel's: a decode step calls the kernel for one
// query row at a time, and zero-filling a full 512 KiB score tile per call cost more than the
// attention itself.
struct Scratch {
  std::vector<float> scores;  // [rows, keys]
  // bf16 compute only: the products' operands, [rows, keys] and [rows | keys, head_dim]
  std::vector<uint16_t> probs, q, k, v;
  std::vector<float> acc;  // [rows, head_dim]
  std::vector<float> m, l, corr;

  Scratch(int64_t rows, int64_t keys, int64_t head_dim, DType compute)
      : scores(static_cast<size_t>(rows * keys)),
        probs(compute == DType::kBf16 ? static_cast<size_t>(rows * keys) : 0),
        q(compute == DType::kBf16 ? static_cast<size_t>(rows * head_dim) : 0),
        k(compute == DType::kBf16 ? static_cast<size_t>(keys * head_dim) : 0),
        v(k.size()),
        acc(static_cast<size_t>(rows * head_dim)),
        m(static_cast<size_t>(rows)),
        l(static_cast<size_t>(rows)),
        corr(static_cast<size_t>(rows)) {}
};

struct Problem {
  DType compute;  // of the products' inputs: kF32 or kBf16
  DType input;    // of q, k, v: kF32, or kBf16 in bf16 compute
  const void* q;  // [q_len, n_heads, head_dim]
  const void* k;  // [kv_len, n_kv_heads, head_dim]
  const void* v;
  float* out;  // [q_len, n_heads, head_dim]
  float* lse;  // [q_len, n_heads]
  int64_t q_len, kv_len, n_heads, n_kv_heads, head_dim;
  const Positions* q_pos;
  const Positions* k_pos;
  const MaskSpec* mask;
  std::vector<TileExtent> q_tiles, k_tiles;
};

Status check_shapes(const Tensor& q, const Tensor& k, const Tensor& v, const Positions& q_pos,
                    const Positions& k_pos) {
  auto describe = [&] {
    return " (q " + q.to_string() + ", k " + k.to_string() + ", v " + v.to_string() + ")";
  };
  for (const Tensor* t : {&q, &k, &v}) {
    if (!t->defined() || t->rank() != 3)
      return invalid_argument("attend_block: tensors must be [len, heads, head_dim]" + describe());
    if (!t->device().is_cpu())
      return invalid_argument("attend_block: CPU kernel given device tensors" + describe());
    if (t->dtype() == DType::kI32)
      return invalid_argument("attend_block: integer tensor" + describe());
  }
  if (k.shape() != v.shape())
    return invalid_argument("attend_block: k and v shapes differ" + describe());
  if (q.dim(2) != k.dim(2) || q.dim(2) < 1)
    return invalid_argument("attend_block: head_dim differs" + describe());
  if (k.dim(1) < 1 || q.dim(1) % k.dim(1) != 0) {
    return invalid_argument("attend_block: n_heads is not a multiple of n_kv_heads" + describe());
  }
  if (q_pos.size() != q.dim(0) || k_pos.size() != k.dim(0)) {
    return invalid_argument("attend_block: " + std::to_string(q_pos.size()) + " query and " +
                            std::to_string(k_pos.size()) + " key positions" + describe());
  }
  if ((!q_pos.seq.empty() && q_pos.seq.size() != q_pos.pos.size()) ||
      (!k_pos.seq.empty() && k_pos.seq.size() != k_pos.pos.size())) {
    return invalid_argument("attend_block: sequence ids and positions differ in length");
  }
  return ok_status();
}

// True when keys [k0, k0 + tk) are one record's consecutive positions (the usual case for local,
// window and contiguous shards): then each row's visible keys are one run (visible_range).
bool consecutive_one_record(const Positions& keys, int64_t k0, int64_t tk) {
  const int64_t first = keys.pos[static_cast<size_t>(k0)];
  const int32_t seq = keys.seq_of(k0);
  for (int64_t c = 1; c < tk; ++c) {
    if (keys.pos[static_cast<size_t>(k0 + c)] != first + c || keys.seq_of(k0 + c) != seq) {
      return false;
    }
  }
  return true;
}

void mask_scores(const Problem& p, int64_t q0, int64_t tq, int64_t k0, int64_t tk, float* s) {
  if (consecutive_one_record(*p.k_pos, k0, tk)) {
    const int64_t first = p.k_pos->pos[static_cast<size_t>(k0)];
    const int32_t seq = p.k_pos->seq_of(k0);
    for (int64_t r = 0; r < tq; ++r) {
      float* row = s + r * tk;
      if (p.q_pos->seq_of(q0 + r) != seq) {
        std::fill_n(row, tk, -INFINITY);
        continue;
      }
      const VisibleRange v = visible_range(*p.mask, p.q_pos->pos[static_cast<size_t>(q0 + r)]);
      const int64_t begin = std::clamp<int64_t>(v.lo - first, 0, tk);
      const int64_t end = std::clamp<int64_t>(v.hi - first + 1, begin, tk);
      std::fill(row, row + begin, -INFINITY);
      std::fill(row + end, row + tk, -INFINITY);
    }
    return;
  }
  for (int64_t r = 0; r < tq; ++r) {
    const int64_t qp = p.q_pos->pos[static_cast<size_t>(q0 + r)];
    const int32_t qs = p.q_pos->seq_of(q0 + r);
    for (int64_t c = 0; c < tk; ++c) {
      const int64_t kp = p.k_pos->pos[static_cast<size_t>(k0 + c)];
      if (is_hidden(*p.mask, qp, qs, kp, p.k_pos->seq_of(k0 + c))) s[r * tk + c] = -INFINITY;
    }
  }
}

// Narrows keys [k0, k0 + tk) to the span between the first and last key that some query of the
// tile may see. On a causal diagonal tile this drops the future keys before the products run.
void trim_hidden_keys(const Problem& p, const TileExtent& q_extent, int64_t& k0, int64_t& tk) {
  auto hidden_for_tile = [&](int64_t key) {
    const int64_t pos = p.k_pos->pos[static_cast<size_t>(key)];
    const int32_t seq = p.k_pos->seq_of(key);
    return classify_tile(*p.mask, q_extent, TileExtent{pos, pos, seq, seq}) ==
           TileVisibility::kHidden;
  };
  int64_t end = k0 + tk;
  while (k0 < end && hidden_for_tile(k0)) ++k0;
  while (end > k0 && hidden_for_tile(end - 1)) --end;
  tk = end - k0;
}

// One tile operand: rows [row0, row0 + rows) of `head` in [len, heads, d] `src`, as the product
// reads it. f32 compute reads the input in place (row stride heads * d). bf16 compute loads it
// into `scratch` as contiguous [rows, d] bf16, rounding f32 inputs: bf16 inputs are copied, not
// read in place, so the GEMM sees the same layout and gives the same bits either way.
struct Operand {
  const void* data;
  int64_t ld;
};
Operand load_operand(const Problem& p, const void* src, int64_t heads, int64_t row0, int64_t rows,
                     int64_t head, std::vector<uint16_t>& scratch) {
  const int64_t d = p.head_dim, ld = heads * d, first = row0 * ld + head * d;
  if (p.compute == DType::kF32) return {static_cast<const float*>(src) + first, ld};
  for (int64_t r = 0; r < rows; ++r) {
    uint16_t* dst = scratch.data() + r * d;
    if (p.input == DType::kBf16) {
      std::memcpy(dst, static_cast<const uint16_t*>(src) + first + r * ld, d * sizeof(uint16_t));
    } else {
      round_to_bf16(static_cast<const float*>(src) + first + r * ld, dst, d);
    }
  }
  return {scratch.data(), d};
}

void run_task(const Problem& p, int64_t q_tile, int64_t head, Scratch& w,
              const std::stop_token& stop) {
  const int64_t d = p.head_dim;
  const int64_t q0 = q_tile * kQueryTile;
  const int64_t tq = std::min(kQueryTile, p.q_len - q0);
  const int64_t kv_head = head / (p.n_heads / p.n_kv_heads);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const Operand q = load_operand(p, p.q, p.n_heads, q0, tq, head, w.q);

  std::fill_n(w.m.begin(), tq, -INFINITY);
  std::fill_n(w.l.begin(), tq, 0.0f);
  std::fill_n(w.acc.begin(), tq * d, 0.0f);
  for (size_t k_tile = 0; k_tile < p.k_tiles.size(); ++k_tile) {
    // A task over a long key block is many tiles: stop between them (the caller drops the rows).
    if (stop.stop_requested()) return;
    const TileVisibility visibility =
        classify_tile(*p.mask, p.q_tiles[static_cast<size_t>(q_tile)], p.k_tiles[k_tile]);
    if (visibility == TileVisibility::kHidden) continue;
    int64_t k0 = static_cast<int64_t>(k_tile) * kKeyTile;
    int64_t tk = std::min(kKeyTile, p.kv_len - k0);
    if (visibility == TileVisibility::kPartial) {
      trim_hidden_keys(p, p.q_tiles[static_cast<size_t>(q_tile)], k0, tk);
      if (tk == 0) continue;
    }
    const Operand k = load_operand(p, p.k, p.n_kv_heads, k0, tk, kv_head, w.k);
    const Operand v = load_operand(p, p.v, p.n_kv_heads, k0, tk, kv_head, w.v);
    float* s = w.scores.data();

    // S = scale * Q_t K_j^T
    cpu_gemm({.a = q.data,
              .b = k.data,
              .c = s,
              .dtype = p.compute,
              .m = tq,
              .n = tk,
              .k = d,
              .lda = q.ld,
              .ldb = k.ld,
              .ldc = tk,
              .trans_b = true,
              .alpha = scale});
    if (visibility == TileVisibility::kPartial) mask_scores(p, q0, tq, k0, tk, s);
    // bf16 compute: P is written rounded to bf16 in the softmax pass (the convert step).
    const bool bf16 = p.compute == DType::kBf16;
    cpu::softmax_rows(s, tq, tk, tk, w.m.data(), w.l.data(), w.corr.data(),
                      bf16 ? w.probs.data() : nullptr);
    // O = corr * O, then O += P V_j
    for (int64_t r = 0; r < tq; ++r) {
      if (w.corr[r] == 1.0f) continue;
      float* o = w.acc.data() + r * d;
      for (int64_t c = 0; c < d; ++c) o[c] *= w.corr[r];
    }
    const void* probs = bf16 ? static_cast<const void*>(w.probs.data()) : s;
    cpu_gemm({.a = probs,
              .b = v.data,
              .c = w.acc.data(),
              .dtype = p.compute,
              .m = tq,
              .n = d,
              .k = tk,
              .lda = tk,
              .ldb = v.ld,
              .ldc = d,
              .beta = 1.0f});
  }
  // out = O / l, lse = m + ln l; an empty row (l = 0) is out = 0, lse = -inf.
  for (int64_t r = 0; r < tq; ++r) {
    float* out = p.out + ((q0 + r) * p.n_heads + head) * d;
    const float l = w.l[r];
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const float* o = w.acc.data() + r * d;
    for (int64_t c = 0; c < d; ++c) out[c] = o[c] * inv;
    p.lse[(q0 + r) * p.n_heads + head] = l > 0.0f ? w.m[r] + std::log(l) : -INFINITY;
  }
}

std::vector<TileExtent> tile_extents(const Positions& tokens, int64_t tile) {
  std::vector<TileExtent> extents;
  for (int64_t begin = 0; begin < tokens.size(); begin += tile) {
    extents.push_back(tile_extent(tokens, begin, std::min(tokens.size(), begin + tile)));
  }
  return extents;
}

}  // namespace

namespace {

// `t` as the tiles load it: bf16 kept as is when `keep_bf16`, else f32 (widened exactly).
Tensor as_input(const Tensor& t, bool keep_bf16) { return keep_bf16 ? t : to_f32(t); }

}  // namespace

Status attend_block_into(const Tensor& q, const Tensor& k, const Tensor& v, const Positions& q_pos,
                         const Positions& k_pos, const MaskSpec& mask, ThreadPool& pool,
                         BlockResult& result, const std::stop_token& stop, DType compute) {
  if (compute != DType::kF32 && compute != DType::kBf16) {
    return invalid_argument(std::string("attend_block_into: compute dtype ")
                                .append(dtype_name(compute))
                                .append(" (f32 or bf16)"));
  }
  RM_RETURN_IF_ERROR(check_shapes(q, k, v, q_pos, k_pos));
  const Shape out_shape = q.shape();
  const Shape lse_shape = {q.dim(0), q.dim(1)};
  if (result.out.shape() != out_shape || result.lse.shape() != lse_shape ||
      result.out.dtype() != DType::kF32 || result.lse.dtype() != DType::kF32) {
    return invalid_argument("attend_block_into: result " + result.out.to_string() + " / " +
                            result.lse.to_string() + " does not fit q " + q.to_string());
  }
  // bf16 inputs are loaded as they are in bf16 compute when all three are bf16.
  const bool keep_bf16 = compute == DType::kBf16 && q.dtype() == DType::kBf16 &&
                         k.dtype() == DType::kBf16 && v.dtype() == DType::kBf16;
  const Tensor qc = as_input(q, keep_bf16), kc = as_input(k, keep_bf16),
               vc = as_input(v, keep_bf16);
  Problem p{.compute = compute,
            .input = qc.dtype(),
            .q = qc.raw(),
            .k = kc.raw(),
            .v = vc.raw(),
            .out = result.out.data<float>(),
            .lse = result.lse.data<float>(),
            .q_len = q.dim(0),
            .kv_len = k.dim(0),
            .n_heads = q.dim(1),
            .n_kv_heads = k.dim(1),
            .head_dim = q.dim(2),
            .q_pos = &q_pos,
            .k_pos = &k_pos,
            .mask = &mask,
            .q_tiles = tile_extents(q_pos, kQueryTile),
            .k_tiles = tile_extents(k_pos, kKeyTile)};

  std::vector<Scratch> scratch;
  scratch.reserve(static_cast<size_t>(pool.num_threads()));
  const int64_t rows = std::min(kQueryTile, p.q_len), keys = std::min(kKeyTile, p.kv_len);
  for (int t = 0; t < pool.num_threads(); ++t) {
    scratch.emplace_back(rows, keys, p.head_dim, compute);
  }
  const auto num_q_tiles = static_cast<int64_t>(p.q_tiles.size());
  // Later query tiles see more keys under a causal mask: hand them out first, so the
  // dynamically scheduled threads finish together.
  pool.parallel_for(
      num_q_tiles * p.n_heads,
      [&](int64_t task, int thread) {
        const int64_t q_tile = num_q_tiles - 1 - task / p.n_heads;
        run_task(p, q_tile, task % p.n_heads, scratch[static_cast<size_t>(thread)], stop);
      },
      stop);
  return check_cancelled(stop, "attend_block_into");
}

StatusOr<BlockResult> attend_block(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const Positions& q_pos, const Positions& k_pos,
                                   const MaskSpec& mask, ThreadPool& pool) {
  BlockResult result{
      Tensor::empty(q.rank() == 3 ? q.shape() : Shape{0, 0, 0}, DType::kF32),
      Tensor::empty(q.rank() == 3 ? Shape{q.dim(0), q.dim(1)} : Shape{0, 0}, DType::kF32)};
  RM_RETURN_IF_ERROR(attend_block_into(q, k, v, q_pos, k_pos, mask, pool, result));
  return result;
}

}  // namespace ringmaster::attention
