#include "model/kv_rows.h"

#include <algorithm>

namespace ringmaster::model {

void KvRows::append(const float* k, const float* v, const int64_t* pos, int64_t n) {
  const int64_t width = heads_ * head_dim_;
  k_.insert(k_.end(), k, k + n * width);
  v_.insert(v_.end(), v, v + n * width);
  pos_.insert(pos_.end(), pos, pos + n);
}

void KvRows::append_at(const float* k, const float* v, int64_t position, int64_t n) {
  const std::vector<int64_t> pos(static_cast<size_t>(n), position);
  append(k, v, pos.data(), n);
}

void KvRows::drop_before(int64_t first) {
  const auto drop = std::lower_bound(pos_.begin(), pos_.end(), first) - pos_.begin();
  if (drop == 0) return;
  const int64_t width = heads_ * head_dim_;
  k_.erase(k_.begin(), k_.begin() + drop * width);
  v_.erase(v_.begin(), v_.begin() + drop * width);
  pos_.erase(pos_.begin(), pos_.begin() + drop);
}

void KvRows::clear() {
  k_.clear();
  v_.clear();
  pos_.clear();
}

Tensor KvRows::k() const {
  return Tensor::wrap(k_.data(), {size(), heads_, head_dim_}, DType::kF32);
}
Tensor KvRows::v() const {
  return Tensor::wrap(v_.data(), {size(), heads_, head_dim_}, DType::kF32);
}

}  // namespace ringmaster::model
