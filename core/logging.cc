#include "core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace ringmaster {

Status configure_logging(std::string_view role, std::string_view level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return invalid_argument("unknown log level '" + std::string(level) +
                            "' (trace, debug, info, warn, error, off)");
  }
  spdlog::drop("ringmaster:" + std::string(role));
  auto logger = spdlog::stderr_color_mt("ringmaster:" + std::string(role));
  logger->set_pattern("[%H:%M:%S.%e] [" + std::string(role) + "] [%^%l%$] %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(std::move(logger));
  return ok_status();
}

}  // namespace ringmaster
