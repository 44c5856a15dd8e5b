#include "io/record_table.h"

#include "core/status.h"

namespace ringmaster::io {

void RecordTable::append(std::string_view name, int64_t length) {
  RM_CHECK(length >= 1) << "record '" << name << "' of " << length << " tokens";
  names_.append(name);
  name_ends_.push_back(names_.size());
  offsets_.push_back(total_);
  total_ += length;
}

RecordSpan RecordTable::operator[](size_t r) const {
  const size_t name_begin = r == 0 ? 0 : name_ends_[r - 1];
  const int64_t offset = offsets_[r];
  const int64_t end = r + 1 < size() ? offsets_[r + 1] : total_;
  return {std::string_view(names_).substr(name_begin, name_ends_[r] - name_begin),
          offset + static_cast<int64_t>(r), offset, end - offset};
}

size_t RecordTable::record_at(int64_t fed_index) const {
  // The last record whose <bos> (fed index offsets_[r] + r) is at or before fed_index.
  size_t lo = 0, hi = size();  // invariant: the answer is in [lo, hi)
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    if (offsets_[mid] + static_cast<int64_t>(mid) <= fed_index) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace ringmaster::io
