// model/kv_rows.h: a growable run of key/value rows of one sequence, with their positions: what a
// decode cache holds for one record (attention K/V appended after prefill, the rows a window or a
// FIT group may still see, FIT latents' K/V).
//
// Rows are kept in the order they are appended, which is increasing position, so dropping the
// rows no later query can see is an erase at the front. Thread-compatible.
#pragma once

#include <cstdint>
#include <vector>

#include "attention/masks.h"
#include "core/tensor.h"

namespace ringmaster::model {

class KvRows {
 public:
  KvRows() = default;
  KvRows(int64_t heads, int64_t head_dim) : heads_(heads), head_dim_(head_dim) {}

  int64_t size() const { return static_cast<int64_t>(pos_.size()); }
  bool empty() const { return pos_.empty(); }

  // Appends `n` rows of k and v ([n, heads, head_dim] each) at positions pos[0..n).
  void append(const float* k, const float* v, const int64_t* pos, int64_t n);
  // Appends `n` rows that all sit at `position` (FIT latents of one group).
  void append_at(const float* k, const float* v, int64_t position, int64_t n);
  // Drops the rows at positions before `first`.
  void drop_before(int64_t first);
  void clear();

  // Views of the rows, valid until the next change: [size, heads, head_dim].
  Tensor k() const;
  Tensor v() const;
  attention::Positions positions() const { return {pos_, {}}; }
  const std::vector<int64_t>& pos() const { return pos_; }

 private:
  int64_t heads_ = 0, head_dim_ = 0;
  std::vector<float> k_, v_;
  std::vector<int64_t> pos_;
};

}  // namespace ringmaster::model
