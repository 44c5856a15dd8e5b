#include "io/fasta.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <utility>

#include "io/internal/byte_source.h"

namespace ringmaster::io {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

// What a byte means on a sequence line. Values 0..4 are the dna ids themselves so the hot loop
// is one table lookup per base.
enum : uint8_t { kLf = 16, kBlank = 17, kCr = 18, kInvalid = 19 };

constexpr std::array<uint8_t, 256> make_byte_classes() {
  std::array<uint8_t, 256> classes{};
  for (auto& c : classes) c = kInvalid;
  auto set = [&](char upper, uint8_t id) {
    classes[static_cast<unsigned char>(upper)] = id;
    classes[static_cast<unsigned char>(upper - 'A' + 'a')] = id;  // soft-masking is ignored
  };
  set('A', kDnaA);
  set('C', kDnaC);
  set('G', kDnaG);
  set('T', kDnaT);
  set('N', kDnaN);
  for (char iupac : {'R', 'Y', 'K', 'M', 'S', 'W', 'B', 'D', 'H', 'V'}) set(iupac, kDnaN);
  classes['\n'] = kLf;
  classes[' '] = kBlank;
  classes['\t'] = kBlank;
  classes['\r'] = kCr;
  return classes;
}
constexpr std::array<uint8_t, 256> kByteClass = make_byte_classes();

// Separates the name from the rest of a header line (LF is handled apart).
bool is_header_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// The byte as it would be typed: itself when printable, else an escape.
std::string show_byte(unsigned char c) {
  if (c == '\t') return "\\t";
  if (c == '\r') return "\\r";
  if (c >= 0x20 && c < 0x7f) return std::string(1, static_cast<char>(c));
  char hex[8];
  std::snprintf(hex, sizeof(hex), "\\x%02X", c);
  return hex;
}

// The chunk buffer: kChunkBytes, or the whole input plus one byte when it is known to be smaller
// (the read that finds the end needs room too). Small inputs then cost no zero-filled 1 MiB per
// reader, which had held fasta_fuzz to about 40 inputs a second.
size_t chunk_bytes(const internal::ByteSource& source) {
  const int64_t size = source.size_hint();
  if (size < 0 || static_cast<uint64_t>(size) >= kChunkBytes) return kChunkBytes;
  return static_cast<size_t>(size) + 1;
}

}  // namespace

StatusOr<std::unique_ptr<FastaReader>> FastaReader::open(const std::string& path,
                                                         int64_t max_tokens) {
  RM_ASSIGN_OR_RETURN(auto source, internal::open_byte_source(path));
  return std::make_unique<FastaReader>(std::move(source), path, max_tokens);
}

std::unique_ptr<FastaReader> FastaReader::from_bytes(std::string_view bytes,
                                                     std::string display_name, int64_t max_tokens) {
  auto source = internal::memory_byte_source(bytes, display_name);
  return std::make_unique<FastaReader>(std::move(source), std::move(display_name), max_tokens);
}

FastaReader::FastaReader(std::unique_ptr<internal::ByteSource> source, std::string display_name,
                         int64_t max_tokens)
    : source_(std::move(source)),
      name_(std::move(display_name)),
      buffer_(chunk_bytes(*source_)),
      max_tokens_(max_tokens) {
  // A plain file holds at least one byte per base, so its size bounds every record: reserving
  // it once means the record never regrows (a doubling vector briefly holds 3x its size).
  // Untouched capacity costs no RSS. Gzip and pipes have no trustworthy size; they grow.
  if (!source_->is_gzip() && source_->size_hint() > 0) {
    record_reserve_ = std::min(source_->size_hint(), kMaxRecordTokens);
    if (max_tokens_ > 0) record_reserve_ = std::min(record_reserve_, max_tokens_);
  }
}

FastaReader::~FastaReader() = default;

bool FastaReader::is_gzip() const { return source_->is_gzip(); }
int64_t FastaReader::size_hint() const { return source_->size_hint(); }

StatusOr<bool> FastaReader::next(InputRecord* record) {
  if (!failed_.ok()) return failed_;
  StatusOr<bool> result = next_impl(record);
  if (!result.ok()) failed_ = result.status();
  return result;
}

StatusOr<bool> FastaReader::next_impl(InputRecord* record) {
  if (done_) return false;
  record->name.clear();
  record->ids.clear();
  if (record->ids.capacity() < static_cast<size_t>(record_reserve_)) {
    record->ids.reserve(static_cast<size_t>(record_reserve_));
  }
  record_reserve_ = 0;  // once: a caller that passes a fresh record each time grows each one
  for (;;) {
    if (pos_ == end_) {
      RM_ASSIGN_OR_RETURN(const size_t n, source_->read(buffer_.data(), buffer_.size()));
      if (n == 0) return finish_at_eof(record);
      any_bytes_ = true;
      pos_ = 0;
      end_ = n;
    }
    bool record_done = false;
    RM_RETURN_IF_ERROR(consume(record, &record_done));
    if (record_done) return true;
  }
}

Status FastaReader::consume(InputRecord* record, bool* record_done) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(buffer_.data());
  std::vector<uint8_t>& ids = record->ids;
  while (pos_ < end_) {
    const unsigned char c = bytes[pos_];
    switch (state_) {
      case State::kLineStart:
        if (c == '>') {
          if (record_open_) {  // the '>' closes the open record: hand it out
            if (ids.empty()) {
              return error_at(header_line_, 1, "record '" + header_name_ + "' has no sequence");
            }
            record->name = std::move(header_name_);
            tokens_read_ += static_cast<int64_t>(ids.size());
            *record_done = true;
          }
          record_open_ = true;
          ++records_opened_;
          header_line_ = line_;
          header_name_.clear();
          state_ = State::kHeaderLead;
          ++column_;
          ++pos_;
          if (*record_done) return ok_status();
        } else if (c == '\n') {
          ++line_;  // blank line
          ++pos_;
        } else {
          state_ = State::kSequence;  // the byte is classified there
        }
        break;

      case State::kHeaderLead:
        if (c == '\n') {
          RM_RETURN_IF_ERROR(end_of_line());  // reports the missing name
          ++pos_;
        } else if (is_header_space(c)) {
          ++column_;
          ++pos_;
        } else {
          state_ = State::kHeaderName;
        }
        break;

      case State::kHeaderName: {
        const size_t begin = pos_;
        while (pos_ < end_ && bytes[pos_] != '\n' && !is_header_space(bytes[pos_])) ++pos_;
        if (header_name_.size() + (pos_ - begin) > kMaxRecordNameBytes) {
          return error_at(
              line_, column_ + (kMaxRecordNameBytes - header_name_.size()) + 1,
              "record name longer than " + std::to_string(kMaxRecordNameBytes) + " bytes");
        }
        header_name_.append(buffer_.data() + begin, pos_ - begin);
        column_ += pos_ - begin;
        if (pos_ < end_) state_ = State::kHeaderRest;
        break;
      }

      case State::kHeaderRest: {  // the description: skipped without being stored
        const void* lf = std::memchr(bytes + pos_, '\n', end_ - pos_);
        const size_t stop = lf == nullptr ? end_ : static_cast<const unsigned char*>(lf) - bytes;
        column_ += stop - pos_;
        pos_ = stop;
        if (lf != nullptr) {
          RM_RETURN_IF_ERROR(end_of_line());
          ++pos_;
        }
        break;
      }

      case State::kSequence: {
        if (!run_active_ && record_open_) {
          // Hot loop: bases become ids in the chunk buffer itself, then one bulk append (no
          // zero-filling resize, no per-base capacity check).
          auto* chunk = reinterpret_cast<uint8_t*>(buffer_.data());
          size_t stop = pos_;
          for (uint8_t id; stop < end_ && (id = kByteClass[chunk[stop]]) <= kDnaN; ++stop) {
            chunk[stop] = id;
          }
          if (stop > pos_) {
            // The caps are checked before the bases are kept, so a record never grows past one.
            const auto held = static_cast<int64_t>(ids.size());
            const auto more = static_cast<int64_t>(stop - pos_);
            if (held + more > kMaxRecordTokens) {
              return cap_error(column_ + static_cast<uint64_t>(kMaxRecordTokens - held) + 1,
                               "the " + std::to_string(kMaxRecordTokens) +
                                   " tokens a record may hold (positions are int32)");
            }
            if (max_tokens_ > 0 && tokens_read_ + held + more > max_tokens_) {
              return cap_error(
                  column_ + static_cast<uint64_t>(max_tokens_ - tokens_read_ - held) + 1,
                  "the job's limit of " + std::to_string(max_tokens_) + " tokens (--max-tokens)");
            }
            ids.insert(ids.end(), chunk + pos_, chunk + stop);
            column_ += stop - pos_;
            pos_ = stop;
            break;
          }
        }
        const uint8_t cls = kByteClass[c];
        const uint64_t column = column_ + 1;
        if (cls == kLf) {
          RM_RETURN_IF_ERROR(end_of_line());
          ++pos_;
        } else if (cls == kBlank || cls == kCr) {
          if (!run_active_) {
            run_active_ = true;
            run_column_ = column;
            run_first_ = c;
            run_inner_cr_ = false;
          } else if (run_prev_cr_) {
            run_inner_cr_ = true;
          }
          run_prev_cr_ = cls == kCr;
          ++column_;
          ++pos_;
        } else if (run_active_) {  // a base or junk after a space: the space is inner
          return sequence_error(run_column_, run_first_);
        } else {
          return sequence_error(column, c);
        }
        break;
      }
    }
  }
  return ok_status();
}

Status FastaReader::end_of_line() {
  if (state_ == State::kHeaderLead) return error_at(header_line_, 1, "header has no name");
  if (state_ == State::kSequence && run_active_) {
    // Droppable: [ \t]* then at most one CR. Otherwise what survives starts at the run.
    if (run_inner_cr_) return sequence_error(run_column_, run_first_);
    run_active_ = false;
  }
  state_ = State::kLineStart;
  ++line_;
  column_ = 0;
  return ok_status();
}

StatusOr<bool> FastaReader::finish_at_eof(InputRecord* record) {
  if (!any_bytes_) return invalid_argument(name_ + ": empty file");
  RM_RETURN_IF_ERROR(end_of_line());  // the last line may lack its LF
  if (!record_open_) return invalid_argument(name_ + ": no FASTA record (only blank lines)");
  if (record->ids.empty()) {
    return error_at(header_line_, 1, "record '" + header_name_ + "' has no sequence");
  }
  record->name = std::move(header_name_);
  tokens_read_ += static_cast<int64_t>(record->ids.size());
  done_ = true;
  return true;
}

Status FastaReader::sequence_error(uint64_t column, unsigned char byte) const {
  // Before any header the whole line is out of place, whatever its bytes.
  if (!record_open_) return error_at(line_, 1, "sequence before the first '>' header");
  return error_at(line_, column, "invalid residue '" + show_byte(byte) + "'");
}

Status FastaReader::error_at(uint64_t line, uint64_t column, const std::string& what) const {
  return invalid_argument(name_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                          what);
}

Status FastaReader::cap_error(uint64_t column, const std::string& limit) const {
  return error_at(
      line_, column,
      "record " + std::to_string(records_opened_) + " ('" + header_name_ + "') passes " + limit);
}

StatusOr<std::vector<InputRecord>> read_fasta(const std::string& path) {
  RM_ASSIGN_OR_RETURN(auto reader, FastaReader::open(path));
  std::vector<InputRecord> records;
  InputRecord record;  // reused: it carries the reader's up-front capacity
  for (;;) {
    RM_ASSIGN_OR_RETURN(const bool more, reader->next(&record));
    if (!more) return records;
    records.push_back(record);  // a copy holds only its own bases
  }
}

}  // namespace ringmaster::io
