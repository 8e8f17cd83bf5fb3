#include "src/replication/wire_messages.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <variant>

#include "absl/status/status.h"
#include "src/util/check.h"

namespace toydb::replication {
namespace {

static_assert(static_cast<uint8_t>(EntryType::kNormal) ==
                      static_cast<uint8_t>(LogEntryType::kNormal) &&
                  static_cast<uint8_t>(EntryType::kNoop) ==
                      static_cast<uint8_t>(LogEntryType::kNoop),
              "the core's entry types and the wire's share their values");
static_assert(kMaxLogEntryType == static_cast<uint8_t>(EntryType::kNoop),
              "every wire entry type has a core counterpart");

// ------------------------------------------------------------- core -> wire

LogEntry EntryToWire(const Entry& e) {
  return LogEntry{e.term, e.lsn, static_cast<LogEntryType>(e.type), e.payload};
}

VoteRequest VoteRequestToWire(PartitionId partition, const Message& m) {
  return VoteRequest{.partition = partition,
                     .term = m.term,
                     .candidate = m.from,
                     .last_lsn = m.last_lsn,
                     .last_term = m.last_term,
                     .pre_vote = m.kind == MessageKind::kPreVote,
                     .transfer = m.transfer};
}

VoteResponse VoteResponseToWire(PartitionId partition, const Message& m) {
  return VoteResponse{.partition = partition,
                      .term = m.term,
                      .granted = m.granted,
                      .pre_vote = m.kind == MessageKind::kPreVoteResponse};
}

AppendEntries AppendToWire(PartitionId partition, const Message& m) {
  AppendEntries a{.partition = partition,
                  .term = m.term,
                  .leader = m.from,
                  .prev_lsn = m.prev_lsn,
                  .prev_term = m.prev_term,
                  .commit_lsn = m.commit_lsn};
  a.entries.reserve(m.entries.size());
  for (const Entry& e : m.entries) a.entries.push_back(EntryToWire(e));
  return a;
}

AppendEntriesResponse AppendResponseToWire(PartitionId partition, const Message& m) {
  return AppendEntriesResponse{.partition = partition,
                               .term = m.term,
                               .reject = m.reject,
                               .match_lsn = m.match_lsn,
                               .accepted_lsn = m.accepted_lsn,
                               .rejected_prev_lsn = m.rejected_prev_lsn,
                               .hint_last_lsn = m.hint_last_lsn,
                               .hint_conflict_term = m.hint_conflict_term,
                               .hint_conflict_first_lsn = m.hint_conflict_first_lsn};
}

MessageBody BodyToWire(PartitionId partition, const Message& m) {
  switch (m.kind) {
    case MessageKind::kPreVote:
    case MessageKind::kVote:
      return VoteRequestToWire(partition, m);
    case MessageKind::kPreVoteResponse:
    case MessageKind::kVoteResponse:
      return VoteResponseToWire(partition, m);
    case MessageKind::kAppend:
      return AppendToWire(partition, m);
    case MessageKind::kAppendResponse:
      return AppendResponseToWire(partition, m);
    case MessageKind::kHeartbeat:
      return Heartbeat{.partition = partition,
                       .term = m.term,
                       .leader = m.from,
                       .commit_lsn = m.commit_lsn,
                       .context = m.context};
    case MessageKind::kHeartbeatResponse:
      return HeartbeatResponse{.partition = partition,
                               .term = m.term,
                               .context = m.context,
                               .match_lsn = m.match_lsn,
                               .accepted_lsn = m.accepted_lsn};
    case MessageKind::kTimeoutNow:
      return TransferLeadership{
          .partition = partition, .term = m.term, .leader = m.from, .target = m.to};
  }
  TOYDB_CHECK(false, fmt::format("unknown message kind {}", static_cast<int>(m.kind)));
  return {};
}

// ------------------------------------------------------------- wire -> core

Status Invalid(std::string_view what, const toydb::Message& m) {
  return absl::InvalidArgumentError(
      fmt::format("{} from node {}: {}", MessageTypeName(TypeOf(m)), m.from, what));
}

Status CheckSender(NodeId named, const toydb::Message& m) {
  if (named == m.from) return absl::OkStatus();
  return Invalid(fmt::format("names node {} as its sender", named), m);
}

// Entries must continue the log densely after prev_lsn, with terms that
// never decrease and lie within [prev_term, term], as a leader's log does.
Status CheckEntries(const AppendEntries& a, const toydb::Message& m) {
  if (a.prev_term > a.term) return Invalid("prev_term above the message's term", m);
  if (a.prev_lsn > std::numeric_limits<Lsn>::max() - a.entries.size()) {
    return Invalid("entry LSNs overflow", m);
  }
  Term previous = a.prev_term;
  for (size_t i = 0; i < a.entries.size(); ++i) {
    const LogEntry& e = a.entries[i];
    if (e.lsn != a.prev_lsn + 1 + i) {
      return Invalid(fmt::format("entry {} has LSN {}, expected {}", i, e.lsn, a.prev_lsn + 1 + i),
                     m);
    }
    if (e.term < previous || e.term > a.term) {
      return Invalid(fmt::format("entry at LSN {} has term {} outside [{}, {}]", e.lsn, e.term,
                                 previous, a.term),
                     m);
    }
    if (static_cast<uint8_t>(e.type) > kMaxLogEntryType) {
      return Invalid(
          fmt::format("entry at LSN {} has unknown type {}", e.lsn, static_cast<int>(e.type)), m);
    }
    previous = e.term;
  }
  return absl::OkStatus();
}

Message Envelope(const toydb::Message& m, MessageKind kind, Term term) {
  Message out;
  out.kind = kind;
  out.from = m.from;
  out.to = m.to;
  out.term = term;
  return out;
}

StatusOr<Message> FromBody(const VoteRequest& v, const toydb::Message& m) {
  if (Status s = CheckSender(v.candidate, m); !s.ok()) return s;
  Message out = Envelope(m, v.pre_vote ? MessageKind::kPreVote : MessageKind::kVote, v.term);
  out.last_lsn = v.last_lsn;
  out.last_term = v.last_term;
  out.transfer = v.transfer;
  return out;
}

StatusOr<Message> FromBody(const VoteResponse& v, const toydb::Message& m) {
  Message out =
      Envelope(m, v.pre_vote ? MessageKind::kPreVoteResponse : MessageKind::kVoteResponse, v.term);
  out.granted = v.granted;
  return out;
}

StatusOr<Message> FromBody(const AppendEntries& a, const toydb::Message& m) {
  if (Status s = CheckSender(a.leader, m); !s.ok()) return s;
  if (Status s = CheckEntries(a, m); !s.ok()) return s;
  Message out = Envelope(m, MessageKind::kAppend, a.term);
  out.prev_lsn = a.prev_lsn;
  out.prev_term = a.prev_term;
  out.commit_lsn = a.commit_lsn;
  out.entries.reserve(a.entries.size());
  for (const LogEntry& e : a.entries) {
    out.entries.push_back(Entry{e.term, e.lsn, static_cast<EntryType>(e.type), e.payload});
  }
  return out;
}

StatusOr<Message> FromBody(const AppendEntriesResponse& r, const toydb::Message& m) {
  Message out = Envelope(m, MessageKind::kAppendResponse, r.term);
  out.reject = r.reject;
  out.match_lsn = r.match_lsn;
  out.accepted_lsn = r.accepted_lsn;
  out.rejected_prev_lsn = r.rejected_prev_lsn;
  out.hint_last_lsn = r.hint_last_lsn;
  out.hint_conflict_term = r.hint_conflict_term;
  out.hint_conflict_first_lsn = r.hint_conflict_first_lsn;
  return out;
}

StatusOr<Message> FromBody(const Heartbeat& h, const toydb::Message& m) {
  if (Status s = CheckSender(h.leader, m); !s.ok()) return s;
  Message out = Envelope(m, MessageKind::kHeartbeat, h.term);
  out.commit_lsn = h.commit_lsn;
  out.context = h.context;
  return out;
}

StatusOr<Message> FromBody(const HeartbeatResponse& h, const toydb::Message& m) {
  Message out = Envelope(m, MessageKind::kHeartbeatResponse, h.term);
  out.context = h.context;
  out.match_lsn = h.match_lsn;
  out.accepted_lsn = h.accepted_lsn;
  return out;
}

StatusOr<Message> FromBody(const TransferLeadership& t, const toydb::Message& m) {
  if (Status s = CheckSender(t.leader, m); !s.ok()) return s;
  if (t.target != m.to) {
    return Invalid(fmt::format("targets node {} but is addressed to node {}", t.target, m.to), m);
  }
  return Envelope(m, MessageKind::kTimeoutNow, t.term);
}

// Translates the core's bodies; refuses every other (snapshots, client
// requests, health probes).
struct FromWireVisitor {
  const toydb::Message& m;

  template <typename Body>
  StatusOr<std::pair<PartitionId, Message>> operator()(const Body& body) const {
    if constexpr (requires { FromBody(body, m); }) {
      StatusOr<Message> core = FromBody(body, m);
      if (!core.ok()) return core.status();
      return std::make_pair(body.partition, *std::move(core));
    } else {
      return Invalid("not a replica protocol message", m);
    }
  }
};

}  // namespace

toydb::Message ToWire(PartitionId partition, const Message& m) {
  return toydb::Message{.from = m.from, .to = m.to, .body = BodyToWire(partition, m)};
}

StatusOr<std::pair<PartitionId, Message>> FromWire(const toydb::Message& m) {
  return std::visit(FromWireVisitor{m}, m.body);
}

Status ValidateWireLimits(const ReplicaConfig& config) {
  if (config.max_append_entries > kMaxEntriesPerAppend) {
    return absl::InvalidArgumentError(
        fmt::format("max_append_entries {} exceeds the wire's {} entries per append",
                    config.max_append_entries, kMaxEntriesPerAppend));
  }
  // The core always sends at least one entry, whatever its size.
  const uint64_t largest_single = config.max_entry_bytes + EntryBytes(Entry{});
  const uint64_t batch_bytes = std::max(config.max_append_bytes, largest_single);
  if (batch_bytes > kMaxAppendEntryBytes) {
    return absl::InvalidArgumentError(fmt::format(
        "appends of up to {} entry bytes (max_append_bytes {}, max_entry_bytes {}) may exceed "
        "the {}-byte frame: need max_append_bytes <= {} and max_entry_bytes <= {}",
        batch_bytes, config.max_append_bytes, config.max_entry_bytes, kMaxFrameBytes,
        kMaxAppendEntryBytes, kMaxAppendEntryBytes - EntryBytes(Entry{})));
  }
  return absl::OkStatus();
}

bool PartitionOf(const toydb::Message& m, PartitionId* partition) {
  // Replication bodies come first in MessageType, up to kTransferLeadership.
  if (TypeOf(m) > MessageType::kTransferLeadership) return false;
  *partition = std::visit(
      [](const auto& body) -> PartitionId {
        if constexpr (requires { body.partition; }) {
          return body.partition;
        } else {
          return 0;
        }
      },
      m.body);
  return true;
}

}  // namespace toydb::replication
