#include "io/tokens.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace ringmaster::io {

const char* vocab_name(Vocab vocab) { return vocab == Vocab::kDna ? "dna" : "bytes"; }

StatusOr<Vocab> parse_vocab(std::string_view name) {
  if (name == "dna") return Vocab::kDna;
  if (name == "bytes") return Vocab::kBytes;
  return invalid_argument("unknown vocab '" + std::string(name) + "' (expected dna or bytes)");
}

Status TokenStream::append(std::string_view name, std::span<const uint8_t> ids) {
  if (ids.empty()) return invalid_argument("record '" + std::string(name) + "' has no tokens");
  const int64_t length = static_cast<int64_t>(ids.size());
  if (length > kMaxRecordTokens) {
    return invalid_argument("record '" + std::string(name) + "' has " + std::to_string(length) +
                            " tokens; at most " + std::to_string(kMaxRecordTokens) + " fit");
  }
  if (num_records() >= std::numeric_limits<int32_t>::max()) {
    return invalid_argument("too many records (record ids are int32)");
  }
  const int32_t limit = num_regular_ids(vocab_);
  if (limit < 256) {  // every uint8 is a valid bytes id, so only dna needs the scan
    const auto bad = std::find_if(ids.begin(), ids.end(), [&](uint8_t id) { return id >= limit; });
    if (bad != ids.end()) {
      return invalid_argument(
          "record '" + std::string(name) + "': token id " + std::to_string(*bad) + " at index " +
          std::to_string(bad - ids.begin()) + " is not a regular " + vocab_name(vocab_) + " id");
    }
  }
  input_ids_.insert(input_ids_.end(), ids.begin(), ids.end());
  records_.append(name, length);
  return ok_status();
}

int32_t TokenStream::record_at(int64_t fed_index) const {
  RM_CHECK(fed_index >= 0 && fed_index < num_tokens()) << "fed index " << fed_index;
  return static_cast<int32_t>(records_.record_at(fed_index));
}

template <typename Fn>
void TokenStream::for_each_piece(int64_t begin, int64_t count, Fn&& fn) const {
  RM_CHECK(begin >= 0 && count >= 0 && begin + count <= num_tokens())
      << "range [" << begin << ", " << begin + count << ") of " << num_tokens() << " tokens";
  if (count == 0) return;
  int32_t record = record_at(begin);
  for (int64_t index = begin, end = begin + count; index < end; ++record) {
    const int64_t piece = std::min(end, records_[static_cast<size_t>(record)].fed_end()) - index;
    fn(record, index, piece);
    index += piece;
  }
}

void TokenStream::fill_positions(int64_t begin, std::span<int32_t> out) const {
  int32_t* dst = out.data();
  for_each_piece(begin, static_cast<int64_t>(out.size()),
                 [&](int32_t record, int64_t first, int64_t count) {
                   const int64_t pos = first - records_[static_cast<size_t>(record)].fed_begin;
                   for (int64_t k = 0; k < count; ++k) *dst++ = static_cast<int32_t>(pos + k);
                 });
}

void TokenStream::fill_ids(int64_t begin, std::span<int32_t> out) const {
  int32_t* dst = out.data();
  const int32_t bos = bos_id(vocab_);
  for_each_piece(begin, static_cast<int64_t>(out.size()),
                 [&](int32_t record, int64_t first, int64_t count) {
                   const RecordSpan span = records_[static_cast<size_t>(record)];
                   int64_t pos = first - span.fed_begin;  // 0 at <bos>
                   if (pos == 0) {
                     *dst++ = bos;
                     ++pos;
                     --count;
                   }
                   const uint8_t* src = input_ids_.data() + span.offset + (pos - 1);
                   dst = std::copy_n(src, count, dst);
                 });
}

void TokenStream::fill_record_ids(int64_t begin, std::span<int32_t> out) const {
  int32_t* dst = out.data();
  for_each_piece(
      begin, static_cast<int64_t>(out.size()),
      [&](int32_t record, int64_t, int64_t count) { dst = std::fill_n(dst, count, record); });
}

}  // namespace ringmaster::io
