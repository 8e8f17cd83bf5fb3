#ifndef TOYDB_SIM_KV_HISTORY_H_
#define TOYDB_SIM_KV_HISTORY_H_

// KvHistoryRecorder: the history of the operations simulated applications
// send through the Router, each with the consistency level the application
// was promised, and the verdict on it per level:
//   - kLinearizable and kQuorum reads, with every write: linearizable
//     (CheckLinearizable; writes are kMajority or stronger, or kLeader with a
//     session, which the replicas acknowledge only once committed);
//   - kSession reads, with every write: read-your-writes and monotonic reads
//     per Router (the Router is the session: it carries the highest LSN seen
//     per partition for all its callers);
//   - kAny reads: no promise beyond "a value some client wrote at its
//     version", which the KvOracle checks as they happen.
// The level recorded is the one the application was promised, which is the
// level asked for unless a test deliberately presents another (to prove the
// checker fails on a wrong configuration). Owned by a scenario run;
// single-threaded.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sim/linearizability.h"
#include "toydb/message.h"

namespace toydb::sim {

struct KvHistoryVerdict {
  CheckVerdict linearizable = CheckVerdict::kOk;
  size_t linearizable_operations = 0;  // placed by the search
  size_t linearizable_keys = 0;
  size_t session_reads = 0;
  size_t session_violations = 0;
  uint64_t steps = 0;
  // Empty when every check passed (an exhausted search budget is not a
  // failure: see `linearizable` and `unknown_keys`); otherwise what failed.
  std::string failure;
  size_t unknown_keys = 0;

  // "lin=ok ops=N keys=K session=ok reads=M" and the like.
  std::string Describe() const;
};

class KvHistoryRecorder {
 public:
  // A read at `promised` consistency, or a write (kind != kGet; `promised`
  // is ignored). Returns the operation's index.
  size_t Invoke(uint64_t client, KvOpKind kind, std::string key, std::string value,
                Lsn expected_version, ReadConsistency promised, int64_t now_micros);
  // Also for a write that first completed kUnknown and was then retried from
  // the Router's dead-letter queue (with its original session) and answered:
  // its completion moves to now, since it took effect, once, somewhere
  // between its first invocation and now.
  void Complete(size_t index, KvOutcome outcome, KvOutput output, int64_t now_micros);

  const KvOperation& operation(size_t index) const { return ops_[index].op; }
  size_t size() const { return ops_.size(); }
  // Operations still in flight when the history is judged count as unknown.
  KvHistoryVerdict Check(const LinearizabilityOptions& options = {}) const;

 private:
  struct Recorded {
    KvOperation op;
    bool read = false;
    ReadConsistency promised = ReadConsistency::kLinearizable;
    bool completed = false;
  };
  // The writes and the reads promised one of `levels`, completed or not.
  KvHistory Select(std::initializer_list<ReadConsistency> levels) const;

  std::vector<Recorded> ops_;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_KV_HISTORY_H_
