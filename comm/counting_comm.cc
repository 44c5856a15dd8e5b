#include "comm/counting_comm.h"

#include <utility>

namespace ringmaster::comm {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class CountingRequest final : public RequestImpl {
 public:
  CountingRequest(Request inner, TrafficMeter& meter) : inner_(std::move(inner)), meter_(meter) {}

  bool test() override { return inner_.test(); }

  Status wait(Deadline deadline) override {
    // Charged to the phase that blocks, not the one that posted (see the header).
    const std::string phase = meter_.current();
    const auto start = std::chrono::steady_clock::now();
    Status status = inner_.wait(deadline);
    meter_.add_wait(phase, seconds_since(start));
    return status;
  }

 private:
  Request inner_;
  TrafficMeter& meter_;
};

}  // namespace

TrafficMeter::Phase::Phase(TrafficMeter* meter, std::string name)
    : meter_(name.empty() ? nullptr : meter), start_(std::chrono::steady_clock::now()) {
  if (!meter_) return;
  std::lock_guard lock(meter_->mutex_);
  if (meter_->current_ == name) {
    meter_ = nullptr;
    return;
  }
  ++meter_->slot(name).scopes;
  previous_ = std::exchange(meter_->current_, std::move(name));
}

TrafficMeter::Phase::~Phase() {
  if (!meter_) return;
  std::lock_guard lock(meter_->mutex_);
  meter_->slot(meter_->current_).wall_s += seconds_since(start_);
  meter_->current_ = std::move(previous_);
}

std::string TrafficMeter::current() const {
  std::lock_guard lock(mutex_);
  return current_.empty() ? kOtherPhase : current_;
}

PhaseTraffic& TrafficMeter::slot(const std::string& name) {
  const std::string& key = name.empty() ? std::string(kOtherPhase) : name;
  for (PhaseTraffic& p : phases_) {
    if (p.name == key) return p;
  }
  PhaseTraffic& p = phases_.emplace_back();
  p.name = key;
  return p;
}

void TrafficMeter::add_sent(const std::string& phase, int64_t bytes) {
  std::lock_guard lock(mutex_);
  PhaseTraffic& p = slot(phase);
  p.bytes_sent += bytes;
  ++p.messages_sent;
}

void TrafficMeter::add_received(const std::string& phase, int64_t bytes) {
  std::lock_guard lock(mutex_);
  PhaseTraffic& p = slot(phase);
  p.bytes_received += bytes;
  ++p.messages_received;
}

void TrafficMeter::add_wait(const std::string& phase, double seconds) {
  std::lock_guard lock(mutex_);
  slot(phase).wait_s += seconds;
}

std::vector<PhaseTraffic> TrafficMeter::phases() const {
  std::lock_guard lock(mutex_);
  return phases_;
}

PhaseTraffic TrafficMeter::total() const {
  std::lock_guard lock(mutex_);
  PhaseTraffic t;
  t.name = "total";
  for (const PhaseTraffic& p : phases_) {
    t.scopes += p.scopes;
    t.wall_s += p.wall_s;
    t.wait_s += p.wait_s;
    t.bytes_sent += p.bytes_sent;
    t.bytes_received += p.bytes_received;
    t.messages_sent += p.messages_sent;
    t.messages_received += p.messages_received;
  }
  return t;
}

StatusOr<Request> CountingComm::isend(int peer, ConstView data, Tag tag) {
  StatusOr<Request> request = inner_.isend(peer, data, tag);
  if (!request.ok()) return request;
  meter_.add_sent(meter_.current(), static_cast<int64_t>(data.size()));
  return Request(std::make_unique<CountingRequest>(std::move(request).value(), meter_));
}

StatusOr<Request> CountingComm::irecv(int peer, MutableView data, Tag tag) {
  StatusOr<Request> request = inner_.irecv(peer, data, tag);
  if (!request.ok()) return request;
  meter_.add_received(meter_.current(), static_cast<int64_t>(data.size()));
  return Request(std::make_unique<CountingRequest>(std::move(request).value(), meter_));
}

}  // namespace ringmaster::comm
