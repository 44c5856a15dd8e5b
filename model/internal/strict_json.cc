#include "model/internal/strict_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_set>
#include <utility>
#include <vector>

namespace ringmaster::model::internal {
namespace {

using nlohmann::json;

// Builds the DOM like nlohmann's own SAX DOM parser, but stops at the first duplicate key,
// over-deep nesting or non-finite number. The first error wins; the parser stops once a
// callback returns false.
class StrictSax {
 public:
  explicit StrictSax(json& root) : root_(root) {}

  bool null() { return add(json(nullptr)); }
  bool boolean(bool value) { return add(json(value)); }
  bool number_integer(json::number_integer_t value) { return add(json(value)); }
  bool number_unsigned(json::number_unsigned_t value) { return add(json(value)); }
  bool number_float(json::number_float_t value, const std::string& text) {
    // The lexer turns 1e999 into infinity; JSON has no infinity, and neither do model files.
    if (!std::isfinite(value)) return fail("number " + single_quoted(text) + " is out of range");
    return add(json(value));
  }
  bool string(std::string& value) { return add(json(std::move(value))); }
  bool binary(json::binary_t& /*value*/) { return fail("binary values are not JSON"); }

  bool start_object(std::size_t /*size*/) { return open(json::object()); }
  bool start_array(std::size_t /*size*/) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& key) {
    Frame& frame = frames_.back();
    if (!frame.keys.insert(key).second) return fail("duplicate key " + single_quoted(key));
    frame.key = std::move(key);
    return true;
  }

  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const json::exception& ex) {
    // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..."
    // carries the place again, which callers print their own way: keep the reason only.
    std::string what = ex.what();
    if (!what.empty() && what[0] == '[') what.erase(0, std::min(what.size(), what.find("] ") + 2));
    if (what.rfind("parse error", 0) == 0)
      what.erase(0, std::min(what.size(), what.find(": ") + 2));
    // `position` counts the bytes read, through the one that failed (the end of the offending
    // token); 0 when nothing could be read.
    error_ = JsonError{position > 0 ? position - 1 : 0, "", "invalid JSON: " + what};
    return false;
  }

  std::optional<JsonError> take_error() { return std::move(error_); }

 private:
  struct Frame {
    json* value;
    std::string segment;  // how the parent reaches this value: ".key" or "[i]"
    std::unordered_set<std::string> keys;
    std::string key;  // the key whose value comes next (objects only)
  };

  // Adds a scalar or container to the current container (or makes it the root).
  json* place(json value, std::string* segment) {
    if (frames_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Frame& parent = frames_.back();
    if (parent.value->is_array()) {
      if (segment) {
        // Appended piecewise: GCC 12 warns (-Wrestrict, a false positive) on "[" + to_string.
        segment->assign(1, '[');
        segment->append(std::to_string(parent.value->size()));
        segment->push_back(']');
      }
      parent.value->push_back(std::move(value));
      return &parent.value->back();
    }
    if (segment) *segment = "." + parent.key;
    json& slot = (*parent.value)[parent.key];
    slot = std::move(value);
    return &slot;
  }

  bool add(json value) {
    place(std::move(value), nullptr);
    return true;
  }

  bool open(json container) {
    if (static_cast<int>(frames_.size()) >= kMaxJsonDepth) {
      return fail("nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    Frame frame;
    frame.value = place(std::move(container), &frame.segment);
    frames_.push_back(std::move(frame));
    return true;
  }

  bool close() {
    frames_.pop_back();
    return true;
  }

  // "blocks[2]", "embed": the path of the innermost open container.
  std::string path() const {
    std::string out;
    for (const Frame& frame : frames_) out += frame.segment;
    if (!out.empty() && out[0] == '.') out.erase(0, 1);
    return out;
  }

  bool fail(std::string what) {
    error_ = JsonError{std::nullopt, path(), std::move(what)};
    return false;
  }

  json& root_;
  std::vector<Frame> frames_;
  std::optional<JsonError> error_;
};

}  // namespace

std::optional<JsonError> parse_strict_json(std::string_view text, nlohmann::json& out) {
  StrictSax sax(out);
  bool ok = false;
  try {
    ok = json::sax_parse(text.data(), text.data() + text.size(), &sax);
  } catch (const json::exception& ex) {
    // Errors reach parse_error(), but keep the no-throw promise should a corner case throw.
    return JsonError{std::nullopt, "", std::string("invalid JSON: ") + ex.what()};
  }
  std::optional<JsonError> error = sax.take_error();
  if (!ok && !error) error = JsonError{std::nullopt, "", "invalid JSON"};
  if (error && error->byte && *error->byte > text.size()) error->byte = text.size();
  return error;
}

std::string line_column(std::string_view text, size_t byte) {
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return std::to_string(line) + ":" + std::to_string(byte - line_start + 1);
}

std::string single_quoted(std::string_view s) {
  constexpr size_t kMaxShown = 80;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMaxShown) out += "...";
  out += "'";
  return out;
}

const char* json_kind(const nlohmann::json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "a value";
  }
}

}  // namespace ringmaster::model::internal
