// core/logging.h: process-wide logging setup on top of spdlog.
//
// Code logs with spdlog directly (spdlog::info("rank {} joined", rank)); this header only
// configures the sink once per process: stderr, with a prefix naming the process role
// ("coordinator", "worker 3") so interleaved logs of local runs stay readable.
// Thread-safety: call configure_logging once, before starting threads.
#pragma once

#include <string_view>

#include "core/status.h"

namespace ringmaster {

// `level` is one of trace, debug, info, warn, error, off.
Status configure_logging(std::string_view role, std::string_view level);

}  // namespace ringmaster
