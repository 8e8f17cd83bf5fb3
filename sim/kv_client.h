#ifndef TOYDB_SIM_KV_CLIENT_H_
#define TOYDB_SIM_KV_CLIENT_H_

// KvClient: a simulated client of the replicated key-value store, on a node
// of its own (it never crashes). It issues one request at a time: puts,
// deletes, compare-and-sets and reads at every consistency level, mostly
// with kMajority concern and sometimes kLeader, kCount or kAll; it follows
// leader hints, retries on timeouts and refusals (a session write keeps its
// (client id, sequence), so the replicas apply it once), and gives up after a
// bounded number of attempts. Every write carries a value no other write
// has. Every outcome goes to the KvOracle's history. Owned by its SimNode;
// single-threaded.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/kv_oracle.h"
#include "sim/sim_node.h"

namespace toydb::sim {

struct KvClientConfig {
  std::vector<PartitionConfig> partitions;
  uint32_t keys_per_partition = 6;
  // Simulated time between the end of one request and the next.
  int64_t min_think_micros = 0;
  int64_t max_think_micros = 10'000;
  // An attempt without an answer is retried elsewhere after this long.
  int64_t attempt_timeout_micros = 400'000;
  // Wait before retrying where no primary is known.
  int64_t min_backoff_micros = 10'000;
  int64_t max_backoff_micros = 40'000;
  uint32_t max_attempts = 20;
  uint32_t max_value_padding_bytes = 200;
  // Every request is a write (put, delete, compare-and-set) with kMajority
  // concern: the steady write load of the failover measurement.
  bool majority_writes_only = false;
  // A member that left an attempt unanswered is not tried again, nor taken
  // as the primary from a hint, until it answers something: a crashed
  // primary then costs one attempt timeout, not one per draw that picks it.
  bool avoid_unanswered_member = false;
  // The client issues nothing at or after this time (a request in flight
  // still completes).
  int64_t stop_micros = 0;
};

class KvClient final : public SimProcess {
 public:
  static constexpr uint64_t kNextOpTimer = 1;
  // Attempt timeouts use ids from here on, one per attempt.
  static constexpr uint64_t kFirstAttemptTimer = 16;

  static StatusOr<std::unique_ptr<SimProcess>> Create(const NodeContext& ctx,
                                                      const KvClientConfig& config,
                                                      KvOracle* oracle);

  void OnMessage(const Message& message) override;
  void OnTimer(uint64_t timer_id) override;

  uint64_t completed() const { return completed_; }

 private:
  struct Op {
    ClientRequest request;
    std::optional<size_t> write;  // the oracle's index, for writes
    uint32_t attempts = 0;
    NodeId target = 0;
    uint64_t attempt_timer = 0;  // 0: no timeout pending
    uint64_t retry_timer = 0;    // 0: no backoff pending
    int64_t issued_micros = 0;   // the first attempt's send time
  };

  KvClient(const NodeContext& ctx, const KvClientConfig& config, KvOracle* oracle);
  void ScheduleNext();
  void StartOp();
  ClientRequest MakeRequest(const PartitionConfig& partition);
  void SetWrite(ClientRequest& request);
  void SetRead(ClientRequest& request);
  void Attempt();
  void Retry(NodeId target, bool backoff);
  void Finish();
  void OnResponse(const ClientResponse& response, NodeId from);
  void OnSuccess(const ClientResponse& response, NodeId from);
  void OnFailure(const ClientResponse& response);
  NodeId RandomMember(PartitionId partition);
  // Whether `node` is the member of `partition` that last left an attempt
  // unanswered (only with avoid_unanswered_member).
  bool Unanswered(PartitionId partition, NodeId node) const;
  void OnUnanswered(PartitionId partition, NodeId node);
  const PartitionConfig& PartitionOf(PartitionId id) const;
  std::string KeyOf(PartitionId partition, uint32_t index) const;
  void Check(const Status& s);

  NodeContext ctx_;
  const KvClientConfig config_;
  KvOracle* const oracle_;
  std::optional<Op> op_;
  uint64_t next_sequence_ = 1;
  uint64_t next_timer_ = kFirstAttemptTimer;
  uint64_t completed_ = 0;
  std::map<PartitionId, NodeId> leader_;          // the primary as last heard
  std::map<PartitionId, NodeId> unanswered_;      // see avoid_unanswered_member
  std::map<PartitionId, Lsn> session_lsn_;        // highest LSN seen per partition
  std::map<std::string, Lsn> known_version_;      // per key, for compare-and-set
  std::map<std::string, Lsn> own_acked_version_;  // per key: own kMajority/kAll writes
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_KV_CLIENT_H_
