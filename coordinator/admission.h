// coordinator/admission.h: who holds the coordinator's few slots for connections that have not
// authenticated yet, and whom to drop when a new one arrives and the slots are taken.
//
// Before authentication anyone may connect, so the slots are what a stranger can exhaust
// (RELIABILITY.md S3: an idle flood kept real workers out). The rules:
//   - at most `max_per_source` slots per source address, so one host cannot take them all;
//   - at most `max_total` slots in all;
//   - a new connection is always admitted: when its source is at its cap, the oldest connection
//     of that source is dropped, otherwise when every slot is taken, the oldest of all is;
//   - "oldest" prefers connections that have not sent a frame yet. A real worker sends its Hello
//     at once, so a flood of idle sockets, even from the worker's own address, only ever
//     displaces itself; a connection that has spoken is dropped only when none is silent.
// Refusing the newest instead (the old rule) lets whoever came first keep the door shut.
// Deadlines (first frame, whole handshake) are the Server's; this is bookkeeping only.
//
// Thread-compatible: owned by the coordinator's strand. Pure logic, tested without sockets.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace ringmaster::coordinator {

struct AdmissionLimits {
  int max_total = 64;
  int max_per_source = 8;
};

class Admission {
 public:
  // REQUIRES: 1 <= max_per_source <= max_total.
  explicit Admission(AdmissionLimits limits);

  // Records connection `id` from `source` (its address, without the port). Ids must increase
  // with arrival (age is their order). Returns the id of the connection to drop to make room,
  // already forgotten here, or nullopt when there was room.
  std::optional<uint64_t> admit(uint64_t id, const std::string& source);
  // `id` sent its first frame: from now on it is dropped only after every silent connection.
  void spoke(uint64_t id);
  // Forgets `id` (authenticated, closed or timed out). Unknown ids are ignored.
  void remove(uint64_t id);

  int size() const { return static_cast<int>(entries_.size()); }
  int from_source(const std::string& source) const;
  const AdmissionLimits& limits() const { return limits_; }

 private:
  struct Entry {
    std::string source;
    bool spoke = false;
  };
  // The connection to drop among those from `source` (every source when empty).
  std::optional<uint64_t> victim(const std::string* source) const;

  AdmissionLimits limits_;
  std::map<uint64_t, Entry> entries_;  // by id: oldest first
  std::map<std::string, int> per_source_;
};

}  // namespace ringmaster::coordinator
