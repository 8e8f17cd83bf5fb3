#ifndef TOYDB_SIM_LINEARIZABILITY_H_
#define TOYDB_SIM_LINEARIZABILITY_H_

// Checkers of a key-value client history, as the simulator records it: every
// operation a client sent, when it was invoked and when it completed (in
// simulated microseconds), and what it returned.
//
// CheckLinearizable: is there one order of the operations, consistent with
// real time (an operation that completed before another was invoked comes
// first), in which each operation behaves as on a single copy of the data?
// Keys are independent registers, so each key's sub-history is checked on its
// own (linearizability is compositional; Porcupine does the same). The search
// is Wing & Gong's with Lowe's memoization: linearize an operation whose call
// comes before every pending return, remember (set of linearized operations,
// model state) so no configuration is explored twice, and backtrack when an
// operation's return is reached without it being placed. A step budget per
// key bounds the search; past it the key's verdict is kUnknown. Timed-out
// writes multiply the search (each may take effect anywhere after its
// invoke), so those whose effect no operation could have seen are left out
// first: they change no verdict.
//
// CheckReadYourWrites / CheckMonotonicReads: the session guarantees of one
// client on one key (see their comments).
//
// Free functions over a value; pure, deterministic and single-threaded.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "toydb/status.h"
#include "toydb/types.h"

namespace toydb::sim {

enum class KvOpKind : uint8_t { kGet, kPut, kDelete, kCompareAndSet };

enum class KvOutcome : uint8_t {
  // Completed; `output` says what it returned.
  kOk,
  // Definitely did nothing (refused before it was applied: not the primary,
  // invalid, overloaded). Such operations are left out of every check.
  kFailed,
  // Timed out: it may have taken effect, once, at any time after its invoke,
  // even long after the client gave up. Its completion is taken as +infinity
  // (as in Porcupine and Knossos), and it has no output.
  kUnknown,
};

// What a completed (kOk) operation returned.
struct KvOutput {
  // Get: the key was present; `value` and `version` are what was read.
  bool found = false;
  std::string value;
  // Get: the version of the value read (when found). Put, delete and a
  // compare-and-set that wrote: the LSN the write was given.
  Lsn version = 0;
  // Compare-and-set only: the key's version was not `expected_version`, so
  // nothing was written (the store's Aborted).
  bool aborted = false;
};

struct KvOperation {
  uint64_t client = 0;
  std::string key;
  KvOpKind kind = KvOpKind::kGet;
  // Put, compare-and-set: the value written.
  std::string value;
  // Compare-and-set: write only if the key's version is this (0: absent).
  Lsn expected_version = 0;
  int64_t invoke_micros = 0;
  // Ignored for kUnknown.
  int64_t complete_micros = 0;
  KvOutcome outcome = KvOutcome::kOk;
  KvOutput output;  // Meaningful for kOk only.
};

using KvHistory = std::vector<KvOperation>;

enum class CheckVerdict : uint8_t {
  kOk,       // Linearizable.
  kIllegal,  // Proven not linearizable.
  kUnknown,  // The search ran out of its step budget before deciding.
};
const char* CheckVerdictName(CheckVerdict verdict);

struct LinearizabilityOptions {
  // Search steps (attempts to place an operation, and backtracks) allowed per
  // key before that key's verdict is kUnknown. Each step may add one entry to
  // the memo, of about n/8 + 100 bytes for a key of n operations, so this
  // bounds memory as well as time: at most ~130 MB for 250 operations on a
  // key. Ordinary histories need a few steps per operation (tests: 2,058
  // steps for 1,911 operations over 20 keys; 63,740 for 1,941 on one key).
  uint64_t max_steps_per_key = 1'000'000;
  // Leave out timed-out writes whose effect no operation could have seen
  // (they change no verdict, and each one kept may double the search). Off
  // only to test that claim.
  bool leave_out_unobserved_timeouts = true;
  // How many operations of the longest linearizable prefix a failure report
  // shows (its last ones: those nearest the point of failure).
  size_t max_reported_prefix = 8;
};

// The verdict for one key that is not kOk.
struct KeyFailure {
  std::string key;
  CheckVerdict verdict = CheckVerdict::kIllegal;
  // Several lines, for people: the longest linearizable prefix found (its last
  // operations), the model state after it, and each operation that could have
  // come next with the reason it cannot.
  std::string explanation;
};

struct LinearizabilityResult {
  CheckVerdict verdict = CheckVerdict::kOk;  // kIllegal if any key is, else kUnknown if any key is.
  std::vector<KeyFailure> failures;          // Keys whose verdict is not kOk, in key order.
  size_t keys = 0;                           // Keys checked.
  size_t operations = 0;                     // Operations placed by the search.
  // Left out of the search: kFailed operations and timed-out gets do not
  // count here; this counts timed-out writes that no operation could have
  // observed (see Observers in the .cc), which are taken as never applied.
  size_t unobserved_timeouts = 0;
  uint64_t steps = 0;  // Search steps over all keys.

  // One line when linearizable; else one line per failing key followed by its
  // explanation.
  std::string Summary() const;
};

// InvalidArgument for a malformed history (an operation completing before its
// invoke, an acknowledged write without a version, a found value at version
// 0, "aborted" on anything but a compare-and-set), naming the operation.
[[nodiscard]] StatusOr<LinearizabilityResult> CheckLinearizable(
    const KvHistory& history, const LinearizabilityOptions& options = {});

// A broken session guarantee: which client, which key, and the operations.
struct SessionViolation {
  uint64_t client = 0;
  std::string key;
  std::string explanation;
};

// Read-your-writes, per client and key: a get that client invoked after one
// of its own writes of the key was acknowledged sees that write or a later
// one. So a found version is at least the client's greatest acknowledged
// version of the key; and the key may read as absent only if that write was a
// delete, or some delete of the key (by any client) is acknowledged with a
// greater version or timed out (an absent read carries no version to compare).
[[nodiscard]] StatusOr<std::vector<SessionViolation>> CheckReadYourWrites(const KvHistory& history);

// Monotonic reads, per client and key: a get never sees an older version than
// a get of the same client that completed before it was invoked. An absent
// read after a found version v is allowed only if some delete of the key is
// acknowledged with a version above v or timed out.
[[nodiscard]] StatusOr<std::vector<SessionViolation>> CheckMonotonicReads(const KvHistory& history);

// "#index c<client> <op> -> <result> [invoke, complete]", values shortened
// and escaped: how the reports above name an operation.
std::string DescribeOperation(const KvHistory& history, size_t index);

}  // namespace toydb::sim

#endif  // TOYDB_SIM_LINEARIZABILITY_H_
