#ifndef TOYDB_SIM_PING_ORACLE_H_
#define TOYDB_SIM_PING_ORACLE_H_

// PingOracle: the checker of the ping scenario. It sees every message the
// ping nodes send and receive and every counter they persist or recover, and
// records the first violation of: nothing is delivered that was not sent,
// exactly as sent (no corruption, no invention); a persisted counter never
// goes back after a restart; every liveness ping is echoed. It lives outside
// the nodes, so it survives their crashes. Single-threaded.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "toydb/message.h"

namespace toydb::sim {

class PingOracle {
 public:
  // Tracking more sent messages than this is reported as a failure.
  static constexpr size_t kMaxTrackedMessages = size_t{1} << 20;

  void OnSent(const Message& message);
  void OnDelivered(const Message& message);
  void OnPersisted(NodeId node, uint64_t counter);
  void OnRecovered(NodeId node, uint64_t counter);
  // A ping from `pinger` to `peer` with `id` must be echoed before the end.
  void ExpectEcho(NodeId pinger, NodeId peer, uint64_t id);
  // Records liveness failures for every ping still unanswered.
  void CheckAllEchoed();
  void Fail(const std::string& what);

  bool ok() const { return failure_.empty(); }
  const std::string& failure() const { return failure_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t echoed() const { return echoed_; }

 private:
  // (from, to, type, id): unique per message the ping nodes send.
  using Key = std::tuple<NodeId, NodeId, uint8_t, uint64_t>;
  static bool KeyOf(const Message& message, Key* key);
  void OnEcho(NodeId pinger, NodeId peer, uint64_t id);

  std::map<Key, Message> sent_;
  std::map<NodeId, uint64_t> persisted_;
  std::set<std::tuple<NodeId, NodeId, uint64_t>> awaiting_echo_;
  std::string failure_;
  uint64_t delivered_ = 0;
  uint64_t echoed_ = 0;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_PING_ORACLE_H_
