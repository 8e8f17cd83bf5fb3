// RouterCore (router_core.h): requests in, attempts out, answers judged.
#include "src/routing/router_core.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "src/transport/codec.h"
#include "src/util/check.h"

namespace toydb::routing {
namespace {

constexpr int64_t kNoTimer = std::numeric_limits<int64_t>::min();
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

bool RoutedToPrimary(const ClientRequest& request) {
  return request.op != OpType::kGet || request.consistency == ReadConsistency::kLinearizable ||
         request.consistency == ReadConsistency::kQuorum;
}

absl::StatusCode CodeOf(const ClientResponse& response) {
  return static_cast<absl::StatusCode>(response.code);
}

Status StatusOf(const ClientResponse& response) {
  if (response.code == 0) return absl::OkStatus();
  return Status(CodeOf(response), response.message);
}

}  // namespace

StatusOr<std::unique_ptr<RouterCore>> RouterCore::Create(const RouterOptions& options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  std::vector<PartitionId> ids;
  for (const PartitionConfig& partition : options.partitions) ids.push_back(partition.id);
  StatusOr<HashRing> ring = HashRing::Create(ids, options.virtual_nodes);
  if (!ring.ok()) return ring.status();
  return std::unique_ptr<RouterCore>(new RouterCore(options, std::move(*ring)));
}

RouterCore::RouterCore(const RouterOptions& options, HashRing ring)
    : options_(options), ring_(std::move(ring)), rng_(options.seed) {
  for (const PartitionConfig& config : options.partitions) {
    partitions_[config.id].config = config;
    for (NodeId member : config.members) nodes_[member].health.node = member;
  }
  read_client_id_ = NewClientId();
}

int64_t RouterCore::Now(int64_t now_micros) {
  // Inputs from several threads may carry times slightly out of order.
  now_ = std::max(now_, now_micros);
  return now_;
}

uint64_t RouterCore::NewClientId() {
  uint64_t id = 0;
  while (id == 0) id = rng_();  // 0 means "no session" to the replicas
  return id;
}

// ---- Requests in -----------------------------------------------------------

uint64_t RouterCore::Submit(RouterRequest request, int64_t now_micros) {
  const int64_t now = Now(now_micros);
  const uint64_t id = next_op_++;
  const bool read = request.body.op == OpType::kGet;
  if (ops_.size() >= options_.requests_max) {
    stats_.refused_full++;
    Refuse(
        id, read,
        absl::ResourceExhaustedError(fmt::format(
            "the router holds {} requests, its limit (RouterOptions.requests_max)", ops_.size())));
    return id;
  }
  Op op;
  op.id = id;
  op.request = std::move(request.body);
  op.write = !read;
  const uint32_t deadline_ms =
      request.deadline_ms != 0 ? request.deadline_ms : options_.deadline_ms;
  op.deadline = now + int64_t{deadline_ms} * 1000;
  if (Status s = Prepare(op); !s.ok()) {
    Refuse(id, read, s);
    return id;
  }
  stats_.requests++;
  ops_.emplace(id, std::move(op));
  Admit(id, now);
  return id;
}

void RouterCore::Refuse(uint64_t id, bool read, const Status& status) {
  RouterCompletion completion;
  completion.op = id;
  completion.read = read;
  completion.write.status = status;
  completion.value = status;
  ready_.completions.push_back(std::move(completion));
}

// Checks the request and finds its partition.
Status RouterCore::Prepare(Op& op) {
  ClientRequest& r = op.request;
  if (static_cast<uint8_t>(r.op) > kMaxOpType) return absl::InvalidArgumentError("unknown op");
  if (static_cast<uint8_t>(r.consistency) > kMaxReadConsistency) {
    return absl::InvalidArgumentError("unknown read consistency");
  }
  if (static_cast<uint8_t>(r.concern.kind) > kMaxWriteConcernKind) {
    return absl::InvalidArgumentError("unknown write concern");
  }
  r.client_id = 0;
  r.sequence = 0;
  r.min_lsn = 0;
  if (Status s = CheckFitsFrame(op); !s.ok()) return s;
  if (r.op != OpType::kBatch) {
    if (r.key.empty()) return absl::InvalidArgumentError("key is empty");
    r.partition = ring_.Lookup(r.key);
    return absl::OkStatus();
  }
  if (r.batch.empty()) return absl::InvalidArgumentError("write batch is empty");
  if (r.batch.size() > kMaxOpsPerBatch) {
    return absl::InvalidArgumentError(fmt::format("write batch has {} operations; the limit is {}",
                                                  r.batch.size(), kMaxOpsPerBatch));
  }
  for (const BatchOp& op : r.batch) {
    if (op.type != OpType::kPut && op.type != OpType::kDelete) {
      return absl::InvalidArgumentError("a batch holds only puts and deletes");
    }
    if (op.key.empty()) return absl::InvalidArgumentError("key is empty");
  }
  r.partition = ring_.Lookup(r.batch[0].key);
  for (const BatchOp& op : r.batch) {
    const PartitionId other = ring_.Lookup(op.key);
    if (other != r.partition) {
      // A batch is atomic only within one replica group: refuse rather than
      // apply part of it.
      return absl::InvalidArgumentError(fmt::format(
          "write batch spans partitions: key \"{}\" belongs to partition {}, key \"{}\" to "
          "partition {}; a batch must stay within one partition",
          r.batch[0].key, r.partition, op.key, other));
    }
  }
  return absl::OkStatus();
}

// A request the codec cannot frame would be refused by the transport at
// every attempt and end, after its deadline, as an unknown outcome: refuse it
// now, as not written. Only requests near the limit are encoded to be sure.
Status RouterCore::CheckFitsFrame(const Op& op) const {
  const ClientRequest& r = op.request;
  constexpr size_t kPerOpBytes = 16;  // an op's type and length fields, at most
  size_t bytes = r.key.size() + r.value.size();
  for (const BatchOp& b : r.batch) bytes += b.key.size() + b.value.size() + kPerOpBytes;
  constexpr size_t kSlackBytes = 4096;  // the envelope and fixed fields, generously
  if (bytes + kSlackBytes <= kMaxFrameBytes) return absl::OkStatus();
  StatusOr<std::string> frame = EncodeFrame(Message{.from = options_.id, .to = 1, .body = r});
  if (frame.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format(
      "the request carries {} bytes of keys and values; it must fit one frame of {} bytes "
      "(kMaxFrameBytes): {}",
      bytes, kMaxFrameBytes, std::string(frame.status().message())));
}

void RouterCore::Admit(uint64_t id, int64_t now) {
  Op& op = ops_.at(id);
  SetTimer(op, op.deadline);
  if (op.write) {
    if (!TakeSlot(op)) {
      partitions_.at(op.request.partition).waiting.push_back(id);
      return;
    }
  } else {
    op.request.client_id = read_client_id_;
    op.request.sequence = id;  // unique: matches the answer to the read
    op.has_session = true;
    by_session_[{op.request.client_id, op.request.sequence}] = id;
  }
  StartAttempt(op, now);
}

// Gives the write a client id of its partition's pool that has no write in
// flight, and that id's next sequence. False if every id is busy.
bool RouterCore::TakeSlot(Op& op) {
  Partition& p = partitions_.at(op.request.partition);
  size_t index = 0;
  while (index < p.slots.size() && p.slots[index].busy) ++index;
  if (index == p.slots.size()) {
    if (p.slots.size() >= options_.writes_in_flight_per_partition_max) return false;
    p.slots.push_back(Slot{NewClientId(), 1, false});
  }
  Slot& slot = p.slots[index];
  slot.busy = true;
  op.slot = static_cast<int>(index);
  op.request.client_id = slot.client_id;
  op.request.sequence = slot.next_sequence;
  op.has_session = true;
  const bool fresh =
      by_session_.emplace(std::pair{slot.client_id, slot.next_sequence}, op.id).second;
  TOYDB_CHECK(fresh, "a session (client id, sequence) was given to two writes");
  return true;
}

// Frees the write's slot. `retire`: the write leaves for the dead-letter
// queue, which keeps its client id (a retry from there must not be refused
// as stale), so the slot takes a new one.
void RouterCore::ReleaseSlot(Op& op, bool retire) {
  if (op.slot < 0) return;
  Partition& p = partitions_.at(op.request.partition);
  Slot& slot = p.slots[static_cast<size_t>(op.slot)];
  TOYDB_CHECK(slot.busy && slot.client_id == op.request.client_id &&
                  slot.next_sequence == op.request.sequence,
              "a write released a slot it does not hold");
  if (retire) {
    slot.client_id = NewClientId();
    slot.next_sequence = 1;
  } else {
    slot.next_sequence++;
  }
  slot.busy = false;
  op.slot = -1;
  while (!p.waiting.empty()) {
    const uint64_t next = p.waiting.front();
    p.waiting.pop_front();
    auto it = ops_.find(next);
    if (it == ops_.end()) continue;
    TOYDB_CHECK(TakeSlot(it->second), "a freed slot could not be taken");
    StartAttempt(it->second, now_);
    break;
  }
}

// ---- Attempts --------------------------------------------------------------

void RouterCore::StartAttempt(Op& op, int64_t now) {
  Partition& p = partitions_.at(op.request.partition);
  const NodeId target = ChooseTarget(op);
  op.retry_at = 0;
  op.target = target;
  op.attempts++;
  op.attempt_expires = now + int64_t{options_.attempt_timeout_ms} * 1000;
  stats_.attempts++;
  Message message;
  message.from = options_.id;
  message.to = target;
  ClientRequest request = op.request;
  if (request.op == OpType::kGet && request.consistency == ReadConsistency::kSession) {
    request.min_lsn = p.session_lsn;
  }
  message.body = std::move(request);
  ready_.messages.push_back(std::move(message));
  SetTimer(op, std::min(op.attempt_expires, op.deadline));
}

NodeId RouterCore::ChooseTarget(Op& op) {
  Partition& p = partitions_.at(op.request.partition);
  if (RoutedToPrimary(op.request)) {
    if (p.primary != 0) return p.primary;
    return NextMember(p, op.last_failed, /*prefer_up=*/true);
  }
  // kSession and kAny: any replica, up ones first, not the one that just
  // failed if there is another, rotating to spread the load.
  std::vector<NodeId> candidates;
  for (NodeId m : p.config.members) {
    if (IsUp(m) && m != op.last_failed) candidates.push_back(m);
  }
  if (candidates.empty()) {
    for (NodeId m : p.config.members) {
      if (m != op.last_failed) candidates.push_back(m);
    }
  }
  if (candidates.empty()) candidates = p.config.members;
  return candidates[p.read_rotation++ % candidates.size()];
}

// The next member in turn, for when the primary is unknown: up ones first,
// not `avoid` if another will do.
NodeId RouterCore::NextMember(Partition& p, NodeId avoid, bool prefer_up) {
  const std::vector<NodeId>& members = p.config.members;
  const size_t n = members.size();
  for (int pass = prefer_up ? 0 : 1; pass < 3; ++pass) {
    for (size_t i = 0; i < n; ++i) {
      const size_t at = (p.next_member + i) % n;
      const NodeId m = members[at];
      if (pass == 0 && !IsUp(m)) continue;
      if (pass < 2 && m == avoid && n > 1) continue;
      p.next_member = (at + 1) % n;
      return m;
    }
  }
  return members[0];
}

void RouterCore::NotePrimary(Partition& p, NodeId node) {
  if (node != 0 && p.config.Has(node)) p.primary = node;
}

// ---- Answers ---------------------------------------------------------------

void RouterCore::Receive(const Message& message, int64_t now_micros) {
  const int64_t now = Now(now_micros);
  if (const auto* response = std::get_if<ClientResponse>(&message.body)) {
    OnClientResponse(message.from, *response, now);
  } else if (const auto* probe = std::get_if<HealthProbeResponse>(&message.body)) {
    OnProbeResponse(message.from, *probe, now);
  }
}

void RouterCore::OnClientResponse(NodeId from, const ClientResponse& response, int64_t now) {
  auto found = by_session_.find({response.client_id, response.sequence});
  if (found == by_session_.end()) {
    stats_.late_answers++;
    SettleLetter(response);
    return;
  }
  Op& op = ops_.at(found->second);
  Partition& p = partitions_.at(op.request.partition);
  bool maybe_applied = false;
  const Verdict verdict = Judge(op, response, &maybe_applied);
  if (verdict == Verdict::kDone) {
    if (response.lsn != 0 && (response.code == 0 || op.write)) {
      p.session_lsn = std::max(p.session_lsn, response.lsn);
    }
    if (response.code == 0 && RoutedToPrimary(op.request)) NotePrimary(p, from);
    FinishWithResponse(op, response);
    return;
  }
  // A failure of an attempt already given up says nothing new.
  if (from != op.target) return;
  AttemptFailed(op, from, maybe_applied, StatusOf(response), response.leader_hint, now);
}

// An answer to a write that already timed out into the dead-letter queue:
// if it is final, the letter now says what became of the write (the host
// sees it applied there), and stays until the host drops it.
void RouterCore::SettleLetter(const ClientResponse& response) {
  for (auto& [id, letter] : letters_) {
    DeadLetter& d = letter.letter;
    if (d.request.client_id != response.client_id || d.request.sequence != response.sequence) {
      continue;
    }
    const absl::StatusCode code = CodeOf(response);
    const bool committed = code == absl::StatusCode::kOk ||
                           (code == absl::StatusCode::kDeadlineExceeded && response.lsn != 0);
    const bool refused = code == absl::StatusCode::kAborted ||
                         code == absl::StatusCode::kInvalidArgument ||
                         (code == absl::StatusCode::kFailedPrecondition && response.lsn != 0);
    if (committed) {
      d.outcome = WriteOutcome::kCommitted;
      d.status = code == absl::StatusCode::kOk
                     ? absl::OkStatus()
                     : WithWriteOutcome(StatusOf(response), WriteOutcome::kCommitted, response.lsn);
      stats_.dead_letters_settled++;
    } else if (refused) {
      d.outcome = WriteOutcome::kNotWritten;
      d.status = StatusOf(response);
      stats_.dead_letters_settled++;
    }
    return;
  }
}

// Sorts an answer: final, or worth another attempt. For a write, also
// whether the attempt may have been applied (so that running out of time
// leaves its outcome unknown).
RouterCore::Verdict RouterCore::Judge(const Op& op, const ClientResponse& response,
                                      bool* maybe_applied) const {
  *maybe_applied = false;
  const absl::StatusCode code = CodeOf(response);
  switch (code) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kInvalidArgument:
      return Verdict::kDone;
    case absl::StatusCode::kAborted:  // a compare-and-set found another version
      return op.write ? Verdict::kDone : Verdict::kRetry;
    case absl::StatusCode::kFailedPrecondition:
      // Not the primary (no LSN: never proposed). With an LSN it is a
      // write's applied result (a stale session), which is final.
      return op.write && response.lsn != 0 ? Verdict::kDone : Verdict::kRedirect;
    case absl::StatusCode::kNotFound:  // the node hosts no replica of it
      return Verdict::kRedirect;
    case absl::StatusCode::kResourceExhausted:  // refused before proposing
      return Verdict::kRetry;
    case absl::StatusCode::kDeadlineExceeded:
      // With an LSN: committed, short of its concern (final, partial).
      // Without: it may still commit.
      if (op.write && response.lsn != 0) return Verdict::kDone;
      *maybe_applied = op.write;
      return Verdict::kRetry;
    default:
      // Unavailable (a primary that lost its role, a closing node) and
      // anything unexpected: the write may have been proposed.
      *maybe_applied = op.write;
      return Verdict::kRetry;
  }
}

void RouterCore::AttemptFailed(Op& op, NodeId node, bool maybe_applied, const Status& error,
                               NodeId hint, int64_t now) {
  Partition& p = partitions_.at(op.request.partition);
  op.target = 0;
  op.last_error = error;
  op.last_failed = node;
  if (op.write && maybe_applied) op.maybe_applied = true;
  if (RoutedToPrimary(op.request)) {
    if (hint != 0 && hint != node && p.config.Has(hint)) {
      NotePrimary(p, hint);
      // Follow a hint at once, but not round and round between nodes that
      // name each other during an election.
      if (op.redirects < p.config.members.size()) {
        op.redirects++;
        stats_.redirects++;
        StartAttempt(op, now);
        return;
      }
    } else if (p.primary == node) {
      p.primary = 0;  // ask the members in turn
    }
  }
  Backoff(op, now);
}

void RouterCore::Backoff(Op& op, int64_t now) {
  const uint32_t shift = std::min<uint32_t>(op.failures, 20);
  const uint64_t delay_ms =
      std::min<uint64_t>(options_.backoff_max_ms, uint64_t{options_.backoff_initial_ms} << shift);
  op.failures++;
  op.redirects = 0;
  // Equal jitter: at least half the delay (the backoff still grows), the
  // rest random (clients that failed together do not retry together).
  const int64_t delay_us = static_cast<int64_t>(delay_ms) * 1000;
  const int64_t half = delay_us / 2;
  const int64_t jitter =
      half > 0 ? static_cast<int64_t>(rng_() % static_cast<uint64_t>(half + 1)) : 0;
  op.retry_at = now + std::max<int64_t>(1, delay_us - half + jitter);
  stats_.retries++;
  SetTimer(op, std::min(op.retry_at, op.deadline));
}

// ---- Completion ------------------------------------------------------------

void RouterCore::FinishWithResponse(Op& op, const ClientResponse& response) {
  RouterCompletion completion;
  completion.op = op.id;
  completion.read = !op.write;
  if (!op.write) {
    if (response.code != 0) {
      completion.value = StatusOf(response);
    } else if (!response.found) {
      completion.value = absl::NotFoundError(fmt::format("key not found: {}", op.request.key));
    } else {
      completion.value = VersionedValue{response.value, response.version};
    }
    Finish(op, std::move(completion));
    return;
  }
  WriteResult& w = completion.write;
  w.version = response.version;
  w.lsn = response.lsn;
  w.acks = response.acks;
  w.replicas = response.replicas;
  const absl::StatusCode code = CodeOf(response);
  if (code == absl::StatusCode::kOk) {
    w.outcome = WriteOutcome::kCommitted;
  } else if (code == absl::StatusCode::kDeadlineExceeded) {
    // Committed, but fewer replicas hold it than its concern asked.
    w.outcome = WriteOutcome::kCommitted;
    w.status = WithWriteOutcome(StatusOf(response), WriteOutcome::kCommitted, response.lsn);
    stats_.partial_writes++;
  } else {
    w.outcome = WriteOutcome::kNotWritten;
    w.status = StatusOf(response);
  }
  if (op.dead_letter != 0) letters_.erase(op.dead_letter);  // settled
  ReleaseSlot(op, /*retire=*/false);
  Finish(op, std::move(completion));
}

void RouterCore::Expire(Op& op, const Status& reason) {
  RouterCompletion completion;
  completion.op = op.id;
  completion.read = !op.write;
  const std::string last = op.last_error.ok()
                               ? std::string()
                               : fmt::format("; last error: {}", op.last_error.ToString());
  if (!op.write) {
    completion.value = Status(
        reason.code(),
        fmt::format("{} after {} attempts{}", std::string(reason.message()), op.attempts, last));
    Finish(op, std::move(completion));
    return;
  }
  if (op.target != 0) op.maybe_applied = true;  // its attempt is still out there
  WriteOutcome outcome = op.maybe_applied ? WriteOutcome::kUnknown : WriteOutcome::kNotWritten;
  if (op.dead_letter != 0 && letters_.count(op.dead_letter) != 0 &&
      letters_.at(op.dead_letter).letter.outcome == WriteOutcome::kUnknown) {
    outcome = WriteOutcome::kUnknown;  // an earlier try may still apply
  }
  const Status status =
      WithWriteOutcome(Status(reason.code(), fmt::format("{} after {} attempts; the write {}{}",
                                                         std::string(reason.message()), op.attempts,
                                                         outcome == WriteOutcome::kUnknown
                                                             ? "may or may not be applied"
                                                             : "was not applied",
                                                         last)),
                       outcome, 0);
  if (outcome == WriteOutcome::kUnknown) stats_.unknown_outcomes++;
  if (!op.has_session) {
    // It waited for a slot and was never sent: erase it from the queue.
    std::deque<uint64_t>& waiting = partitions_.at(op.request.partition).waiting;
    waiting.erase(std::remove(waiting.begin(), waiting.end(), op.id), waiting.end());
  }
  completion.write.status = status;
  completion.write.outcome = outcome;
  completion.write.dead_letter_id = AddDeadLetter(op, status, outcome);
  ReleaseSlot(op, /*retire=*/true);
  Finish(op, std::move(completion));
}

uint64_t RouterCore::AddDeadLetter(const Op& op, const Status& status, WriteOutcome outcome) {
  if (op.dead_letter != 0) {
    auto it = letters_.find(op.dead_letter);
    if (it != letters_.end()) {
      it->second.retrying = false;
      it->second.letter.status = status;
      it->second.letter.outcome = outcome;
      it->second.letter.attempts += op.attempts;
      return op.dead_letter;
    }
  }
  if (letters_.size() >= options_.dead_letters_max) {
    // Full: the oldest goes (its caller was told its outcome when it failed).
    auto oldest = letters_.begin();
    while (oldest != letters_.end() && oldest->second.retrying) ++oldest;
    if (oldest != letters_.end()) {
      letters_.erase(oldest);
      stats_.dead_letters_dropped++;
    }
  }
  Letter letter;
  letter.letter.id = next_letter_++;
  letter.letter.partition = op.request.partition;
  letter.letter.request = op.request;
  if (!op.has_session) {
    // Never sent: give it a session of its own for its retries.
    letter.letter.request.client_id = NewClientId();
    letter.letter.request.sequence = 1;
  }
  letter.letter.status = status;
  letter.letter.outcome = outcome;
  letter.letter.attempts = op.attempts;
  stats_.dead_letters_added++;
  const uint64_t id = letter.letter.id;
  letters_.emplace(id, std::move(letter));
  return id;
}

void RouterCore::Finish(Op& op, RouterCompletion completion) {
  if (op.has_session) by_session_.erase({op.request.client_id, op.request.sequence});
  if (op.timer != kNoTimer) timers_.erase({op.timer, op.id});
  TOYDB_CHECK(op.slot < 0, "a finished write still holds a slot");
  ops_.erase(op.id);
  ready_.completions.push_back(std::move(completion));
}

void RouterCore::Shutdown(int64_t now_micros) {
  Now(now_micros);
  std::vector<uint64_t> ids;
  for (const auto& [id, op] : ops_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = ops_.find(id);
    if (it != ops_.end()) Expire(it->second, absl::UnavailableError("the router is closing"));
  }
}

RouterReady RouterCore::TakeReady() {
  RouterReady out;
  std::swap(out, ready_);
  return out;
}

// ---- Time ------------------------------------------------------------------

void RouterCore::SetTimer(Op& op, int64_t at) {
  if (op.timer != kNoTimer) timers_.erase({op.timer, op.id});
  op.timer = at;
  timers_.insert({at, op.id});
}

void RouterCore::Tick(int64_t now_micros) {
  const int64_t now = Now(now_micros);
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const uint64_t id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    Op& op = ops_.at(id);
    op.timer = kNoTimer;
    OnTimer(op, now);
  }
  CheckProbes(now);
  if (options_.probe_interval_ms != 0 && now >= next_probe_at_) Probe(now);
}

void RouterCore::OnTimer(Op& op, int64_t now) {
  if (now >= op.deadline) {
    stats_.deadlines_exceeded++;
    Expire(op, absl::DeadlineExceededError(fmt::format("no definite answer within the deadline")));
  } else if (op.target != 0 && now >= op.attempt_expires) {
    stats_.attempt_timeouts++;
    const NodeId node = op.target;
    AttemptFailed(op, node, /*maybe_applied=*/true,
                  absl::DeadlineExceededError(fmt::format("node {} did not answer within {} ms",
                                                          node, options_.attempt_timeout_ms)),
                  0, now);
  } else if (op.target == 0 && op.retry_at != 0 && now >= op.retry_at) {
    StartAttempt(op, now);
  } else {
    SetTimer(op, op.deadline);  // waiting for a slot
  }
}

int64_t RouterCore::NextWakeMicros() const {
  int64_t next = timers_.empty() ? kNever : timers_.begin()->first;
  if (options_.probe_interval_ms != 0) next = std::min(next, next_probe_at_);
  for (const auto& [id, node] : nodes_) {
    if (node.probe_id != 0) {
      next = std::min(next, node.probe_sent + int64_t{options_.probe_timeout_ms} * 1000);
    }
  }
  return next;
}

// ---- Health ----------------------------------------------------------------

void RouterCore::Probe(int64_t now) {
  for (auto& [id, node] : nodes_) {
    if (node.probe_id != 0) continue;  // still waiting for the last one
    node.probe_id = next_probe_++;
    node.probe_sent = now;
    node.health.probes_sent++;
    Message message;
    message.from = options_.id;
    message.to = id;
    message.body = HealthProbe{node.probe_id, now};
    ready_.messages.push_back(std::move(message));
  }
  next_probe_at_ = now + int64_t{options_.probe_interval_ms} * 1000;
}

void RouterCore::CheckProbes(int64_t now) {
  for (auto& [id, node] : nodes_) {
    if (node.probe_id != 0 && now - node.probe_sent >= int64_t{options_.probe_timeout_ms} * 1000) {
      node.probe_id = 0;
      node.health.probes_missed++;
      node.health.up = false;
    }
  }
}

void RouterCore::OnProbeResponse(NodeId from, const HealthProbeResponse& response, int64_t now) {
  auto it = nodes_.find(from);
  if (it == nodes_.end() || it->second.probe_id != response.probe_id) return;  // late
  NodeState& node = it->second;
  node.probe_id = 0;
  node.health.probes_answered++;
  node.health.last_rtt_micros = now - response.sent_micros;
  node.health.up = response.healthy;
  if (!response.healthy) node.health.probes_unhealthy++;
}

void RouterCore::PeerUnreachable(NodeId node, int64_t now_micros) {
  const int64_t now = Now(now_micros);
  MarkDown(node);
  std::vector<uint64_t> ids;
  for (const auto& [id, op] : ops_) {
    if (op.target == node) ids.push_back(id);
  }
  for (uint64_t id : ids) {
    // The message may have been delivered before the node went away.
    AttemptFailed(ops_.at(id), node, /*maybe_applied=*/true,
                  absl::UnavailableError(fmt::format("node {} is unreachable", node)), 0, now);
  }
}

void RouterCore::MarkDown(NodeId node) {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return;
  it->second.health.up = false;
  it->second.health.unreachable++;
  for (auto& [id, p] : partitions_) {
    if (p.primary == node) p.primary = 0;
  }
}

// ---- Dead letters ----------------------------------------------------------

std::vector<DeadLetter> RouterCore::DeadLetters() const {
  std::vector<DeadLetter> out;
  for (const auto& [id, letter] : letters_) out.push_back(letter.letter);
  return out;
}

StatusOr<uint64_t> RouterCore::RetryDeadLetter(uint64_t id, uint32_t deadline_ms,
                                               int64_t now_micros) {
  const int64_t now = Now(now_micros);
  auto it = letters_.find(id);
  if (it == letters_.end()) return absl::NotFoundError(fmt::format("no dead letter {}", id));
  if (it->second.retrying) {
    return absl::FailedPreconditionError(fmt::format("dead letter {} is being retried", id));
  }
  if (ops_.size() >= options_.requests_max) {
    stats_.refused_full++;
    return absl::ResourceExhaustedError("the router holds requests_max requests");
  }
  Op op;
  op.id = next_op_++;
  op.request = it->second.letter.request;
  op.write = true;
  op.dead_letter = id;
  op.has_session = true;
  op.deadline = now + int64_t{deadline_ms != 0 ? deadline_ms : options_.deadline_ms} * 1000;
  by_session_[{op.request.client_id, op.request.sequence}] = op.id;
  it->second.retrying = true;
  stats_.requests++;
  const uint64_t op_id = op.id;
  Op& held = ops_.emplace(op_id, std::move(op)).first->second;
  SetTimer(held, held.deadline);
  StartAttempt(held, now);
  return op_id;
}

Status RouterCore::DropDeadLetter(uint64_t id) {
  auto it = letters_.find(id);
  if (it == letters_.end()) return absl::NotFoundError(fmt::format("no dead letter {}", id));
  if (it->second.retrying) {
    return absl::FailedPreconditionError(fmt::format("dead letter {} is being retried", id));
  }
  letters_.erase(it);
  return absl::OkStatus();
}

// ---- Views -----------------------------------------------------------------

RouterStats RouterCore::Stats() const {
  RouterStats stats = stats_;
  stats.dead_letters = letters_.size();
  for (const auto& [id, node] : nodes_) stats.nodes.push_back(node.health);
  for (const auto& [id, p] : partitions_) {
    stats.partitions.push_back(RouterPartitionState{id, p.primary, p.session_lsn});
  }
  return stats;
}

uint64_t RouterCore::OpOfSession(uint64_t client_id, uint64_t sequence) const {
  auto it = by_session_.find({client_id, sequence});
  return it == by_session_.end() ? 0 : it->second;
}

NodeId RouterCore::CachedPrimary(PartitionId partition) const {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? 0 : it->second.primary;
}

Lsn RouterCore::SessionLsn(PartitionId partition) const {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? 0 : it->second.session_lsn;
}

bool RouterCore::IsUp(NodeId node) const {
  auto it = nodes_.find(node);
  return it == nodes_.end() || it->second.health.up;
}

}  // namespace toydb::routing
