#include "core/process_memory.h"

#include <fstream>
#include <string>

namespace ringmaster {
namespace {

double status_field_mib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  return 0;
}

}  // namespace

double current_rss_mib() { return status_field_mib("VmRSS"); }
double peak_rss_mib() { return status_field_mib("VmHWM"); }

void reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

}  // namespace ringmaster
