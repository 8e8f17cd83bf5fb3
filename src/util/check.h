#ifndef TOYDB_UTIL_CHECK_H_
#define TOYDB_UTIL_CHECK_H_

// TOYDB_CHECK(condition, message): an invariant that stays checked in release
// builds. Use it where going on past a broken invariant would write wrong data
// to disk or acknowledge a write that is not durable (group commit, apply, the
// compaction swap, checkpoints); there, stopping the process is the safe
// answer, and recovery from the log repairs the rest. `message` is evaluated
// only when the check fails, so it may be an fmt::format(...) call. The cost
// on the good path is one predicted branch.
//
// Plain assert() stays for checks that are too costly for release builds or
// that only guard the code's own arithmetic.

#include <string_view>

#include "absl/base/optimization.h"

namespace toydb::internal {

// Prints "file:line: check failed: condition: message" to stderr and aborts.
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              std::string_view message);

}  // namespace toydb::internal

#define TOYDB_CHECK(condition, message)                                          \
  do {                                                                           \
    if (ABSL_PREDICT_FALSE(!(condition))) {                                      \
      ::toydb::internal::CheckFailed(__FILE__, __LINE__, #condition, (message)); \
    }                                                                            \
  } while (false)

#endif  // TOYDB_UTIL_CHECK_H_
