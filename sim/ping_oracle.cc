#include "sim/ping_oracle.h"

#include <fmt/format.h>

#include <variant>

namespace toydb::sim {

bool PingOracle::KeyOf(const Message& m, Key* key) {
  uint64_t id = 0;
  if (auto* p = std::get_if<HealthProbe>(&m.body))
    id = p->probe_id;
  else if (auto* r = std::get_if<HealthProbeResponse>(&m.body))
    id = r->probe_id;
  else if (auto* c = std::get_if<ClientRequest>(&m.body))
    id = c->sequence;
  else if (auto* s = std::get_if<ClientResponse>(&m.body))
    id = s->sequence;
  else
    return false;
  *key = {m.from, m.to, static_cast<uint8_t>(TypeOf(m)), id};
  return true;
}

void PingOracle::OnSent(const Message& m) {
  Key key;
  if (!KeyOf(m, &key))
    return Fail(fmt::format("sent an unexpected {}", MessageTypeName(TypeOf(m))));
  if (sent_.size() >= kMaxTrackedMessages) return Fail("oracle: too many messages to track");
  auto [it, inserted] = sent_.emplace(key, m);
  // Re-sending the same reply (to a duplicated ping) is fine; reusing an id
  // for different content would make delivery checks ambiguous.
  if (!inserted && !(it->second == m)) {
    Fail(fmt::format("node {} reused id {} for different content", m.from, std::get<3>(key)));
  }
}

void PingOracle::OnDelivered(const Message& m) {
  ++delivered_;
  Key key;
  auto it = KeyOf(m, &key) ? sent_.find(key) : sent_.end();
  if (it == sent_.end()) {
    return Fail(fmt::format("delivered a {} from {} to {} that was never sent",
                            MessageTypeName(TypeOf(m)), m.from, m.to));
  }
  if (!(it->second == m)) {
    return Fail(fmt::format("delivered a {} from {} to {} that differs from the one sent",
                            MessageTypeName(TypeOf(m)), m.from, m.to));
  }
  if (auto* r = std::get_if<HealthProbeResponse>(&m.body)) OnEcho(m.to, m.from, r->probe_id);
  if (auto* s = std::get_if<ClientResponse>(&m.body)) OnEcho(m.to, m.from, s->sequence);
}

void PingOracle::OnPersisted(NodeId node, uint64_t counter) {
  uint64_t& persisted = persisted_[node];
  if (counter < persisted) {
    return Fail(fmt::format("node {} persisted counter {} below {}", node, counter, persisted));
  }
  persisted = counter;
}

void PingOracle::OnRecovered(NodeId node, uint64_t counter) {
  const uint64_t persisted = persisted_[node];
  if (counter < persisted) {
    Fail(
        fmt::format("node {} recovered counter {} but had persisted {}", node, counter, persisted));
  }
}

void PingOracle::ExpectEcho(NodeId pinger, NodeId peer, uint64_t id) {
  awaiting_echo_.insert({pinger, peer, id});
}

void PingOracle::OnEcho(NodeId pinger, NodeId peer, uint64_t id) {
  ++echoed_;
  awaiting_echo_.erase({pinger, peer, id});
}

void PingOracle::CheckAllEchoed() {
  if (awaiting_echo_.empty()) return;
  const auto& [pinger, peer, id] = *awaiting_echo_.begin();
  Fail(fmt::format("liveness: {} pings after the heal were not echoed, first {} -> {} id {}",
                   awaiting_echo_.size(), pinger, peer, id));
}

void PingOracle::Fail(const std::string& what) {
  if (failure_.empty()) failure_ = what;
}

}  // namespace toydb::sim
