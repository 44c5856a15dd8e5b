// io/fasta.h: the streaming FASTA reader of MODEL.md ("Vocabularies and sequences").
//
// Input is read line by line (LF ends a line; a CR before the LF is dropped; trailing spaces and
// tabs are dropped; blank lines are skipped), plain or gzip-compressed (recognised by the magic
// bytes 1f 8b, not by the name; several members, as bgzip writes, are fine).
// - A line starting with '>' opens a record named by the first whitespace-separated word after
//   the '>'. Names may repeat; the rest of the header is ignored.
// - Other lines are sequence: lower case is upper-cased, IUPAC R Y K M S W B D H V become N, and
//   A C G T N become the dna ids 0..4 (io/tokens.h).
// Every violation is one Status naming the place, with line and column 1-based and the column in
// bytes (the offending byte is shown as itself, or as \t, \r, \xHH when not printable):
//   "FILE:LINE:COL: invalid residue 'X'"                 (kInvalidArgument)
//   "FILE:LINE:1: sequence before the first '>' header"  (kInvalidArgument)
//   "FILE:LINE:1: header has no name"                    (kInvalidArgument)
//   "FILE:LINE:1: record 'NAME' has no sequence"         (kInvalidArgument; LINE of its header)
//   "FILE:LINE:COL: record name longer than 4096 bytes"  (kInvalidArgument; COL of byte 4097)
//   "FILE:LINE:COL: record K ('NAME') passes the job's limit of M tokens (--max-tokens)"
//   "FILE:LINE:COL: record K ('NAME') passes the 2147483646 tokens a record may hold ..."
//                                         (kInvalidArgument; COL of the first base past it)
//   "FILE: empty file"                                   (kInvalidArgument; zero bytes)
//   "FILE: no FASTA record (only blank lines)"           (kInvalidArgument)
//   "FILE: gzip data ends early (truncated file?) ..."   (kDataLoss; also corrupt gzip)
//   "FILE: compressed byte N: gzip data inflates past ..." (kInvalidArgument; byte_source.h)
//   "FILE: neither a regular file nor a pipe (a character device)"  (kInvalidArgument)
// FILE is the path as the caller spelled it.
//
// Limits, enforced while reading, so nothing grows past them first: the tokens of all records
// together (the job's --max-tokens, when given), the tokens of one record (kMaxRecordTokens),
// the record name (kMaxRecordNameBytes: 16 times SAM's 254-byte QNAME, and far above any
// accession or read id; the name ends up in records.tsv), and for gzip the inflated bytes
// (io/internal/byte_source.h).
//
// Memory: the reader holds a 1 MiB buffer (less for a smaller input) plus the record being read,
// one byte per base; no line is ever buffered, so a 1 GB single-line chromosome costs 1 GB.
// For a regular plain file the record is reserved once at the file's size (or the token cap,
// when smaller), so it never regrows: the reader's allocations stay within the file's size plus
// the buffer. Work is linear.
//
// Ownership: a FastaReader owns its file. Thread-compatible: one thread calls next() at a time;
// independent readers share nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "io/tokens.h"

namespace ringmaster::io {

namespace internal {
class ByteSource;
}

// The longest record name (the first word of a header line), in bytes.
inline constexpr size_t kMaxRecordNameBytes = 4096;

class FastaReader {
 public:
  // Opens `path`, plain or gzip: a regular file or a pipe. `max_tokens` > 0 caps the bases of
  // all records read together. Errors: the file cannot be opened (kNotFound when missing), or
  // is of another kind (a device, a socket).
  static StatusOr<std::unique_ptr<FastaReader>> open(const std::string& path,
                                                     int64_t max_tokens = 0);
  // Reads FASTA held in memory (plain or gzip); `bytes` must outlive the reader. `display_name`
  // stands for FILE in errors. For fuzzers and tests.
  static std::unique_ptr<FastaReader> from_bytes(std::string_view bytes, std::string display_name,
                                                 int64_t max_tokens = 0);
  // Reads from any source; `display_name` stands for FILE in errors.
  FastaReader(std::unique_ptr<internal::ByteSource> source, std::string display_name,
              int64_t max_tokens = 0);
  ~FastaReader();

  // Reads the next record into `*record`, replacing its contents but reusing its capacity (for a
  // plain file the first call reserves the file's size, so pass the same record each time).
  // Returns true with a record, false once after the last one. Errors: as listed above; after an
  // error every later call returns the same error.
  StatusOr<bool> next(InputRecord* record);

  // True when the input is gzip-compressed.
  bool is_gzip() const;
  // Size of the (uncompressed) file in bytes, an upper bound on the bases; -1 when unknown.
  int64_t size_hint() const;

 private:
  enum class State : uint8_t { kLineStart, kHeaderLead, kHeaderName, kHeaderRest, kSequence };

  StatusOr<bool> next_impl(InputRecord* record);
  // Consumes bytes of the current chunk; sets *record_done when a record is complete.
  Status consume(InputRecord* record, bool* record_done);
  Status end_of_line();
  StatusOr<bool> finish_at_eof(InputRecord* record);
  // The error for a byte that may not appear in sequence (or before the first header).
  Status sequence_error(uint64_t column, unsigned char byte) const;
  Status error_at(uint64_t line, uint64_t column, const std::string& what) const;
  // The error for the open record passing `limit` at column `column` of the current line.
  Status cap_error(uint64_t column, const std::string& limit) const;

  std::unique_ptr<internal::ByteSource> source_;
  std::string name_;  // FILE in errors
  std::vector<char> buffer_;
  size_t pos_ = 0;
  size_t end_ = 0;
  bool any_bytes_ = false;
  bool done_ = false;
  Status failed_;

  State state_ = State::kLineStart;
  uint64_t line_ = 1;         // current line, 1-based
  uint64_t column_ = 0;       // bytes of the current line consumed so far
  bool record_open_ = false;  // a '>' has been seen; the record after it is being read
  uint64_t header_line_ = 0;  // line of the open record's header
  std::string header_name_;
  int64_t records_opened_ = 0;  // headers seen: the open record's number, 1-based

  int64_t max_tokens_;          // cap on tokens_read_ (0: none)
  int64_t tokens_read_ = 0;     // bases of every record before the open one
  int64_t record_reserve_ = 0;  // capacity the first record gets (plain regular files)

  // Spaces, tabs and CRs in a sequence line whose fate is still open: dropped if the line ends
  // (as [ \t]* then at most one CR), an error at their first byte if anything else follows.
  bool run_active_ = false;
  bool run_prev_cr_ = false;
  bool run_inner_cr_ = false;  // a CR followed by another byte: it can no longer be dropped
  uint64_t run_column_ = 0;
  unsigned char run_first_ = 0;
};

// Reads every record of `path` (plain or gzip). Errors: those of FastaReader.
StatusOr<std::vector<InputRecord>> read_fasta(const std::string& path);

}  // namespace ringmaster::io
