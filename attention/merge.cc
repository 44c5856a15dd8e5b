#include <cmath>

#include "attention/attention.h"
#include "attention/softmax_state.h"

namespace ringmaster::attention {

BlockResult make_empty_result(int64_t q_len, int64_t n_heads, int64_t head_dim) {
  BlockResult r{Tensor::empty({q_len, n_heads, head_dim}, DType::kF32),
                Tensor::empty({q_len, n_heads}, DType::kF32)};
  float* lse = r.lse.data<float>();
  for (int64_t i = 0; i < r.lse.numel(); ++i) lse[i] = -INFINITY;
  return r;
}

void merge_into(BlockResult& acc, const BlockResult& part) {
  RM_CHECK(acc.out.shape() == part.out.shape() && acc.lse.shape() == part.lse.shape())
      << "merge_into of " << acc.out.to_string() << " and " << part.out.to_string();
  const int64_t rows = acc.lse.numel();
  const int head_dim = static_cast<int>(acc.out.dim(-1));
  float* o = acc.out.data<float>();
  float* lse = acc.lse.data<float>();
  const float* o_b = part.out.data<float>();
  const float* lse_b = part.lse.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    merge_row(o + r * head_dim, lse[r], o_b + r * head_dim, lse_b[r], head_dim);
  }
}

}  // namespace ringmaster::attention
