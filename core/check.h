// core/check.h: RM_CHECK and RM_DCHECK, for bugs only.
//
// `RM_CHECK(cond) << "context";` aborts with the file, line, condition and message when `cond`
// is false. Never check data that came from a file or a peer this way: that is a Status.
// RM_DCHECK compiles to nothing in release builds (NDEBUG) and is meant for hot loops.
#pragma once

#include <sstream>

namespace ringmaster::internal {

// Collects the streamed message and aborts in its destructor.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Swallows the stream when the check passes, so the message is never built.
struct CheckVoidify {
  void operator&(const CheckFailure&) {}
};

}  // namespace ringmaster::internal

#define RM_CHECK(cond)                              \
  (cond) ? (void)0                                  \
         : ::ringmaster::internal::CheckVoidify() & \
               ::ringmaster::internal::CheckFailure(__FILE__, __LINE__, #cond)

#ifdef NDEBUG
#define RM_DCHECK(cond)                           \
  true ? (void)0                                  \
       : ::ringmaster::internal::CheckVoidify() & \
             ::ringmaster::internal::CheckFailure(__FILE__, __LINE__, #cond)
#else
#define RM_DCHECK(cond) RM_CHECK(cond)
#endif
