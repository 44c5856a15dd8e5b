#include "coordinator/admission.h"

#include "core/check.h"

namespace ringmaster::coordinator {

Admission::Admission(AdmissionLimits limits) : limits_(limits) {
  RM_CHECK(limits.max_per_source >= 1 && limits.max_per_source <= limits.max_total)
      << "max_per_source " << limits.max_per_source << ", max_total " << limits.max_total;
}

std::optional<uint64_t> Admission::victim(const std::string* source) const {
  // At most max_total entries (64 by default): a linear scan is cheaper than a second index.
  std::optional<uint64_t> oldest_spoken;
  for (const auto& [id, entry] : entries_) {
    if (source != nullptr && entry.source != *source) continue;
    if (!entry.spoke) return id;
    if (!oldest_spoken) oldest_spoken = id;
  }
  return oldest_spoken;
}

std::optional<uint64_t> Admission::admit(uint64_t id, const std::string& source) {
  std::optional<uint64_t> dropped;
  if (from_source(source) >= limits_.max_per_source) {
    dropped = victim(&source);
  } else if (size() >= limits_.max_total) {
    dropped = victim(nullptr);
  }
  if (dropped) remove(*dropped);
  entries_[id] = Entry{source, false};
  ++per_source_[source];
  return dropped;
}

void Admission::spoke(uint64_t id) {
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.spoke = true;
}

void Admission::remove(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  auto count = per_source_.find(it->second.source);
  if (--count->second == 0) per_source_.erase(count);
  entries_.erase(it);
}

int Admission::from_source(const std::string& source) const {
  auto it = per_source_.find(source);
  return it == per_source_.end() ? 0 : it->second;
}

}  // namespace ringmaster::coordinator
