// Tests of the RouterCore on its own: requests in, messages out, answers
// written by hand, time advanced by hand. No threads, no transport.
#include "src/routing/router_core.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "src/transport/codec.h"

namespace toydb::routing {
namespace {

constexpr NodeId kRouter = 100;

RouterOptions Options() {
  RouterOptions options;
  options.id = kRouter;
  options.partitions = {PartitionConfig{1, {1, 2, 3}}, PartitionConfig{2, {4, 5, 6}}};
  options.virtual_nodes = 64;
  options.seed = 42;
  options.deadline_ms = 1000;
  options.attempt_timeout_ms = 200;
  options.backoff_initial_ms = 4;
  options.backoff_max_ms = 64;
  options.probe_interval_ms = 0;  // tests that need probes turn them on
  return options;
}

// Drives one core: collects what it sends and what it completes.
class Harness {
 public:
  explicit Harness(RouterOptions options = Options()) {
    StatusOr<std::unique_ptr<RouterCore>> core = RouterCore::Create(options);
    REQUIRE(core.ok());
    core_ = std::move(*core);
  }

  RouterCore& core() { return *core_; }
  int64_t now() const { return now_; }

  // A key the ring gives to `partition`.
  std::string KeyIn(PartitionId partition, int n = 0) {
    for (int i = 0;; ++i) {
      std::string key = fmt::format("key{}", i);
      if (core_->PartitionOf(key) == partition && n-- == 0) return key;
    }
  }

  uint64_t Put(const std::string& key, const std::string& value, uint32_t deadline_ms = 0,
               WriteConcern concern = {}) {
    RouterRequest request;
    request.body.op = OpType::kPut;
    request.body.key = key;
    request.body.value = value;
    request.body.concern = concern;
    request.deadline_ms = deadline_ms;
    return core_->Submit(std::move(request), now_);
  }
  uint64_t Get(const std::string& key, ReadConsistency consistency) {
    RouterRequest request;
    request.body.op = OpType::kGet;
    request.body.key = key;
    request.body.consistency = consistency;
    return core_->Submit(std::move(request), now_);
  }

  // Messages sent since the last call (completions are kept aside).
  std::vector<Message> Sent() {
    RouterReady ready = core_->TakeReady();
    for (RouterCompletion& c : ready.completions) done_.push_back(std::move(c));
    return ready.messages;
  }
  // The one client request sent since the last call.
  Message OneRequest() {
    std::vector<Message> sent = Sent();
    REQUIRE(sent.size() == 1);
    REQUIRE(std::holds_alternative<ClientRequest>(sent[0].body));
    return sent[0];
  }
  // Answers `request` from the node it went to.
  void Answer(const Message& request, ClientResponse response) {
    const auto& body = std::get<ClientRequest>(request.body);
    response.client_id = body.client_id;
    response.sequence = body.sequence;
    core_->Receive(Message{request.to, kRouter, response}, now_);
  }
  void AnswerOk(const Message& request, Lsn lsn) {
    ClientResponse ok;
    ok.lsn = lsn;
    ok.version = lsn;
    ok.acks = 2;
    ok.replicas = 3;
    Answer(request, ok);
  }
  void AnswerNotPrimary(const Message& request, NodeId hint) {
    ClientResponse r;
    r.code = static_cast<uint8_t>(absl::StatusCode::kFailedPrecondition);
    r.message = "not the primary";
    r.leader_hint = hint;
    Answer(request, r);
  }
  void AnswerUnavailable(const Message& request) {
    ClientResponse r;
    r.code = static_cast<uint8_t>(absl::StatusCode::kUnavailable);
    r.message = "lost the primary role; may still commit";
    Answer(request, r);
  }
  void Advance(int64_t micros) {
    now_ += micros;
    core_->Tick(now_);
  }
  // Advances to the core's next wake-up; false if it plans none.
  bool AdvanceToNextWake() {
    const int64_t next = core_->NextWakeMicros();
    if (next == std::numeric_limits<int64_t>::max()) return false;
    now_ = std::max(now_, next);
    core_->Tick(now_);
    return true;
  }

  // The completion of `op`, if it completed (taking pending output first).
  const RouterCompletion* Done(uint64_t op) {
    for (Message& m : Sent()) unsent_.push_back(std::move(m));
    for (const RouterCompletion& c : done_) {
      if (c.op == op) return &c;
    }
    return nullptr;
  }
  std::vector<Message> TakeUnsent() {
    std::vector<Message> out = std::move(unsent_);
    unsent_.clear();
    for (Message& m : Sent()) out.push_back(std::move(m));
    return out;
  }

 private:
  std::unique_ptr<RouterCore> core_;
  int64_t now_ = 1'000'000;
  std::vector<RouterCompletion> done_;
  std::vector<Message> unsent_;
};

const ClientRequest& Body(const Message& m) { return std::get<ClientRequest>(m.body); }

TEST_CASE("RouterCore: follows a leader hint at once and caches the primary", "[router]") {
  Harness h;
  const std::string key = h.KeyIn(1);
  const uint64_t op = h.Put(key, "v");
  const Message first = h.OneRequest();
  CHECK(first.from == kRouter);
  CHECK(Body(first).partition == 1);
  CHECK(Body(first).client_id != 0);
  h.AnswerNotPrimary(first, 3);
  // Retried at once, at the hinted node, with the same session.
  const Message second = h.OneRequest();
  CHECK(second.to == 3);
  CHECK(Body(second).client_id == Body(first).client_id);
  CHECK(Body(second).sequence == Body(first).sequence);
  h.AnswerOk(second, 7);
  const RouterCompletion* done = h.Done(op);
  REQUIRE(done != nullptr);
  CHECK(done->write.ok());
  CHECK(done->write.version == 7);
  CHECK(done->write.outcome == WriteOutcome::kCommitted);
  CHECK(h.core().CachedPrimary(1) == 3);
  // The next write goes straight to the cached primary.
  h.Put(h.KeyIn(1, 1), "w");
  CHECK(h.OneRequest().to == 3);
  CHECK(h.core().Stats().redirects == 1);
}

TEST_CASE("RouterCore: hints that name each other are followed a bounded number of times",
          "[router]") {
  Harness h;
  h.Put(h.KeyIn(1), "v");
  Message m = h.OneRequest();
  int immediate = 0;
  while (true) {
    // Two nodes in an election each name the other.
    h.AnswerNotPrimary(m, m.to == 1 ? 2 : 1);
    std::vector<Message> sent = h.TakeUnsent();
    if (sent.empty()) break;  // it backs off instead
    REQUIRE(sent.size() == 1);
    m = sent[0];
    ++immediate;
    REQUIRE(immediate <= 10);
  }
  CHECK(immediate == 3);  // one per member, then a backoff
  CHECK(h.core().Stats().retries == 1);
}

TEST_CASE("RouterCore: without a hint it tries the members in turn", "[router]") {
  Harness h;
  const uint64_t op = h.Put(h.KeyIn(1), "v");
  std::set<NodeId> tried;
  Message m = h.OneRequest();
  while (tried.size() < 3) {
    tried.insert(m.to);
    h.AnswerNotPrimary(m, 0);  // an election: nobody knows the primary yet
    REQUIRE(h.Done(op) == nullptr);
    std::vector<Message> sent = h.TakeUnsent();
    while (sent.empty()) {
      REQUIRE(h.AdvanceToNextWake());
      sent = h.TakeUnsent();
    }
    REQUIRE(sent.size() == 1);
    m = sent[0];
  }
  CHECK(tried == std::set<NodeId>{1, 2, 3});
}

TEST_CASE("RouterCore: a retry reuses the write's session; the next write takes the next sequence",
          "[router]") {
  Harness h;
  const std::string key = h.KeyIn(1);
  const uint64_t op = h.Put(key, "v");
  const Message first = h.OneRequest();
  h.AnswerUnavailable(first);  // the primary lost its role: the write may commit
  CHECK(h.Sent().empty());     // not at once: after a backoff
  REQUIRE(h.AdvanceToNextWake());
  const Message second = h.OneRequest();
  CHECK(Body(second).client_id == Body(first).client_id);
  CHECK(Body(second).sequence == Body(first).sequence);
  CHECK(second.to != first.to);  // the node that failed is tried last
  h.AnswerOk(second, 5);
  REQUIRE(h.Done(op) != nullptr);
  CHECK(h.Done(op)->write.ok());
  // One write in flight per client id: the next one reuses the id with the
  // next sequence, so the replicas never see a sequence go back.
  h.Put(key, "w");
  const Message third = h.TakeUnsent().at(0);
  CHECK(Body(third).client_id == Body(first).client_id);
  CHECK(Body(third).sequence == Body(first).sequence + 1);
}

TEST_CASE("RouterCore: a late answer to an earlier attempt settles the write", "[router]") {
  Harness h;
  const uint64_t op = h.Put(h.KeyIn(1), "v");
  const Message first = h.OneRequest();
  h.Advance(200'000);  // the attempt times out
  std::vector<Message> sent = h.TakeUnsent();
  while (sent.empty()) {
    REQUIRE(h.AdvanceToNextWake());
    sent = h.TakeUnsent();
  }
  REQUIRE(h.Done(op) == nullptr);
  h.AnswerOk(first, 11);  // the first attempt's answer arrives after all
  REQUIRE(h.Done(op) != nullptr);
  CHECK(h.Done(op)->write.ok());
  CHECK(h.Done(op)->write.lsn == 11);
}

TEST_CASE("RouterCore: backoff grows with jitter and every attempt stays within the deadline",
          "[router]") {
  Harness h;
  const uint64_t op = h.Put(h.KeyIn(1), "v", /*deadline_ms=*/500);
  const int64_t start = h.now();
  const int64_t deadline = start + 500'000;
  std::vector<int64_t> sent_at;
  Message m = h.OneRequest();
  sent_at.push_back(h.now());
  while (h.Done(op) == nullptr) {
    h.AnswerUnavailable(m);  // every attempt fails at once
    std::vector<Message> sent = h.TakeUnsent();
    while (sent.empty() && h.Done(op) == nullptr) {
      REQUIRE(h.AdvanceToNextWake());
      sent = h.TakeUnsent();
    }
    if (!sent.empty()) {
      REQUIRE(sent.size() == 1);
      m = sent[0];
      sent_at.push_back(h.now());
      CHECK(h.now() < deadline);
    }
  }
  // Delays: initial 4 ms doubling to at most 64 ms, each in [delay/2, delay].
  for (size_t i = 1; i < sent_at.size(); ++i) {
    const int64_t delay = std::min<int64_t>(64'000, int64_t{4'000} << std::min<size_t>(i - 1, 20));
    const int64_t gap = sent_at[i] - sent_at[i - 1];
    CHECK(gap >= delay / 2);
    CHECK(gap <= delay);
  }
  CHECK(sent_at.size() >= 8);  // 500 ms leave room for that many
  const RouterCompletion* done = h.Done(op);
  CHECK(h.now() == deadline);
  CHECK(absl::IsDeadlineExceeded(done->write.status));
  // Unavailable answers may hide a proposal that still commits.
  CHECK(done->write.outcome == WriteOutcome::kUnknown);
  CHECK(GetWriteOutcome(done->write.status) == WriteOutcome::kUnknown);
  CHECK(done->write.dead_letter_id != 0);
  REQUIRE(h.core().DeadLetters().size() == 1);
  CHECK(h.core().DeadLetters()[0].request.client_id == Body(m).client_id);
}

TEST_CASE("RouterCore: a write refused everywhere and never proposed ends not written",
          "[router]") {
  Harness h;
  const uint64_t op = h.Put(h.KeyIn(1), "v", /*deadline_ms=*/100);
  while (h.Done(op) == nullptr) {
    for (const Message& m : h.TakeUnsent()) h.AnswerNotPrimary(m, 0);
    if (h.Done(op) == nullptr) REQUIRE(h.AdvanceToNextWake());
  }
  const WriteResult& result = h.Done(op)->write;
  CHECK(absl::IsDeadlineExceeded(result.status));
  CHECK(result.outcome == WriteOutcome::kNotWritten);
  CHECK(result.dead_letter_id != 0);  // every timed-out write is kept
}

TEST_CASE("RouterCore: a write committed short of its concern reports its acknowledgements",
          "[router]") {
  Harness h;
  const uint64_t op = h.Put(h.KeyIn(1), "v", 0, WriteConcern{WriteConcernKind::kAll, 0});
  const Message m = h.OneRequest();
  CHECK(Body(m).concern.kind == WriteConcernKind::kAll);
  ClientResponse partial;
  partial.code = static_cast<uint8_t>(absl::StatusCode::kDeadlineExceeded);
  partial.message =
      "write committed at LSN 9 but its write concern (all) was not met: "
      "acknowledged by 2 of 3 replicas";
  partial.lsn = 9;
  partial.version = 9;
  partial.acks = 2;
  partial.replicas = 3;
  h.Answer(m, partial);
  const RouterCompletion* done = h.Done(op);
  REQUIRE(done != nullptr);
  CHECK(absl::IsDeadlineExceeded(done->write.status));
  CHECK(done->write.outcome == WriteOutcome::kCommitted);
  CHECK(GetWriteOutcome(done->write.status) == WriteOutcome::kCommitted);
  CHECK(GetWriteOutcomeLsn(done->write.status) == 9);
  CHECK(done->write.acks == 2);
  CHECK(done->write.replicas == 3);
  CHECK(done->write.dead_letter_id == 0);  // its outcome is known: not a dead letter
  CHECK(h.core().DeadLetters().empty());
  CHECK(h.core().Stats().partial_writes == 1);
  CHECK(h.TakeUnsent().empty());  // and not retried
}

TEST_CASE("RouterCore: a failed compare-and-set is final", "[router]") {
  Harness h;
  RouterRequest request;
  request.body.op = OpType::kCompareAndSet;
  request.body.key = h.KeyIn(2);
  request.body.value = "v";
  request.body.expected_version = 3;
  const uint64_t op = h.core().Submit(request, h.now());
  const Message m = h.OneRequest();
  CHECK(Body(m).partition == 2);
  CHECK(Body(m).expected_version == 3);
  ClientResponse aborted;
  aborted.code = static_cast<uint8_t>(absl::StatusCode::kAborted);
  aborted.message = "version is 5";
  aborted.lsn = 12;
  aborted.version = 5;
  h.Answer(m, aborted);
  REQUIRE(h.Done(op) != nullptr);
  CHECK(absl::IsAborted(h.Done(op)->write.status));
  CHECK(h.Done(op)->write.outcome == WriteOutcome::kNotWritten);
  CHECK(h.TakeUnsent().empty());
}

TEST_CASE("RouterCore: the dead-letter queue is bounded, dropping its oldest", "[router]") {
  RouterOptions options = Options();
  options.dead_letters_max = 3;
  Harness h(options);
  std::vector<uint64_t> ops;
  for (int i = 0; i < 5; ++i) ops.push_back(h.Put(h.KeyIn(1, i), "v", /*deadline_ms=*/50));
  h.TakeUnsent();  // nobody answers
  while (h.AdvanceToNextWake() && h.core().held_requests() > 0) h.TakeUnsent();
  std::vector<uint64_t> letter_ids;
  for (uint64_t op : ops) {
    REQUIRE(h.Done(op) != nullptr);
    CHECK(h.Done(op)->write.outcome == WriteOutcome::kUnknown);
    letter_ids.push_back(h.Done(op)->write.dead_letter_id);
  }
  const std::vector<DeadLetter> letters = h.core().DeadLetters();
  REQUIRE(letters.size() == 3);
  // The three newest remain, oldest first.
  CHECK(letters[0].id == letter_ids[2]);
  CHECK(letters[2].id == letter_ids[4]);
  const RouterStats stats = h.core().Stats();
  CHECK(stats.dead_letters == 3);
  CHECK(stats.dead_letters_added == 5);
  CHECK(stats.dead_letters_dropped == 2);

  // Drop one; it is gone, and dropping it again says so.
  CHECK(h.core().DropDeadLetter(letters[0].id).ok());
  CHECK(absl::IsNotFound(h.core().DropDeadLetter(letters[0].id)));
  CHECK(h.core().DeadLetters().size() == 2);
}

TEST_CASE("RouterCore: a dead letter is retried with its own session and leaves the queue",
          "[router]") {
  Harness h;
  const std::string key = h.KeyIn(1);
  const uint64_t op = h.Put(key, "v", /*deadline_ms=*/50);
  const Message lost = h.OneRequest();
  while (h.Done(op) == nullptr) {
    REQUIRE(h.AdvanceToNextWake());
    h.TakeUnsent();
  }
  const uint64_t letter = h.Done(op)->write.dead_letter_id;
  REQUIRE(letter != 0);
  // Writes after it use a new client id: the letter keeps the old one, so
  // its retry is never below a later sequence of the same client.
  h.Put(key, "later");
  const Message later = h.TakeUnsent().at(0);
  CHECK(Body(later).client_id != Body(lost).client_id);
  h.AnswerOk(later, 20);

  StatusOr<uint64_t> retry = h.core().RetryDeadLetter(letter, 0, h.now());
  REQUIRE(retry.ok());
  CHECK(absl::IsFailedPrecondition(h.core().RetryDeadLetter(letter, 0, h.now()).status()));
  CHECK(absl::IsFailedPrecondition(h.core().DropDeadLetter(letter)));
  const Message resent = h.TakeUnsent().at(0);
  CHECK(Body(resent).client_id == Body(lost).client_id);
  CHECK(Body(resent).sequence == Body(lost).sequence);
  CHECK(Body(resent).value == "v");
  h.AnswerOk(resent, 21);
  REQUIRE(h.Done(*retry) != nullptr);
  CHECK(h.Done(*retry)->write.ok());
  CHECK(h.core().DeadLetters().empty());
  CHECK(absl::IsNotFound(h.core().RetryDeadLetter(letter, 0, h.now()).status()));
}

TEST_CASE("RouterCore: an answer that comes after the deadline settles the dead letter",
          "[router]") {
  Harness h;
  const uint64_t op = h.Put(h.KeyIn(1), "v", /*deadline_ms=*/50);
  const Message slow = h.OneRequest();
  while (h.Done(op) == nullptr) {
    REQUIRE(h.AdvanceToNextWake());
    h.TakeUnsent();
  }
  REQUIRE(h.Done(op)->write.outcome == WriteOutcome::kUnknown);
  h.AnswerOk(slow, 33);  // it was applied after all
  const std::vector<DeadLetter> letters = h.core().DeadLetters();
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].outcome == WriteOutcome::kCommitted);
  CHECK(letters[0].status.ok());
  CHECK(h.core().Stats().dead_letters_settled == 1);
}

TEST_CASE("RouterCore: writes in flight to one partition each hold their own client id",
          "[router]") {
  RouterOptions options = Options();
  options.writes_in_flight_per_partition_max = 2;
  Harness h(options);
  const uint64_t a = h.Put(h.KeyIn(1, 0), "a");
  h.Put(h.KeyIn(1, 1), "b");
  const uint64_t c = h.Put(h.KeyIn(1, 2), "c");
  std::vector<Message> sent = h.TakeUnsent();
  REQUIRE(sent.size() == 2);  // the third waits for a free client id
  CHECK(Body(sent[0]).client_id != Body(sent[1]).client_id);
  // A write to another partition does not wait.
  h.Put(h.KeyIn(2), "d");
  CHECK(h.TakeUnsent().size() == 1);
  h.AnswerOk(sent[0], 3);
  REQUIRE(h.Done(a) != nullptr);
  std::vector<Message> third = h.TakeUnsent();
  REQUIRE(third.size() == 1);
  CHECK(Body(third[0]).key == h.KeyIn(1, 2));
  CHECK(Body(third[0]).client_id == Body(sent[0]).client_id);
  CHECK(Body(third[0]).sequence == Body(sent[0]).sequence + 1);
  h.AnswerOk(third[0], 4);
  REQUIRE(h.Done(c) != nullptr);
}

TEST_CASE("RouterCore: a write waiting for a client id past its deadline was not written",
          "[router]") {
  RouterOptions options = Options();
  options.writes_in_flight_per_partition_max = 1;
  Harness h(options);
  h.Put(h.KeyIn(1, 0), "a", 1000);
  const uint64_t waiting = h.Put(h.KeyIn(1, 1), "b", 10);
  h.TakeUnsent();
  h.Advance(10'000);
  REQUIRE(h.Done(waiting) != nullptr);
  CHECK(h.Done(waiting)->write.outcome == WriteOutcome::kNotWritten);
  CHECK(h.Done(waiting)->write.dead_letter_id != 0);
  const std::vector<DeadLetter> letters = h.core().DeadLetters();
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].request.client_id != 0);  // a session of its own for a retry
}

TEST_CASE("RouterCore: a batch across partitions is refused, one within a partition is sent",
          "[router]") {
  Harness h;
  RouterRequest request;
  request.body.op = OpType::kBatch;
  request.body.batch = {BatchOp{OpType::kPut, h.KeyIn(1), "x"},
                        BatchOp{OpType::kDelete, h.KeyIn(2), ""}};
  const uint64_t refused = h.core().Submit(request, h.now());
  REQUIRE(h.Done(refused) != nullptr);
  const Status& status = h.Done(refused)->write.status;
  CHECK(absl::IsInvalidArgument(status));
  CHECK(status.message().find("spans partitions") != std::string::npos);
  CHECK(status.message().find(h.KeyIn(2)) != std::string::npos);
  CHECK(h.TakeUnsent().empty());
  CHECK(h.core().DeadLetters().empty());

  request.body.batch = {BatchOp{OpType::kPut, h.KeyIn(2, 0), "x"},
                        BatchOp{OpType::kDelete, h.KeyIn(2, 1), ""}};
  h.core().Submit(request, h.now());
  const std::vector<Message> sent = h.TakeUnsent();
  REQUIRE(sent.size() == 1);
  CHECK(Body(sent[0]).partition == 2);
  CHECK(Body(sent[0]).batch.size() == 2);

  request.body.batch.clear();
  CHECK(absl::IsInvalidArgument(h.Done(h.core().Submit(request, h.now()))->write.status));
  RouterRequest empty_key;
  empty_key.body.op = OpType::kPut;
  CHECK(absl::IsInvalidArgument(h.Done(h.core().Submit(empty_key, h.now()))->write.status));
}

TEST_CASE("RouterCore: a request too large for one frame is refused at once, not written",
          "[router]") {
  Harness h;
  // Found by a host program: a 5 MiB value was sent, refused by the
  // transport's encoder, and retried until its deadline as an unknown
  // outcome, ending in the dead-letter queue.
  const uint64_t big = h.Put(h.KeyIn(1), std::string(kMaxFrameBytes, 'v'));
  const RouterCompletion* done = h.Done(big);
  REQUIRE(done != nullptr);
  CHECK(absl::IsInvalidArgument(done->write.status));
  CHECK(done->write.outcome == WriteOutcome::kNotWritten);
  CHECK(done->write.status.message().find("frame") != std::string::npos);
  CHECK(h.TakeUnsent().empty());
  CHECK(h.core().DeadLetters().empty());

  RouterRequest batch;
  batch.body.op = OpType::kBatch;
  for (int i = 0; i < 5; ++i) {
    batch.body.batch.push_back(BatchOp{OpType::kPut, h.KeyIn(2, i), std::string(1 << 20, 'b')});
  }
  const RouterCompletion* batch_done = h.Done(h.core().Submit(batch, h.now()));
  REQUIRE(batch_done != nullptr);
  CHECK(absl::IsInvalidArgument(batch_done->write.status));

  // Just under the limit is sent (the replicas judge it against their own
  // limits).
  h.Put(h.KeyIn(1), std::string(kMaxFrameBytes - 4096, 'v'));
  CHECK(h.TakeUnsent().size() == 1);
}

TEST_CASE("RouterCore: session reads carry the highest LSN seen in their partition", "[router]") {
  Harness h;
  const std::string key = h.KeyIn(1);
  h.Put(key, "v");
  h.AnswerOk(h.OneRequest(), 42);
  CHECK(h.core().SessionLsn(1) == 42);
  const uint64_t read = h.Get(key, ReadConsistency::kSession);
  const Message m = h.OneRequest();
  CHECK(Body(m).consistency == ReadConsistency::kSession);
  CHECK(Body(m).min_lsn == 42);
  ClientResponse r;
  r.found = true;
  r.value = "v";
  r.version = 42;
  r.lsn = 50;  // the replica had applied more
  h.Answer(m, r);
  REQUIRE(h.Done(read) != nullptr);
  REQUIRE(h.Done(read)->value.ok());
  CHECK(h.Done(read)->value->value == "v");
  // Monotonic reads: the next one needs what this one saw.
  h.Get(key, ReadConsistency::kSession);
  CHECK(Body(h.OneRequest()).min_lsn == 50);
  // Another partition has its own LSNs.
  h.Get(h.KeyIn(2), ReadConsistency::kSession);
  CHECK(Body(h.OneRequest()).min_lsn == 0);
}

TEST_CASE("RouterCore: a lagging replica's session read is retried on another", "[router]") {
  Harness h;
  const std::string key = h.KeyIn(1);
  const uint64_t read = h.Get(key, ReadConsistency::kSession);
  const Message m = h.OneRequest();
  ClientResponse lag;
  lag.code = static_cast<uint8_t>(absl::StatusCode::kDeadlineExceeded);
  lag.message = "replica has applied up to LSN 3; the read needs LSN 9";
  h.Answer(m, lag);
  std::vector<Message> sent = h.TakeUnsent();
  while (sent.empty()) {
    REQUIRE(h.AdvanceToNextWake());
    sent = h.TakeUnsent();
  }
  CHECK(sent.at(0).to != m.to);
  ClientResponse absent;  // found = false
  h.Answer(sent[0], absent);
  REQUIRE(h.Done(read) != nullptr);
  CHECK(absl::IsNotFound(h.Done(read)->value.status()));
}

TEST_CASE("RouterCore: linearizable and quorum reads go to the primary; any-reads spread",
          "[router]") {
  Harness h;
  const std::string key = h.KeyIn(1);
  h.Put(key, "v");
  const Message w = h.OneRequest();
  h.AnswerNotPrimary(w, 2);
  h.AnswerOk(h.OneRequest(), 1);
  REQUIRE(h.core().CachedPrimary(1) == 2);
  h.Get(key, ReadConsistency::kLinearizable);
  CHECK(h.OneRequest().to == 2);
  h.Get(key, ReadConsistency::kQuorum);
  CHECK(h.OneRequest().to == 2);
  std::set<NodeId> any;
  for (int i = 0; i < 6; ++i) {
    h.Get(key, ReadConsistency::kAny);
    any.insert(h.OneRequest().to);
  }
  CHECK(any == std::set<NodeId>{1, 2, 3});
}

TEST_CASE("RouterCore: health probes mark replicas down, and reads skip them", "[router]") {
  RouterOptions options = Options();
  options.probe_interval_ms = 100;
  options.probe_timeout_ms = 50;
  Harness h(options);
  h.Advance(0);  // the first round of probes
  std::vector<Message> probes = h.TakeUnsent();
  REQUIRE(probes.size() == 6);
  for (const Message& probe : probes) {
    const auto& body = std::get<HealthProbe>(probe.body);
    if (probe.to == 2) continue;  // node 2 stays silent
    HealthProbeResponse answer{body.probe_id, body.sent_micros, /*healthy=*/probe.to != 3};
    h.core().Receive(Message{probe.to, kRouter, answer}, h.now() + 1000);
  }
  h.Advance(50'000);  // node 2's probe times out
  CHECK(h.core().IsUp(1));
  CHECK_FALSE(h.core().IsUp(2));  // silent
  CHECK_FALSE(h.core().IsUp(3));  // unhealthy
  const std::string key = h.KeyIn(1);
  for (int i = 0; i < 10; ++i) {
    h.Get(key, ReadConsistency::kAny);
    CHECK(h.OneRequest().to == 1);
    h.Get(key, ReadConsistency::kSession);
    CHECK(h.OneRequest().to == 1);
  }
  const RouterStats stats = h.core().Stats();
  for (const RouterNodeHealth& node : stats.nodes) {
    CHECK(node.probes_sent == 1);
    if (node.node == 2) CHECK(node.probes_missed == 1);
    if (node.node == 3) CHECK(node.probes_unhealthy == 1);
    if (node.node == 1) CHECK(node.last_rtt_micros == 1000);
  }
  // The next round: node 2 answers healthy and is up again.
  h.Advance(50'000);
  for (const Message& probe : h.TakeUnsent()) {
    if (!std::holds_alternative<HealthProbe>(probe.body) || probe.to != 2) continue;
    const auto& body = std::get<HealthProbe>(probe.body);
    h.core().Receive(
        Message{2, kRouter, HealthProbeResponse{body.probe_id, body.sent_micros, true}}, h.now());
  }
  CHECK(h.core().IsUp(2));
}

TEST_CASE("RouterCore: an unreachable node is marked down and its requests retried elsewhere",
          "[router]") {
  Harness h;
  const std::string key = h.KeyIn(1);
  h.Put(key, "v");
  const Message w = h.OneRequest();
  REQUIRE(w.to == 1);  // the primary is unknown: members in turn
  h.AnswerOk(w, 1);    // an answer from the primary caches it
  const uint64_t op = h.Put(key, "w");
  const Message m = h.OneRequest();
  REQUIRE(m.to == 1);
  h.core().PeerUnreachable(1, h.now());
  CHECK_FALSE(h.core().IsUp(1));
  CHECK(h.core().CachedPrimary(1) == 0);
  std::vector<Message> sent = h.TakeUnsent();
  while (sent.empty()) {
    REQUIRE(h.AdvanceToNextWake());
    sent = h.TakeUnsent();
  }
  CHECK(sent.at(0).to != 1);
  CHECK(Body(sent[0]).sequence == Body(m).sequence);
  h.AnswerOk(sent[0], 2);
  CHECK(h.Done(op)->write.ok());
}

TEST_CASE("RouterCore: too many requests held are refused", "[router]") {
  RouterOptions options = Options();
  options.requests_max = 2;
  Harness h(options);
  h.Put(h.KeyIn(1), "a");
  h.Get(h.KeyIn(1), ReadConsistency::kAny);
  const uint64_t third = h.Put(h.KeyIn(2), "c");
  REQUIRE(h.Done(third) != nullptr);
  CHECK(absl::IsResourceExhausted(h.Done(third)->write.status));
  CHECK(h.core().Stats().refused_full == 1);
}

TEST_CASE("RouterCore: the same seed and inputs give the same messages", "[router]") {
  auto run = [] {
    Harness h;
    std::vector<Message> all;
    for (int i = 0; i < 20; ++i) {
      h.Put(h.KeyIn(1 + i % 2, i), "v");
      for (Message& m : h.TakeUnsent()) {
        if (i % 3 == 0) h.AnswerUnavailable(m);
        all.push_back(std::move(m));
      }
      h.Advance(3'000);
      for (Message& m : h.TakeUnsent()) all.push_back(std::move(m));
    }
    return all;
  };
  const std::vector<Message> a = run();
  CHECK(a == run());
  CHECK(a.size() > 20);
}

TEST_CASE("RouterCore: shutting down answers every request held", "[router]") {
  Harness h;
  const uint64_t write = h.Put(h.KeyIn(1), "v");
  const uint64_t read = h.Get(h.KeyIn(1), ReadConsistency::kAny);
  h.TakeUnsent();
  h.core().Shutdown(h.now());
  REQUIRE(h.Done(write) != nullptr);
  CHECK(absl::IsUnavailable(h.Done(write)->write.status));
  CHECK(h.Done(write)->write.outcome == WriteOutcome::kUnknown);
  REQUIRE(h.Done(read) != nullptr);
  CHECK(absl::IsUnavailable(h.Done(read)->value.status()));
  CHECK(h.core().held_requests() == 0);
}

TEST_CASE("RouterOptions: Validate names the bad field", "[router]") {
  RouterOptions options = Options();
  CHECK(options.Validate().ok());
  options.id = 1;  // a member
  CHECK(absl::IsInvalidArgument(options.Validate()));
  options = Options();
  options.partitions.push_back(PartitionConfig{1, {7}});
  CHECK(options.Validate().message().find("twice") != std::string_view::npos);
  options = Options();
  options.backoff_max_ms = 1;
  CHECK(options.Validate().message().find("backoff_max_ms") != std::string_view::npos);
  options = Options();
  options.partitions.clear();
  CHECK_FALSE(RouterCore::Create(options).ok());
}

}  // namespace
}  // namespace toydb::routing
