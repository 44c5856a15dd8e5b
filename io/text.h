// io/text.h: text input for the bytes vocabulary (MODEL.md "Vocabularies and sequences").
//
// A text file is its raw bytes, one record, with no decoding of any kind: no encoding check, no
// newline conversion, no decompression (a .gz is fed as the compressed bytes it is). Byte b is
// token id b.
//
// Thread-safe: no shared state.
#pragma once

#include <string>

#include "core/status.h"
#include "io/tokens.h"

namespace ringmaster::io {

// Reads `path` whole as one record named by the file's base name ("notes.txt"), one id per byte.
// Errors (naming the path): the file cannot be opened or read; "FILE: empty file" for zero bytes
// (a record needs at least one token).
StatusOr<InputRecord> read_text(const std::string& path);

}  // namespace ringmaster::io
