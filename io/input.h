// io/input.h: from an input file to the TokenStream a job feeds, in one call.
//
// The model's vocabulary decides the format: dna reads FASTA (plain or gzip, io/fasta.h), bytes
// reads the raw bytes of a text file (io/text.h). Records are appended one at a time, so peak
// memory is the int32 stream plus one record's bytes, never a second copy of the whole input.
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
// the first record that passes it, with kInvalidArgument naming the file, record and cap.
// Errors: those of the FASTA or text reader, each naming the file and place.
StatusOr<TokenStream> read_input(const std::string& path, Vocab vocab, int64_t max_tokens = 0);

}  // namespace ringmaster::io
