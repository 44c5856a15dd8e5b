// core/status.h: Status and StatusOr<T>, how every runtime failure in ringmaster travels.
//
// A Status is a code plus a message that names the place (file and line or byte, tensor, rank,
// host). Values cross threads, Asio handlers and processes; exceptions do not, so no ringmaster
// API throws. Bugs are not Statuses: they use RM_CHECK (core/check.h) and abort.
//
// Thread-compatible: a Status is a small value; copy it freely.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/check.h"

namespace ringmaster {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,     // bad input, config, flag or model file
  kNotFound,            // a file, tensor or peer that does not exist
  kFailedPrecondition,  // the system is not in a state where the call makes sense
  kUnavailable,         // a peer or transport went away
  kDeadlineExceeded,    // a timeout expired
  kDataLoss,            // truncated or corrupt data
  kCancelled,           // the job was aborted
  kInternal,            // a vendor library failed in a way we do not classify
};

// Returns a stable lower-case name ("invalid_argument") for logs and the control plane.
const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: genome.fa:12:7: invalid residue 'X'", or "ok".
  std::string to_string() const;

  // Returns a copy whose message is prefixed by `context` ("loading model: ...").
  Status with_context(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() { return Status(); }
Status invalid_argument(std::string message);
Status not_found(std::string message);
Status failed_precondition(std::string message);
Status unavailable(std::string message);
Status deadline_exceeded(std::string message);
Status data_loss(std::string message);
Status cancelled(std::string message);
Status internal_error(std::string message);

// Converts errno from a failed system call into a Status naming `what` (usually a path).
Status errno_status(std::string_view what, int err);

// StatusOr<T>: a T or the Status that explains why there is none.
// REQUIRES: constructed from a non-OK Status when there is no value.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    RM_CHECK(!status_.ok()) << "StatusOr built from an OK Status without a value";
  }
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & { return checked(); }
  const T& value() const& { return const_cast<StatusOr*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return checked(); }
  const T& operator*() const& { return value(); }

 private:
  T& checked() {
    RM_CHECK(ok()) << "value() of a failed StatusOr: " << status_.to_string();
    return *value_;
  }

  Status status_;
  std::optional<T> value_;
};

namespace internal {
inline const Status& to_status(const Status& s) { return s; }
template <typename T>
const Status& to_status(const StatusOr<T>& s) {
  return s.status();
}
}  // namespace internal

}  // namespace ringmaster

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define RM_RETURN_IF_ERROR(expr)                                                     \
  do {                                                                               \
    const ::ringmaster::Status rm_status_ = ::ringmaster::internal::to_status(expr); \
    if (!rm_status_.ok()) return rm_status_;                                         \
  } while (0)

#define RM_STATUS_CONCAT_INNER_(a, b) a##b
#define RM_STATUS_CONCAT_(a, b) RM_STATUS_CONCAT_INNER_(a, b)

// `RM_ASSIGN_OR_RETURN(auto x, make_x());` declares x from the value, or returns the error.
#define RM_ASSIGN_OR_RETURN(lhs, expr) \
  RM_ASSIGN_OR_RETURN_IMPL_(RM_STATUS_CONCAT_(rm_statusor_, __LINE__), lhs, expr)
#define RM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
