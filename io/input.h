// io/input.h: from an input file to the TokenStream a job feeds, in one call.
//
// The model's vocabulary decides the format: dna reads FASTA (plain or gzip, io/fasta.h), bytes
// reads the raw bytes of a text file (io/text.h). Records are appended one at a time, so peak
// memory is the stream (one byte per token) plus one record's bytes: for a plain file at most
// twice its size plus the reader's 1 MiB buffer (RELIABILITY.md S10), and each record's place
// (16 bytes and its name's, io/record_table.h). So a file of one-base records (">a\nA\n" over and
// over, 5 bytes each) still holds 4.6 times its size once read (3.4x of it touched) and 6.4x at
// the peak, reserves counted (tests/unit/io/input_test.cc measures it; 12x and 19x before). For
// gzip the record and stream grow with the inflated bytes (a doubling vector holds up to 3x while
// it grows), never ahead of them, and io/internal/byte_source.h caps the inflated bytes.
//
// Thread-safe: no shared state.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "io/tokens.h"

namespace ringmaster::io {

// Reads `path` in the input format of `vocab` and feeds every record as `<bos> t1..tn`.
// `max_tokens` > 0 caps the input tokens (bases or bytes, <bos> not counted): the read stops at
// the first base that passes it (a text file longer than the cap is refused before it is read),
// with kInvalidArgument naming the file, place, record and cap.
// Errors: those of the FASTA or text reader, each naming the file and place.
StatusOr<TokenStream> read_input(const std::string& path, Vocab vocab, int64_t max_tokens = 0);

}  // namespace ringmaster::io
