// io/text.h: text input for the bytes vocabulary (MODEL.md "Vocabularies and sequences").
//
// A text file is its raw bytes, one record, with no decoding of any kind: no encoding check, no
// newline conversion, no decompression (a .gz is fed as the compressed bytes it is). Byte b is
// token id b.
//
// Only regular files are read: their size is known before the first byte, so a file too long for
// the job is refused at once and the record is allocated once, at exactly the file's size (S10:
// nothing over twice the input's size). Devices such as /dev/zero never end and pipes have no
// size, so both are refused.
//
// Thread-safe: no shared state.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "io/tokens.h"

namespace ringmaster::io {

// Reads `path` whole as one record named by the file's base name ("notes.txt"), one id per byte.
// `max_tokens` > 0 caps the bytes (the job's --max-tokens); kMaxRecordTokens always does.
// Errors (kInvalidArgument unless I/O, each naming the path):
//   "FILE: not a regular file (a character device)"   (and the like for pipes, sockets)
//   "FILE: empty file"                                 (a record needs at least one token)
//   "FILE: N bytes, more than the job's limit of M tokens (--max-tokens)"
//   "FILE: N bytes, more than the N tokens a record may hold (positions are int32)"
//   "FILE: byte N: the file grew while it was being read"
StatusOr<InputRecord> read_text(const std::string& path, int64_t max_tokens = 0);

}  // namespace ringmaster::io
