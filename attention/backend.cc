// The helpers of backend.h: built from the interface alone, so every backend shares them.
#include "attention/backend.h"

namespace ringmaster::attention {

StatusOr<BlockResult> make_empty_result(AttentionBackend& backend, int64_t q_len, int64_t n_heads,
                                        int64_t head_dim, Device where) {
  BlockResult host = make_empty_result(q_len, n_heads, head_dim);
  if (where.is_cpu()) return host;
  // -inf is not a byte pattern a memset can write: fill on the host, copy once.
  BlockResult result;
  RM_ASSIGN_OR_RETURN(result.out, to_device(backend, host.out, where));
  RM_ASSIGN_OR_RETURN(result.lse, to_device(backend, host.lse, where));
  return result;
}

StatusOr<Tensor> to_device(AttentionBackend& backend, const Tensor& t, Device where) {
  if (t.device() == where) return t;
  RM_ASSIGN_OR_RETURN(Tensor out, backend.empty(t.shape(), t.dtype(), where));
  RM_RETURN_IF_ERROR(backend.copy(t, out));
  return out;
}

StatusOr<BlockResult> attend_block(AttentionBackend& backend, const Tensor& q, const Tensor& k,
                                   const Tensor& v, const Positions& q_pos, const Positions& k_pos,
                                   const MaskSpec& mask, Device where) {
  const Shape out_shape = q.rank() == 3 ? q.shape() : Shape{0, 0, 0};
  BlockResult result;
  RM_ASSIGN_OR_RETURN(result.out, backend.empty(out_shape, DType::kF32, where));
  RM_ASSIGN_OR_RETURN(result.lse, backend.empty({out_shape[0], out_shape[1]}, DType::kF32, where));
  RM_RETURN_IF_ERROR(backend.attend_block_into(q, k, v, q_pos, k_pos, mask, result));
  return result;
}

}  // namespace ringmaster::attention
