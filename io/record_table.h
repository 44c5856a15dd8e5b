// io/record_table.h: RecordTable, where each record of a TokenStream sits, kept compactly.
//
// Per record: its input offset (8 bytes) and the end of its name (8 bytes), plus the name's bytes
// in one string for all names. The former layout, a std::string and three int64s per record, cost
// 56 bytes each (and a heap block for a name past 15 bytes), so a FASTA of tiny records (">a\nA\n"
// over and over, 5 bytes each) took over 10 times its size in spans alone (RELIABILITY.md S10).
// Fed index, length and the rest are derived: record r's <bos> sits at fed index offset + r.
//
// RecordSpan is a view: its name points into the table, valid while the table lives unchanged.
// Thread-safety: const methods may run concurrently; append needs exclusive access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace ringmaster::io {

// Where one record sits in a TokenStream.
struct RecordSpan {
  std::string_view name;
  int64_t fed_begin = 0;  // fed index of its <bos>
  int64_t offset = 0;     // input index of t1: the records.tsv offset and the first output row
  int64_t length = 0;     // n, the number of input tokens t1..tn (>= 1)

  // One past its last fed token: <bos> plus n tokens.
  int64_t fed_end() const { return fed_begin + length + 1; }
};

class RecordTable {
 public:
  // Adds a record of `length` input tokens after the last one. REQUIRES: length >= 1.
  void append(std::string_view name, int64_t length);

  size_t size() const { return name_ends_.size(); }
  bool empty() const { return name_ends_.empty(); }
  // Input tokens of every record together.
  int64_t num_input_tokens() const { return total_; }
  // REQUIRES: r < size().
  RecordSpan operator[](size_t r) const;
  // The record holding fed index `fed_index`. REQUIRES: 0 <= fed_index < fed tokens of all.
  size_t record_at(int64_t fed_index) const;

  // Iterates RecordSpans by value, in input order.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = RecordSpan;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = RecordSpan;
    Iterator(const RecordTable* table, size_t r) : table_(table), r_(r) {}
    RecordSpan operator*() const { return (*table_)[r_]; }
    Iterator& operator++() {
      ++r_;
      return *this;
    }
    bool operator==(const Iterator& other) const { return r_ == other.r_; }

   private:
    const RecordTable* table_;
    size_t r_;
  };
  Iterator begin() const { return {this, 0}; }
  Iterator end() const { return {this, size()}; }

 private:
  // Input index of each record's t1; its tokens end where the next record's start (or at total_).
  std::vector<int64_t> offsets_;
  std::vector<uint64_t> name_ends_;  // record r's name is names_[name_ends_[r - 1], name_ends_[r])
  std::string names_;
  int64_t total_ = 0;
};

}  // namespace ringmaster::io
