// coordinator/heartbeat_monitor.h: which peers have been silent for longer than the deadline.
//
// Any frame counts as a sign of life (a worker streaming results is alive even if its Heartbeat
// queues behind a chunk). The caller reports each arrival with heard_from() and asks overdue()
// on its periodic tick; time is passed in, never read here, so tests drive it with a fake clock
// and the rule "dead after D without a frame" is checked without sleeping.
//
// Thread-compatible: owned by the coordinator's strand.
#pragma once

#include <chrono>
#include <map>
#include <vector>

namespace ringmaster::coordinator {

class HeartbeatMonitor {
 public:
  using Clock = std::chrono::steady_clock;

  explicit HeartbeatMonitor(std::chrono::milliseconds dead_after) : dead_after_(dead_after) {}

  std::chrono::milliseconds dead_after() const { return dead_after_; }

  // Starts or refreshes watching `id`.
  void heard_from(int id, Clock::time_point now) { last_[id] = now; }
  void forget(int id) { last_.erase(id); }

  // Ids silent for more than dead_after at `now`, with how long each has been silent.
  struct Overdue {
    int id;
    std::chrono::milliseconds silent;
  };
  std::vector<Overdue> overdue(Clock::time_point now) const {
    std::vector<Overdue> out;
    for (const auto& [id, last] : last_) {
      const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - last);
      if (silent > dead_after_) out.push_back({id, silent});
    }
    return out;
  }

 private:
  std::chrono::milliseconds dead_after_;
  std::map<int, Clock::time_point> last_;
};

}  // namespace ringmaster::coordinator
