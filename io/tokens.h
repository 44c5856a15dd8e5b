// io/tokens.h: the two vocabularies of MODEL.md and the TokenStream a job feeds to the model.
//
// dna:   A C G T N = 0 1 2 3 4, then <bos> <eos> <pad> = 5 6 7; V = 8.
// bytes: every byte value = 0..255, then <bos> <eos> <pad> = 256 257 258; V = 259.
//
// An input file becomes InputRecords (name + ids t1..tn, one byte per id, since genomes are
// large), and the records become one TokenStream: each fed as `<bos> t1 ... tn`, one after the
// other. "Fed index" counts every fed token, <bos> included; "input index" (the records.tsv
// offset, the row of embeddings.npy and scores.npy) counts only t1..tn. The stream stores the
// input ids t1..tn, one byte each (every regular id of both vocabularies fits: a genome costs
// its length in bytes, not four times it), and the records' places in a RecordTable (16 bytes and
// the name's bytes each, io/record_table.h); <bos>, positions and record ids are derived on demand.
//
// Ownership: a TokenStream owns its ids and spans; it is move-only so a genome is never copied by
// accident. Thread-safety: const methods may run concurrently; append needs exclusive access.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "io/record_table.h"

namespace ringmaster::io {

enum class Vocab : uint8_t { kDna, kBytes };

// Regular dna ids; IUPAC ambiguity codes are folded into kDnaN by the FASTA reader.
inline constexpr int32_t kDnaA = 0;
inline constexpr int32_t kDnaC = 1;
inline constexpr int32_t kDnaG = 2;
inline constexpr int32_t kDnaT = 3;
inline constexpr int32_t kDnaN = 4;

// The most tokens t1..tn of one record: positions run 0..n with <bos> at 0, and the model keeps
// them as int32.
inline constexpr int64_t kMaxRecordTokens = std::numeric_limits<int32_t>::max() - 1;

// Number of regular (input) token ids: 5 for dna, 256 for bytes. Specials follow them.
constexpr int32_t num_regular_ids(Vocab vocab) { return vocab == Vocab::kDna ? 5 : 256; }
constexpr int32_t bos_id(Vocab vocab) { return num_regular_ids(vocab); }
constexpr int32_t eos_id(Vocab vocab) { return num_regular_ids(vocab) + 1; }
constexpr int32_t pad_id(Vocab vocab) { return num_regular_ids(vocab) + 2; }
// V, the number of rows of `embed` and `head`: 8 for dna, 259 for bytes.
constexpr int32_t vocab_size(Vocab vocab) { return num_regular_ids(vocab) + 3; }

// "dna" or "bytes", as written in config.json.
const char* vocab_name(Vocab vocab);
// Parses config.json's "vocab". Errors: any other string (the message lists the valid ones).
StatusOr<Vocab> parse_vocab(std::string_view name);

// One independent sequence as read from the input, before <bos> is added.
struct InputRecord {
  std::string name;          // FASTA: first word of the header; text: the file's base name
  std::vector<uint8_t> ids;  // t1..tn as regular ids of the vocab (< num_regular_ids)
};

class TokenStream {
 public:
  explicit TokenStream(Vocab vocab) : vocab_(vocab) {}
  TokenStream(TokenStream&&) = default;
  TokenStream& operator=(TokenStream&&) = default;
  TokenStream(const TokenStream&) = delete;
  TokenStream& operator=(const TokenStream&) = delete;

  // Appends `<bos> ids...` as a new record. `ids` is copied; the caller may reuse it.
  // Errors (nothing is appended): empty `ids`, an id >= num_regular_ids(vocab), more than
  // kMaxRecordTokens ids, or more than INT32_MAX records. Names may repeat.
  Status append(std::string_view name, std::span<const uint8_t> ids);
  // Capacity hint for the number of input tokens (one byte each); avoids regrowth when the
  // caller knows a bound.
  void reserve(int64_t num_input_tokens) {
    input_ids_.reserve(static_cast<size_t>(num_input_tokens));
  }

  Vocab vocab() const { return vocab_; }
  // Fed tokens, <bos> included: sum over records of (n + 1).
  int64_t num_tokens() const { return num_input_tokens() + num_records(); }
  // Input tokens t1..tn of every record: the row count of embeddings.npy and scores.npy.
  int64_t num_input_tokens() const { return static_cast<int64_t>(input_ids_.size()); }
  int64_t num_records() const { return static_cast<int64_t>(records_.size()); }

  // [num_input_tokens()] the ids t1..tn of every record, by input index.
  std::span<const uint8_t> input_ids() const { return input_ids_; }
  // out[k] = id of fed token begin + k: <bos> at each record's start, else its input id.
  // REQUIRES: 0 <= begin and begin + out.size() <= num_tokens().
  void fill_ids(int64_t begin, std::span<int32_t> out) const;
  // One span per record, in input order.
  const RecordTable& records() const { return records_; }

  // The record holding fed index `fed_index`. REQUIRES: 0 <= fed_index < num_tokens().
  int32_t record_at(int64_t fed_index) const;
  // out[k] = position of fed token begin + k within its record (0 at each <bos>).
  // REQUIRES: 0 <= begin and begin + out.size() <= num_tokens().
  void fill_positions(int64_t begin, std::span<int32_t> out) const;
  // out[k] = index of the record holding fed token begin + k. REQUIRES: as fill_positions.
  void fill_record_ids(int64_t begin, std::span<int32_t> out) const;

 private:
  // Calls fn(record, first fed index, count) for each record overlapping [begin, begin + count).
  template <typename Fn>
  void for_each_piece(int64_t begin, int64_t count, Fn&& fn) const;

  Vocab vocab_;
  std::vector<uint8_t> input_ids_;
  RecordTable records_;
};

}  // namespace ringmaster::io
