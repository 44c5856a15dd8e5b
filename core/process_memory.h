// core/process_memory.h: this process's resident memory, read from /proc/self/status.
//
// Linux only. reset_peak_rss writes "5" to /proc/self/clear_refs, which resets VmHWM to the
// current resident set, so one process can measure the peak of several phases in turn.
#pragma once

namespace ringmaster {

double current_rss_mib();  // VmRSS
double peak_rss_mib();     // VmHWM
void reset_peak_rss();

}  // namespace ringmaster
