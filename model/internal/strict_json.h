// model/internal/strict_json.h: JSON parsing for model files that refuses what nlohmann::json
// accepts silently, plus the small helpers both model-file parsers share.
//
// nlohmann::json::parse keeps the last of two equal keys; MODEL.md makes a duplicate key an
// error in config.json and in a safetensors header, so parsing goes through a SAX handler that
// rejects duplicates, nesting deeper than kMaxJsonDepth and non-finite numbers. Nothing throws
// out of these functions. Internal to model/: other folders never see nlohmann types.
// Thread-safety: pure functions, no shared state.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace ringmaster::model::internal {

// Model files are flat: config.json nests 3 deep, a safetensors header 3. A cap keeps hostile
// input from building deep trees.
inline constexpr int kMaxJsonDepth = 64;

// Why a text is not acceptable JSON. `byte` is the 0-based offset in the text of the character
// the parser stopped at, when it knows one; `path` ("blocks[2]", "embed") names the object or
// array the problem is in, when there is one (empty at the top level).
struct JsonError {
  std::optional<size_t> byte;
  std::string path;
  std::string what;
};

// Parses `text` into `out`, or returns why it is not strict JSON (syntax, duplicate key, depth,
// a number too large for a double). `out` is unspecified on error.
std::optional<JsonError> parse_strict_json(std::string_view text, nlohmann::json& out);

// "line:column" (both 1-based, column in bytes) of byte offset `byte` in `text`.
std::string line_column(std::string_view text, size_t byte);

// `s` in single quotes with control and non-ASCII bytes escaped (\n, \x07) and long strings cut
// to 80 bytes plus "...", so hostile names keep an error message on one line.
std::string single_quoted(std::string_view s);

// What `value` is, with its article, for "expected an integer, got a string".
const char* json_kind(const nlohmann::json& value);

}  // namespace ringmaster::model::internal
