#ifndef TOYDB_ROUTER_H_
#define TOYDB_ROUTER_H_

// Router: the client side of a partitioned cluster. It maps each key to its
// partition (a consistent-hash ring over the partition map), sends the
// request to the right replica over a Transport, follows leader hints,
// retries with backoff within the call's deadline, and reports what happened
// to a write exactly: done, committed short of its write concern (with the
// count of replicas that acknowledged it), not written, or of unknown outcome.
// A write that runs out of time is kept in a bounded dead-letter queue, where
// the host can list, retry or drop it.
//
// Every write carries a session, (client id, sequence), that the replicas use
// to apply a retried write once. The Router keeps a pool of client ids per
// partition, each with at most one write in flight (see RouterOptions::
// writes_in_flight_per_partition_max and docs/ARCHITECTURE.md).
//
// The host owns the Router; the Transport must outlive it. Thread-safe: any
// number of threads may share one Router and call any method. Callbacks run
// on one of the Router's threads (the transport's delivery thread, the
// Router's timer thread), for a request refused at once on the caller's
// thread, and for requests still held at destruction on the destroying
// thread; they must not block and must not call the Router's blocking
// methods (they may call the *Async ones, except during destruction).
//
// Inside, a deterministic core (src/routing/router_core.h) makes every
// protocol decision; this class feeds it under one mutex, with the time from
// RouterOptions::clock, and sends and completes what it produces.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "toydb/clock.h"
#include "toydb/message.h"
#include "toydb/partition.h"
#include "toydb/status.h"
#include "toydb/store.h"
#include "toydb/transport.h"
#include "toydb/write_batch.h"

namespace toydb {

struct RouterOptions {
  // The Router's own address on the transport (not a replica's). Not 0.
  NodeId id = 0;
  // Carries requests and probes; not owned, must outlive the Router.
  Transport* transport = nullptr;
  // The partition map: every partition and the nodes holding its replicas.
  // At least one; ids distinct. Node addresses are the transport's concern.
  std::vector<PartitionConfig> partitions;
  // Points per partition on the hash ring (1 to 4096). Every Router of a
  // cluster must use the same value, or they disagree on key placement.
  uint32_t virtual_nodes = 1024;
  // Deadline of a call whose own options give none. At least 1.
  uint32_t deadline_ms = 5000;
  // An attempt unanswered this long is given up and the request retried
  // (elsewhere, if the node may be gone). Keep it above the replicas' write
  // timeout, so a slow commit is not retried needlessly. At least 1.
  uint32_t attempt_timeout_ms = 2000;
  // Backoff between attempts: initial * 2^failures, at most max, then
  // jittered to a uniform draw in [delay/2, delay]. initial >= 1, max >= initial.
  uint32_t backoff_initial_ms = 2;
  uint32_t backoff_max_ms = 200;
  // Writes in flight at once to one partition: one per client id of the
  // partition's pool. More wait for a free id (within their deadline).
  // 1 to 4096. The replicas keep a session per client id
  // (ReplicaOptions::session_count_max): keep the sum over all Routers of
  // this times the partitions well below it.
  uint32_t writes_in_flight_per_partition_max = 64;
  // Requests the Router holds at once (in flight, waiting or backing off);
  // more are refused with ResourceExhausted. At least 1.
  uint32_t requests_max = 1u << 16;
  // Dead letters kept. When full, the oldest is dropped (and counted in
  // RouterStats::dead_letters_dropped) to make room. At least 1.
  uint32_t dead_letters_max = 1024;
  // Every node of the map is probed this often; 0 disables probing (every
  // node then counts as up unless the transport says it is unreachable).
  uint32_t probe_interval_ms = 100;
  // A probe unanswered this long marks its node down. At least 1.
  uint32_t probe_timeout_ms = 500;
  // Seeds client ids and jitter; 0 picks one from the clock. Tests set it
  // for repeatable runs.
  uint64_t seed = 0;
  // Real time; nullptr means Clock::Default().
  Clock* clock = nullptr;

  // InvalidArgument ("RouterOptions.<field> ...") naming the first bad field.
  // The transport and clock are not checked here (the core needs neither).
  [[nodiscard]] Status Validate() const;
};

// Per-call options of a write.
struct RouterWriteOptions {
  WriteConcern concern;      // kMajority unless set
  uint32_t deadline_ms = 0;  // 0: RouterOptions::deadline_ms
};

// Per-call options of a read.
struct RouterReadOptions {
  // kLinearizable and kQuorum: the primary, after it confirms its role with
  // a majority. kSession: any replica that has applied the highest LSN this
  // Router has seen for the partition (read-your-writes, monotonic reads).
  // kAny: any replica, up ones first; possibly stale.
  ReadConsistency consistency = ReadConsistency::kLinearizable;
  uint32_t deadline_ms = 0;  // 0: RouterOptions::deadline_ms
};

// What became of a write. `status` is OK when the write met its concern.
// Otherwise `outcome` says whether it took effect (and `status` carries the
// same as a WithWriteOutcome payload):
//   kCommitted   it is in the log and will stay: a DeadlineExceeded whose
//                concern was not met; acks of replicas say how many hold it.
//   kNotWritten  it was not applied and will not be (a refused request, a
//                failed compare-and-set: Aborted).
//   kUnknown     the deadline passed without a definite answer: it may or
//                may not be applied. It is in the dead-letter queue.
struct WriteResult {
  Status status;
  WriteOutcome outcome = WriteOutcome::kNotWritten;
  Lsn version = 0;  // the key's version after the write (its LSN), if committed
  Lsn lsn = 0;
  uint32_t acks = 0;      // replicas that acknowledged the write
  uint32_t replicas = 0;  // replicas of its partition
  // Not 0: the write is in the dead-letter queue under this id.
  uint64_t dead_letter_id = 0;
  bool ok() const { return status.ok(); }
};

// A write that ran out of time. Retrying it reuses its session, so the
// replicas apply it at most once. If the write's answer arrives after it
// timed out, the letter is updated with it (outcome kCommitted and an OK
// status, or kNotWritten and the refusal) and stays until dropped.
struct DeadLetter {
  uint64_t id = 0;
  PartitionId partition = 0;
  // The write as sent: op, key(s), value, concern and session.
  ClientRequest request;
  Status status;  // the last error it met
  WriteOutcome outcome = WriteOutcome::kUnknown;
  uint32_t attempts = 0;
};

// One node's health as the probes see it.
struct RouterNodeHealth {
  NodeId node = 0;
  bool up = true;
  uint64_t probes_sent = 0;
  uint64_t probes_answered = 0;   // healthy or not
  uint64_t probes_unhealthy = 0;  // answered "not healthy"
  uint64_t probes_missed = 0;     // unanswered within probe_timeout_ms
  uint64_t unreachable = 0;       // the transport reported it unreachable
  int64_t last_rtt_micros = 0;
};

// What the Router knows of one partition.
struct RouterPartitionState {
  PartitionId partition = 0;
  NodeId primary = 0;   // cached; 0 unknown
  Lsn session_lsn = 0;  // the highest LSN seen (kSession reads' min_lsn)
};

// Counters since the Router was opened, and its current view.
struct RouterStats {
  uint64_t requests = 0;          // accepted by Submit
  uint64_t attempts = 0;          // requests sent to a node
  uint64_t redirects = 0;         // attempts that followed a leader hint at once
  uint64_t retries = 0;           // attempts after a backoff
  uint64_t attempt_timeouts = 0;  // attempts given up unanswered
  uint64_t deadlines_exceeded = 0;
  uint64_t refused_full = 0;      // Submit refused: requests_max reached
  uint64_t partial_writes = 0;    // committed short of their concern
  uint64_t unknown_outcomes = 0;  // writes that ended kUnknown
  uint64_t dead_letters = 0;      // now in the queue
  uint64_t dead_letters_added = 0;
  uint64_t dead_letters_dropped = 0;  // pushed out of a full queue
  uint64_t dead_letters_settled = 0;  // updated by an answer that came late
  uint64_t late_answers = 0;          // answers for requests already finished
  std::vector<RouterNodeHealth> nodes;
  std::vector<RouterPartitionState> partitions;
};

class Router {
 public:
  using WriteCallback = std::function<void(WriteResult)>;
  using ReadCallback = std::function<void(StatusOr<VersionedValue>)>;

  // Validates the options, registers on the transport under options.id and
  // starts the timer thread.
  [[nodiscard]] static StatusOr<std::unique_ptr<Router>> Open(const RouterOptions& options);
  // Unregisters from the transport, stops the timer thread and answers every
  // request still held: Unavailable, and a write that was sent is kUnknown.
  // The dead-letter queue lives in memory and ends with the Router.
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Blocking forms.
  WriteResult Put(std::string_view key, std::string_view value,
                  const RouterWriteOptions& options = {});
  WriteResult Delete(std::string_view key, const RouterWriteOptions& options = {});
  // Writes `value` only if the key's version is `expected_version` (0: the
  // key must be absent); otherwise Aborted, nothing written.
  WriteResult CompareAndSet(std::string_view key, Lsn expected_version, std::string_view value,
                            const RouterWriteOptions& options = {});
  // Applies the batch atomically. Its keys must all belong to one partition
  // (InvalidArgument otherwise, naming two keys that differ).
  WriteResult Write(const WriteBatch& batch, const RouterWriteOptions& options = {});
  // NotFound if the key is absent.
  StatusOr<VersionedValue> Get(std::string_view key, const RouterReadOptions& options = {});

  // Callback forms: `done` is called exactly once.
  void PutAsync(std::string_view key, std::string_view value, const RouterWriteOptions& options,
                WriteCallback done);
  void DeleteAsync(std::string_view key, const RouterWriteOptions& options, WriteCallback done);
  void CompareAndSetAsync(std::string_view key, Lsn expected_version, std::string_view value,
                          const RouterWriteOptions& options, WriteCallback done);
  void WriteAsync(const WriteBatch& batch, const RouterWriteOptions& options, WriteCallback done);
  void GetAsync(std::string_view key, const RouterReadOptions& options, ReadCallback done);

  // The dead-letter queue, oldest first.
  std::vector<DeadLetter> DeadLetters();
  // Sends the dead letter again with its own session, within `deadline_ms`
  // (0: RouterOptions::deadline_ms). A definite answer removes it from the
  // queue; another timeout leaves it there (the result names it). NotFound
  // if there is no such letter; FailedPrecondition if it is being retried.
  WriteResult RetryDeadLetter(uint64_t id, uint32_t deadline_ms = 0);
  // Forgets the dead letter. NotFound if there is none; FailedPrecondition if
  // it is being retried.
  [[nodiscard]] Status DropDeadLetter(uint64_t id);

  // The partition that owns `key`.
  PartitionId PartitionOf(std::string_view key);
  RouterStats GetStats();

 private:
  struct State;
  explicit Router(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace toydb

#endif  // TOYDB_ROUTER_H_
