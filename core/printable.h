// core/printable.h: peer-supplied text made safe for a log line or a Status message.
//
// A worker's host name, an Error's message, a coordinator's job id or abort reason arrive from the
// network. Logged raw, a newline forges a whole log line ("job succeeded") and an escape sequence
// rewrites the reader's terminal. Every place that logs such a string, or puts it into a Status,
// passes it through printable() first. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace ringmaster {

// `text` with every byte outside printable ASCII (0x20-0x7e) written as an escape: \n, \r, \t,
// and \xHH for the rest (non-ASCII UTF-8 included); a backslash becomes "\\", so an escape in the
// output always came from this function. Output of at most `max_bytes` input bytes, then "...".
std::string printable(std::string_view text, size_t max_bytes = 1024);

// True when `name` is a safe host name for the control plane: only [A-Za-z0-9._:-] (names,
// IPv4 and IPv6 addresses), and not empty.
bool is_safe_host_name(std::string_view name);

}  // namespace ringmaster
