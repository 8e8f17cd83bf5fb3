#include "sim/ping_node.h"

#include <fmt/format.h>

#include <variant>

#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb::sim {
namespace {

// The counter file: value u64 | Checksum32(value) u32.
constexpr size_t kCounterFileBytes = 12;

std::string EncodeCounter(uint64_t value) {
  std::string bytes;
  PutFixed64(&bytes, value);
  PutFixed32(&bytes, Checksum32(bytes));
  return bytes;
}

}  // namespace

PingNode::PingNode(const NodeContext& ctx, const PingNodeConfig& config, PingOracle* oracle,
                   uint64_t counter)
    : ctx_(ctx), config_(config), oracle_(oracle), counter_(counter) {}

StatusOr<std::unique_ptr<SimProcess>> PingNode::Create(const NodeContext& ctx,
                                                       const PingNodeConfig& config,
                                                       PingOracle* oracle) {
  StatusOr<uint64_t> counter = ReadCounter(ctx.disk);
  if (!counter.ok()) return counter.status();
  oracle->OnRecovered(ctx.id, *counter);
  std::unique_ptr<PingNode> node(new PingNode(ctx, config, oracle, *counter));
  Status s = node->ArmTimer();
  if (!s.ok()) return s;
  return std::unique_ptr<SimProcess>(std::move(node));
}

StatusOr<uint64_t> PingNode::ReadCounter(Env* disk) {
  if (!disk->FileExists(kCounterPath)) return uint64_t{0};
  StatusOr<std::string> bytes = disk->ReadFileToString(kCounterPath);
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() != kCounterFileBytes ||
      Checksum32(std::string_view(*bytes).substr(0, 8)) != DecodeFixed32(bytes->data() + 8)) {
    return absl::DataLossError(fmt::format("{} is damaged", kCounterPath));
  }
  return DecodeFixed64(bytes->data());
}

StatusOr<uint64_t> PingNode::NextId() {
  Status s = ctx_.disk->CreateDir("/ping");
  if (s.ok()) s = ctx_.disk->WriteFileAtomically(kCounterPath, EncodeCounter(counter_ + 1));
  if (!s.ok()) return s;
  oracle_->OnPersisted(ctx_.id, ++counter_);
  return counter_;
}

Status PingNode::ArmTimer() {
  return ctx_.timers->SetTimer(
      ctx_.rng->Range(config_.min_ping_interval_micros, config_.max_ping_interval_micros),
      kPingTimer);
}

void PingNode::OnTimer(uint64_t timer_id) {
  if (timer_id != kPingTimer) return oracle_->Fail(fmt::format("unknown timer {}", timer_id));
  if (!config_.peers.empty()) {
    SendPing(config_.peers[ctx_.rng->Uniform(config_.peers.size())], /*expect_echo=*/false);
  }
  Status s = ArmTimer();
  if (!s.ok()) oracle_->Fail(fmt::format("node {}: {}", ctx_.id, s.ToString()));
}

void PingNode::SendLivenessPing(NodeId peer) { SendPing(peer, /*expect_echo=*/true); }

Message PingNode::MakePing(NodeId peer, uint64_t id) {
  Message m{.from = ctx_.id, .to = peer};
  if (id % 2 == 0) {
    m.body = HealthProbe{.probe_id = id, .sent_micros = ctx_.clock->NowMicros()};
    return m;
  }
  ClientRequest request{.client_id = ctx_.id, .sequence = id, .op = OpType::kPut};
  request.key = fmt::format("ping-{}-{}", ctx_.id, id);
  request.value = ctx_.rng->Bytes(ctx_.rng->Uniform(config_.max_payload_bytes + 1));
  m.body = std::move(request);
  return m;
}

void PingNode::SendPing(NodeId peer, bool expect_echo) {
  StatusOr<uint64_t> id = NextId();
  if (!id.ok()) return oracle_->Fail(fmt::format("node {}: {}", ctx_.id, id.status().ToString()));
  if (expect_echo) oracle_->ExpectEcho(ctx_.id, peer, *id);
  Send(MakePing(peer, *id));
}

void PingNode::OnMessage(const Message& message) {
  oracle_->OnDelivered(message);
  if (message.to != ctx_.id) {
    return oracle_->Fail(fmt::format("node {} got a message for {}", ctx_.id, message.to));
  }
  Echo(message);
}

void PingNode::Echo(const Message& ping) {
  Message reply{.from = ctx_.id, .to = ping.from};
  if (auto* probe = std::get_if<HealthProbe>(&ping.body)) {
    reply.body = HealthProbeResponse{
        .probe_id = probe->probe_id, .sent_micros = probe->sent_micros, .healthy = true};
  } else if (auto* request = std::get_if<ClientRequest>(&ping.body)) {
    reply.body = ClientResponse{.client_id = request->client_id,
                                .sequence = request->sequence,
                                .found = true,
                                .value = request->value};
  } else {
    return;  // an echo: nothing to answer
  }
  Send(reply);
}

void PingNode::Send(const Message& message) {
  oracle_->OnSent(message);
  Status s = ctx_.transport->Send(message);
  if (!s.ok()) oracle_->Fail(fmt::format("node {} send: {}", ctx_.id, s.ToString()));
}

}  // namespace toydb::sim
