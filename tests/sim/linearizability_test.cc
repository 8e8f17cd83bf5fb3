// Tests of the history checkers: hand-made histories with a known verdict
// (linearizable with several valid orders, timed-out writes that did and did
// not take effect, compare-and-set; stale reads, reads in opposite orders,
// lost writes, stale compare-and-set), the step budget, the session
// guarantees, and generated linearizable histories of a simulated store.
#include "sim/linearizability.h"

#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>

#include "sim/rng.h"

namespace toydb::sim {
namespace {

// Builds a history: one call per operation, times in microseconds.
class History {
 public:
  History& Put(uint64_t c, std::string key, std::string value, int64_t invoke, int64_t complete,
               Lsn version) {
    KvOperation& op = Add(c, std::move(key), KvOpKind::kPut, invoke, complete);
    op.value = std::move(value);
    op.output.version = version;
    return *this;
  }
  History& PutTimedOut(uint64_t c, std::string key, std::string value, int64_t invoke) {
    KvOperation& op = Add(c, std::move(key), KvOpKind::kPut, invoke, invoke);
    op.value = std::move(value);
    op.outcome = KvOutcome::kUnknown;
    return *this;
  }
  History& PutRefused(uint64_t c, std::string key, std::string value, int64_t invoke,
                      int64_t complete) {
    KvOperation& op = Add(c, std::move(key), KvOpKind::kPut, invoke, complete);
    op.value = std::move(value);
    op.outcome = KvOutcome::kFailed;
    return *this;
  }
  History& Delete(uint64_t c, std::string key, int64_t invoke, int64_t complete, Lsn version) {
    Add(c, std::move(key), KvOpKind::kDelete, invoke, complete).output.version = version;
    return *this;
  }
  History& DeleteTimedOut(uint64_t c, std::string key, int64_t invoke) {
    Add(c, std::move(key), KvOpKind::kDelete, invoke, invoke).outcome = KvOutcome::kUnknown;
    return *this;
  }
  History& Get(uint64_t c, std::string key, int64_t invoke, int64_t complete, std::string value,
               Lsn version) {
    KvOperation& op = Add(c, std::move(key), KvOpKind::kGet, invoke, complete);
    op.output.found = true;
    op.output.value = std::move(value);
    op.output.version = version;
    return *this;
  }
  History& GetAbsent(uint64_t c, std::string key, int64_t invoke, int64_t complete) {
    Add(c, std::move(key), KvOpKind::kGet, invoke, complete);
    return *this;
  }
  History& Cas(uint64_t c, std::string key, Lsn expected, std::string value, int64_t invoke,
               int64_t complete, Lsn version) {
    KvOperation& op = Add(c, std::move(key), KvOpKind::kCompareAndSet, invoke, complete);
    op.expected_version = expected;
    op.value = std::move(value);
    op.output.version = version;
    return *this;
  }
  History& CasAborted(uint64_t c, std::string key, Lsn expected, std::string value, int64_t invoke,
                      int64_t complete) {
    Cas(c, std::move(key), expected, std::move(value), invoke, complete, 0);
    ops_.back().output.aborted = true;
    return *this;
  }
  History& CasTimedOut(uint64_t c, std::string key, Lsn expected, std::string value,
                       int64_t invoke) {
    Cas(c, std::move(key), expected, std::move(value), invoke, invoke, 0);
    ops_.back().outcome = KvOutcome::kUnknown;
    return *this;
  }

  const KvHistory& ops() const { return ops_; }

 private:
  KvOperation& Add(uint64_t c, std::string key, KvOpKind kind, int64_t invoke, int64_t complete) {
    KvOperation& op = ops_.emplace_back();
    op.client = c;
    op.key = std::move(key);
    op.kind = kind;
    op.invoke_micros = invoke;
    op.complete_micros = complete;
    return op;
  }

  KvHistory ops_;
};

LinearizabilityResult Check(const History& h, LinearizabilityOptions options = {}) {
  StatusOr<LinearizabilityResult> result = CheckLinearizable(h.ops(), options);
  REQUIRE(result.ok());
  return *std::move(result);
}

bool Linearizable(const History& h) {
  const LinearizabilityResult result = Check(h);
  if (result.verdict != CheckVerdict::kOk) UNSCOPED_INFO(result.Summary());
  return result.verdict == CheckVerdict::kOk;
}

// Illegal, with the report naming the key and containing `fragment`.
void RequireIllegal(const History& h, const std::string& key, const std::string& fragment) {
  const LinearizabilityResult result = Check(h);
  INFO(result.Summary());
  REQUIRE(result.verdict == CheckVerdict::kIllegal);
  REQUIRE(result.failures.size() == 1);
  CHECK(result.failures[0].key == key);
  CHECK(result.failures[0].verdict == CheckVerdict::kIllegal);
  CHECK(result.Summary().find(fragment) != std::string::npos);
}

TEST_CASE("An empty history and a sequential one are linearizable", "[linearizability]") {
  CHECK(Linearizable(History()));
  History h;
  h.GetAbsent(1, "k", 0, 10)
      .Put(1, "k", "a", 20, 30, 1)
      .Get(1, "k", 40, 50, "a", 1)
      .Delete(1, "k", 60, 70, 2)
      .GetAbsent(1, "k", 80, 90)
      .Put(1, "k", "b", 100, 110, 3)
      .Get(1, "k", 120, 130, "b", 3);
  const LinearizabilityResult result = Check(h);
  CHECK(result.verdict == CheckVerdict::kOk);
  CHECK(result.keys == 1);
  CHECK(result.operations == 7);
  CHECK(result.Summary().rfind("linearizable: 1 keys, 7 operations", 0) == 0);
}

TEST_CASE("Overlapping operations linearize in any order their results allow",
          "[linearizability]") {
  // Two concurrent puts; their versions say a came first. Reads overlapping
  // them see nothing, a, or b, as long as no one goes back.
  History h;
  h.Put(1, "k", "a", 0, 100, 1)
      .Put(2, "k", "b", 0, 100, 2)
      .GetAbsent(3, "k", 10, 20)
      .Get(4, "k", 10, 60, "a", 1)
      .Get(3, "k", 30, 90, "b", 2)
      .Get(5, "k", 50, 70, "a", 1)  // Overlaps the read of b: it may come first.
      .Get(4, "k", 110, 120, "b", 2);
  CHECK(Linearizable(h));

  // A read overlapping a write sees the old value while a later-invoked
  // read, still overlapping, already sees the new one.
  History h2;
  h2.Put(1, "k", "a", 0, 10, 1)
      .Put(1, "k", "b", 20, 200, 2)
      .Get(2, "k", 30, 190, "a", 1)
      .Get(3, "k", 40, 50, "b", 2);
  CHECK(Linearizable(h2));

  // Operations that only touch (one completes when the other is invoked) are
  // concurrent, so either order is allowed.
  History h3;
  h3.Put(1, "k", "a", 0, 10, 1).GetAbsent(2, "k", 10, 20);
  CHECK(Linearizable(h3));
}

TEST_CASE("Keys are checked independently; versions are shared across keys", "[linearizability]") {
  History h;
  h.Put(1, "x", "a", 0, 10, 1)
      .Put(2, "y", "b", 0, 10, 2)
      .Put(1, "x", "c", 20, 30, 5)  // LSNs 3 and 4 went to other keys.
      .Get(2, "y", 20, 30, "b", 2)
      .Get(3, "x", 40, 50, "c", 5);
  const LinearizabilityResult result = Check(h);
  CHECK(result.verdict == CheckVerdict::kOk);
  CHECK(result.keys == 2);
}

TEST_CASE("A timed-out write may take effect at any time after its invoke, or never",
          "[linearizability]") {
  SECTION("it took effect, long after the client gave up") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1)
        .PutTimedOut(1, "k", "b", 20)
        .Get(2, "k", 500, 510, "a", 1)
        .Get(2, "k", 1000, 1010, "b", 7)  // Its LSN, never reported, is revealed.
        .Get(3, "k", 1020, 1030, "b", 7);
    CHECK(Linearizable(h));
  }
  SECTION("it never took effect") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1)
        .PutTimedOut(1, "k", "b", 20)
        .Get(2, "k", 500, 510, "a", 1)
        .Put(2, "k", "c", 600, 610, 2)
        .Get(2, "k", 700, 710, "c", 2);
    CHECK(Linearizable(h));
  }
  SECTION("a timed-out delete took effect") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1).DeleteTimedOut(1, "k", 20).GetAbsent(2, "k", 500, 510);
    CHECK(Linearizable(h));
  }
  SECTION("a refused write did nothing and is left out") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1).PutRefused(1, "k", "b", 20, 30).Get(2, "k", 40, 50, "a", 1);
    const LinearizabilityResult result = Check(h);
    CHECK(result.verdict == CheckVerdict::kOk);
    CHECK(result.operations == 2);
  }
  SECTION("it cannot take effect before its invoke") {
    History h;
    h.Get(2, "k", 0, 10, "b", 3).PutTimedOut(1, "k", "b", 20);
    RequireIllegal(h, "k", "reads a value, but the key is absent");
  }
  SECTION("its revealed LSN must be above every LSN written before it") {
    History h;
    h.Put(1, "k", "a", 0, 10, 5).PutTimedOut(1, "k", "b", 20).Get(2, "k", 100, 110, "b", 4);
    RequireIllegal(h, "k", "sees v4 for a timed-out write, which has at least v6");
  }
  SECTION("a later acknowledged write leaves room for its LSN") {
    History h;
    h.Put(1, "k", "a", 0, 10, 5)
        .PutTimedOut(1, "k", "b", 20)
        .Get(2, "k", 100, 110, "b", 6)   // b is v6 ...
        .Put(3, "k", "c", 200, 210, 6);  // ... so c cannot be v6 too.
    RequireIllegal(h, "k", "writes v6, but the key's writes already reached v6");
  }
}

TEST_CASE("Compare-and-set succeeds exactly when the expected version is current",
          "[linearizability]") {
  SECTION("success, abort and a create-if-absent") {
    History h;
    h.Cas(1, "k", 0, "a", 0, 10, 1)  // Expected absent.
        .Cas(1, "k", 1, "b", 20, 30, 2)
        .CasAborted(2, "k", 1, "c", 40, 50)  // v1 is gone.
        .CasAborted(2, "k", 0, "c", 60, 70)  // Not absent.
        .Get(3, "k", 80, 90, "b", 2);
    CHECK(Linearizable(h));
  }
  SECTION("two concurrent compare-and-sets on one version: one wins") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1)
        .Cas(2, "k", 1, "b", 20, 100, 2)
        .CasAborted(3, "k", 1, "c", 20, 100)
        .Get(4, "k", 110, 120, "b", 2);
    CHECK(Linearizable(h));
  }
  SECTION("against the unreported version of a timed-out write") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1)
        .PutTimedOut(1, "k", "b", 20)
        .CasAborted(2, "k", 6, "x", 100, 110)  // b is not v6 ...
        .Cas(2, "k", 7, "c", 200, 210, 9)      // ... it is v7.
        .Get(3, "k", 300, 310, "c", 9);
    CHECK(Linearizable(h));

    // The first abort proves b took effect (a@v1 was there just before), so
    // the second one saw b, and b is not v7.
    History contradiction;
    contradiction.Put(1, "k", "a", 0, 10, 1)
        .PutTimedOut(1, "k", "b", 20)
        .Get(2, "k", 30, 40, "a", 1)
        .CasAborted(2, "k", 1, "x", 50, 60)
        .CasAborted(2, "k", 7, "x", 100, 110)
        .Get(3, "k", 200, 210, "b", 7);
    RequireIllegal(contradiction, "k", "which an earlier compare-and-set found it was not");
  }
  SECTION("a timed-out compare-and-set that did or did not apply") {
    History applied;
    applied.Put(1, "k", "a", 0, 10, 1)
        .CasTimedOut(1, "k", 1, "b", 20)
        .Get(2, "k", 100, 110, "b", 4);
    CHECK(Linearizable(applied));
    History not_applied;
    not_applied.Put(1, "k", "a", 0, 10, 1)
        .CasTimedOut(1, "k", 1, "b", 20)
        .Get(2, "k", 100, 110, "a", 1);
    CHECK(Linearizable(not_applied));
    History impossible;  // Its condition never held, so b was never written.
    impossible.Put(1, "k", "a", 0, 10, 1)
        .CasTimedOut(1, "k", 3, "b", 20)
        .Get(2, "k", 100, 110, "b", 4);
    RequireIllegal(impossible, "k", "succeeds expecting v3, but the key's version is v1");
  }
  SECTION("an abort against the current version is illegal") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1).CasAborted(2, "k", 1, "b", 20, 30);
    RequireIllegal(h, "k", "aborts, but the key's version is the expected v1");
  }
}

TEST_CASE("A read that misses a completed write is not linearizable", "[linearizability]") {
  History h;
  h.Put(1, "k", "a", 0, 10, 1)
      .Put(1, "k", "b", 20, 30, 2)
      .Get(2, "k", 40, 50, "a", 1)
      .Put(9, "other", "z", 0, 100, 3);  // A linearizable key beside it.
  RequireIllegal(h, "k", "#2 c2 get -> \"a\"@v1 [40, 50]: reads \"a\", but the key holds \"b\"");
  const std::string summary = Check(h).Summary();
  CHECK(summary.find("longest linearizable prefix: 2 of 3 operations") != std::string::npos);
  CHECK(summary.find("key after it: \"b\"@v2") != std::string::npos);
  CHECK(summary.find("other") == std::string::npos);
}

TEST_CASE("Two readers that see two writes in opposite orders are not linearizable",
          "[linearizability]") {
  History h;
  h.Put(1, "k", "a", 0, 100, 1)
      .Put(2, "k", "b", 0, 100, 2)
      .Get(3, "k", 10, 20, "a", 1)
      .Get(3, "k", 30, 40, "b", 2)
      .Get(4, "k", 10, 20, "b", 2)
      .Get(4, "k", 30, 40, "a", 1);
  RequireIllegal(h, "k", "none of these can come next");
}

TEST_CASE("A lost acknowledged write is not linearizable", "[linearizability]") {
  SECTION("read back, then gone") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1)
        .Put(1, "k", "b", 20, 30, 2)
        .Get(2, "k", 40, 50, "b", 2)
        .Get(2, "k", 60, 70, "a", 1);
    RequireIllegal(h, "k", "reads \"a\", but the key holds \"b\"");
  }
  SECTION("its LSN given again to a later write") {
    History h;
    h.Put(1, "k", "a", 0, 10, 4).Put(2, "k", "b", 20, 30, 4).Get(3, "k", 40, 50, "b", 4);
    RequireIllegal(h, "k", "writes v4, but the key's writes already reached v4");
  }
  SECTION("a deleted key reads its old value") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1).Delete(1, "k", 20, 30, 2).Get(2, "k", 40, 50, "a", 1);
    RequireIllegal(h, "k", "reads a value, but the key is absent");
  }
  SECTION("a read reports another version than the write it sees") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1).Get(2, "k", 20, 30, "a", 3);
    RequireIllegal(h, "k", "reads v3, but the value there is v1");
  }
}

TEST_CASE("A compare-and-set that succeeds against a stale version is not linearizable",
          "[linearizability]") {
  History h;
  h.Put(1, "k", "a", 0, 10, 1).Put(2, "k", "b", 20, 30, 2).Cas(3, "k", 1, "c", 40, 50, 3);
  RequireIllegal(h, "k", "succeeds expecting v1, but the key's version is v2");
}

// n concurrent timed-out puts to `key`, each read back later, and before
// those reads a read of a value none wrote: every subset of the puts is a
// distinct configuration before that read, so proving the history illegal
// visits 2^n of them.
void AddPathological(History* h, const std::string& key, int n) {
  for (int i = 0; i < n; ++i) h->PutTimedOut(i, key, fmt::format("v{}", i), i);
  h->Get(99, key, 1000, 1010, "never written", 1);
  for (int i = 0; i < n; ++i) {
    h->Get(100 + i, key, 2000 + 20 * i, 2010 + 20 * i, fmt::format("v{}", i), 100 + i);
  }
}

TEST_CASE("The step budget gives kUnknown on a history too costly to decide", "[linearizability]") {
  LinearizabilityOptions options;
  options.max_steps_per_key = 100'000;
  History small;
  AddPathological(&small, "k", 6);
  CHECK(Check(small, options).verdict == CheckVerdict::kIllegal);

  History large;
  AddPathological(&large, "k", 24);
  const LinearizabilityResult result = Check(large, options);
  INFO(result.Summary());
  CHECK(result.verdict == CheckVerdict::kUnknown);
  REQUIRE(result.failures.size() == 1);
  CHECK(result.failures[0].verdict == CheckVerdict::kUnknown);
  CHECK(result.steps == options.max_steps_per_key + 1);
  CHECK(result.Summary().find("unknown (step budget exhausted)") != std::string::npos);
}

TEST_CASE("Timed-out writes nothing could have seen are left out of the search",
          "[linearizability]") {
  SECTION("never read: the costly history above becomes quick to decide") {
    History h;
    for (int i = 0; i < 24; ++i) h.PutTimedOut(i, "k", fmt::format("v{}", i), i);
    h.Get(99, "k", 1000, 1010, "never written", 1);
    const LinearizabilityResult result = Check(h);
    CHECK(result.verdict == CheckVerdict::kIllegal);
    CHECK(result.unobserved_timeouts == 24);
    CHECK(result.steps < 10);
  }
  SECTION("read only before it was invoked") {
    History h;
    h.Put(1, "k", "b", 0, 10, 1).Get(2, "k", 20, 30, "b", 1).PutTimedOut(1, "k", "b", 40);
    CHECK(Check(h).unobserved_timeouts == 1);
  }
  SECTION("kept when an aborted compare-and-set needs it") {
    // The abort shows the key moved past v1, and only b can have moved it.
    History h;
    h.Put(1, "k", "a", 0, 10, 1)
        .PutTimedOut(1, "k", "b", 20)
        .Get(2, "k", 30, 40, "a", 1)
        .CasAborted(2, "k", 1, "x", 50, 60);
    const LinearizabilityResult result = Check(h);
    CHECK(result.verdict == CheckVerdict::kOk);
    CHECK(result.unobserved_timeouts == 0);
  }
  SECTION("left out when the aborted compare-and-set was stale anyway") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1)
        .PutTimedOut(1, "k", "b", 20)
        .Put(2, "k", "c", 30, 40, 2)  // v2 was acknowledged before the abort.
        .CasAborted(2, "k", 1, "x", 50, 60);
    const LinearizabilityResult result = Check(h);
    CHECK(result.verdict == CheckVerdict::kOk);
    CHECK(result.unobserved_timeouts == 1);
  }
  SECTION("kept when a compare-and-set succeeds against a version no write reported") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1)
        .PutTimedOut(1, "k", "b", 20)
        .Cas(2, "k", 5, "c", 50, 60, 6)  // v5 can only be b's.
        .Get(3, "k", 70, 80, "c", 6);
    const LinearizabilityResult result = Check(h);
    CHECK(result.verdict == CheckVerdict::kOk);
    CHECK(result.unobserved_timeouts == 0);
  }
  SECTION("a timed-out delete kept when a compare-and-set expects absent") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1).DeleteTimedOut(1, "k", 20).Cas(2, "k", 0, "c", 50, 60, 4);
    const LinearizabilityResult result = Check(h);
    CHECK(result.verdict == CheckVerdict::kOk);
    CHECK(result.unobserved_timeouts == 0);
  }
}

TEST_CASE("The verdict is illegal if any key is, even when another key is unknown",
          "[linearizability]") {
  History h;
  AddPathological(&h, "a", 24);
  h.Put(1, "b", "x", 0, 10, 1).Get(2, "b", 20, 30, "y", 1);
  LinearizabilityOptions options;
  options.max_steps_per_key = 10'000;
  const LinearizabilityResult result = Check(h, options);
  CHECK(result.verdict == CheckVerdict::kIllegal);
  REQUIRE(result.failures.size() == 2);
  CHECK(result.failures[0].key == "a");
  CHECK(result.failures[0].verdict == CheckVerdict::kUnknown);
  CHECK(result.failures[1].key == "b");
  CHECK(result.failures[1].verdict == CheckVerdict::kIllegal);
}

TEST_CASE("A malformed history is refused with InvalidArgument", "[linearizability]") {
  auto refused = [](const History& h, const std::string& fragment) {
    const StatusOr<LinearizabilityResult> result = CheckLinearizable(h.ops());
    REQUIRE(absl::IsInvalidArgument(result.status()));
    CHECK(std::string(result.status().message()).find(fragment) != std::string::npos);
    CHECK(absl::IsInvalidArgument(CheckReadYourWrites(h.ops()).status()));
    CHECK(absl::IsInvalidArgument(CheckMonotonicReads(h.ops()).status()));
  };
  refused(History().Put(1, "k", "a", 10, 5, 1), "#0 c1 put \"a\" -> v1 [10, 5]: completes before");
  refused(History().Put(1, "k", "a", 0, 5, 0), "an acknowledged write has no version");
  refused(History().Get(1, "k", 0, 5, "a", 0), "a value was read at version 0");
  History aborted_put;
  aborted_put.Put(1, "k", "a", 0, 5, 1);
  KvHistory ops = aborted_put.ops();
  ops[0].output.aborted = true;
  CHECK(absl::IsInvalidArgument(CheckLinearizable(ops).status()));
}

TEST_CASE("Reports shorten and escape long or binary values", "[linearizability]") {
  History h;
  h.Put(1, "k", std::string(40, 'x'), 0, 10, 1).Get(2, "k", 20, 30, std::string("\x01\x02", 2), 1);
  CHECK(DescribeOperation(h.ops(), 0) ==
        "#0 c1 put \"xxxxxxxxxxxxxxxx\"...(40 bytes) -> v1 [0, 10]");
  CHECK(DescribeOperation(h.ops(), 1) == "#1 c2 get -> \"\\x01\\x02\"@v1 [20, 30]");
  CHECK(DescribeOperation(History().PutTimedOut(3, "k", "a", 5).ops(), 0) ==
        "#0 c3 put \"a\" -> ? (timed out) [5, inf]");
}

// --- Session guarantees ---

std::vector<SessionViolation> ReadYourWrites(const History& h) {
  StatusOr<std::vector<SessionViolation>> v = CheckReadYourWrites(h.ops());
  REQUIRE(v.ok());
  return *std::move(v);
}

std::vector<SessionViolation> MonotonicReads(const History& h) {
  StatusOr<std::vector<SessionViolation>> v = CheckMonotonicReads(h.ops());
  REQUIRE(v.ok());
  return *std::move(v);
}

TEST_CASE("Read-your-writes: a client's read sees its own acknowledged writes", "[session]") {
  SECTION("an older version after its own write") {
    History h;
    h.Put(2, "k", "old", 0, 10, 3).Put(1, "k", "mine", 20, 30, 5).Get(1, "k", 40, 50, "old", 3);
    const std::vector<SessionViolation> v = ReadYourWrites(h);
    REQUIRE(v.size() == 1);
    CHECK(v[0].client == 1);
    CHECK(v[0].key == "k");
    CHECK(v[0].explanation ==
          "#2 c1 get -> \"old\"@v3 [40, 50] does not see its own earlier write "
          "#1 c1 put \"mine\" -> v5 [20, 30]");
  }
  SECTION("its own write, a later one, or a read before the write completed") {
    History h;
    h.Put(2, "k", "old", 0, 10, 3)
        .Put(1, "k", "mine", 20, 30, 5)
        .Get(1, "k", 25, 35, "old", 3)  // Invoked before the write completed.
        .Get(1, "k", 40, 50, "mine", 5)
        .Get(1, "k", 60, 70, "theirs", 8)
        .Get(3, "k", 60, 70, "old", 3)  // Another client: no promise.
        .Get(1, "other", 60, 70, "x", 1);
    CHECK(ReadYourWrites(h).empty());
  }
  SECTION("absent after its own put, unless someone may have deleted it since") {
    History h;
    h.Put(1, "k", "mine", 0, 10, 5).GetAbsent(1, "k", 20, 30);
    CHECK(ReadYourWrites(h).size() == 1);
    History deleted;
    deleted.Put(1, "k", "mine", 0, 10, 5).Delete(2, "k", 12, 14, 6).GetAbsent(1, "k", 20, 30);
    CHECK(ReadYourWrites(deleted).empty());
    History delete_timed_out;
    delete_timed_out.Put(1, "k", "mine", 0, 10, 5)
        .DeleteTimedOut(2, "k", 12)
        .GetAbsent(1, "k", 20, 30);
    CHECK(ReadYourWrites(delete_timed_out).empty());
    History deleted_before;
    deleted_before.Delete(2, "k", 0, 1, 4).Put(1, "k", "mine", 2, 10, 5).GetAbsent(1, "k", 20, 30);
    CHECK(ReadYourWrites(deleted_before).size() == 1);
  }
  SECTION("its own delete, then an older value") {
    History h;
    h.Put(1, "k", "a", 0, 10, 1).Delete(1, "k", 20, 30, 2).GetAbsent(1, "k", 40, 50);
    CHECK(ReadYourWrites(h).empty());
    h.Get(1, "k", 60, 70, "a", 1);
    CHECK(ReadYourWrites(h).size() == 1);
  }
  SECTION("a successful compare-and-set counts as a write; an aborted one does not") {
    History h;
    h.Cas(1, "k", 0, "a", 0, 10, 4).CasAborted(1, "k", 0, "b", 20, 30).Get(1, "k", 40, 50, "z", 2);
    CHECK(ReadYourWrites(h).size() == 1);
  }
}

TEST_CASE("Monotonic reads: a client's reads of a key never go back", "[session]") {
  SECTION("a newer version, then an older one") {
    History h;
    h.Get(1, "k", 0, 10, "new", 7).Get(1, "k", 20, 30, "old", 3);
    const std::vector<SessionViolation> v = MonotonicReads(h);
    REQUIRE(v.size() == 1);
    CHECK(v[0].explanation ==
          "#1 c1 get -> \"old\"@v3 [20, 30] goes back from the earlier read "
          "#0 c1 get -> \"new\"@v7 [0, 10]");
  }
  SECTION("equal or rising versions, overlapping reads, other clients") {
    History h;
    h.Get(1, "k", 0, 10, "a", 3)
        .Get(1, "k", 20, 30, "a", 3)
        .Get(1, "k", 40, 50, "b", 7)
        .Get(2, "k", 60, 70, "a", 3)
        .Get(3, "k", 0, 100, "b", 7)
        .Get(3, "k", 10, 20, "a", 3);  // Overlaps the first: no order between them.
    CHECK(MonotonicReads(h).empty());
  }
  SECTION("absent after a value, only if a delete may have followed") {
    History h;
    h.Get(1, "k", 0, 10, "a", 3).GetAbsent(1, "k", 20, 30);
    CHECK(MonotonicReads(h).size() == 1);
    History deleted;
    deleted.Get(1, "k", 0, 10, "a", 3).Delete(2, "k", 11, 12, 4).GetAbsent(1, "k", 20, 30);
    CHECK(MonotonicReads(deleted).empty());
  }
  SECTION("the greatest version seen so far is the bar, not the last") {
    History h;
    h.Get(1, "k", 0, 10, "b", 7).Get(1, "k", 20, 30, "b", 7).Get(1, "k", 40, 50, "a", 5);
    CHECK(MonotonicReads(h).size() == 1);
  }
}

// --- Generated histories ---

// A history of a linearizable store: each client runs one operation at a
// time; each operation takes effect at a point between its invoke and its
// completion, in the order of those points, on a map whose writes take LSNs
// from one counter (as a partition's do). Some writes time out (applied or
// not) and some are refused.
KvHistory GenerateLinearizable(uint64_t seed, int operations, int keys, int clients,
                               double timeout_chance = 0.05) {
  Rng rng(seed);
  struct Planned {
    KvOperation op;
    int64_t effect_micros = 0;
    bool applies = true;
  };
  std::vector<Planned> planned;
  std::vector<int64_t> free_at(static_cast<size_t>(clients), 0);
  for (int i = 0; i < operations; ++i) {
    const auto c =
        static_cast<size_t>(std::min_element(free_at.begin(), free_at.end()) - free_at.begin());
    Planned p;
    KvOperation& op = p.op;
    op.client = c;
    op.key = fmt::format("k{:02}", rng.Uniform(static_cast<uint64_t>(keys)));
    const uint64_t kind = rng.Uniform(100);
    op.kind = kind < 50   ? KvOpKind::kGet
              : kind < 80 ? KvOpKind::kPut
              : kind < 85 ? KvOpKind::kDelete
                          : KvOpKind::kCompareAndSet;
    op.value = fmt::format("c{}-{}", c, i);
    op.invoke_micros = free_at[c] + rng.Range(0, 20);
    p.effect_micros = op.invoke_micros + rng.Range(1, 100);
    op.complete_micros = p.effect_micros + rng.Range(1, 100);
    if (op.kind != KvOpKind::kGet && rng.Chance(timeout_chance)) {
      op.outcome = KvOutcome::kUnknown;
      p.applies = rng.Chance(0.5);
    } else if (rng.Chance(0.03)) {
      op.outcome = KvOutcome::kFailed;
      p.applies = false;
    }
    free_at[c] = op.complete_micros + 1;
    planned.push_back(std::move(p));
  }
  std::vector<size_t> order(planned.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return planned[a].effect_micros < planned[b].effect_micros;
  });
  std::map<std::string, KvOutput> store;  // found/value/version per key.
  Lsn last_lsn = 0;
  for (size_t i : order) {
    Planned& p = planned[i];
    KvOperation& op = p.op;
    KvOutput& current = store[op.key];
    if (op.kind == KvOpKind::kCompareAndSet) {
      const Lsn now = current.found ? current.version : 0;
      op.expected_version = rng.Chance(0.6) ? now : rng.Uniform(last_lsn + 2);
      if (op.expected_version != now) {
        op.output.aborted = true;
        continue;
      }
    }
    if (!p.applies) continue;
    if (op.kind == KvOpKind::kGet) {
      op.output = current;
      continue;
    }
    current.found = op.kind != KvOpKind::kDelete;
    current.value = current.found ? op.value : std::string();
    current.version = ++last_lsn;
    op.output.version = current.version;
  }
  KvHistory history;
  for (Planned& p : planned) history.push_back(std::move(p.op));
  return history;
}

TEST_CASE("Generated histories of a linearizable store pass every checker",
          "[linearizability][session]") {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const KvHistory history = GenerateLinearizable(seed, 300, 3, 5);
    const StatusOr<LinearizabilityResult> result = CheckLinearizable(history);
    REQUIRE(result.ok());
    INFO("seed " << seed << ": " << result->Summary());
    CHECK(result->verdict == CheckVerdict::kOk);
    CHECK(CheckReadYourWrites(history)->empty());
    CHECK(CheckMonotonicReads(history)->empty());
  }
}

TEST_CASE("A generated history breaks once one read is made stale", "[linearizability][session]") {
  // Find two reads of one key by one client, the second seeing a newer
  // version, and add a third read by that client, after the second, that
  // sees the first's value again: the newer version was written before the
  // second read returned, and versions of a key only grow, so the third read
  // is stale whatever else happened.
  KvHistory history = GenerateLinearizable(7, 400, 2, 4);
  for (size_t i = 0; i < history.size(); ++i) {
    const KvOperation& first = history[i];
    if (first.kind != KvOpKind::kGet || first.outcome != KvOutcome::kOk || !first.output.found) {
      continue;
    }
    for (size_t j = i + 1; j < history.size(); ++j) {
      KvOperation& second = history[j];
      if (second.client != first.client || second.key != first.key ||
          second.kind != KvOpKind::kGet || second.outcome != KvOutcome::kOk ||
          !second.output.found || second.output.version <= first.output.version) {
        continue;
      }
      KvOperation stale = first;
      stale.invoke_micros = second.complete_micros + 1;
      stale.complete_micros = second.complete_micros + 2;
      history.push_back(stale);
      const StatusOr<LinearizabilityResult> result = CheckLinearizable(history);
      REQUIRE(result.ok());
      INFO(result->Summary());
      CHECK(result->verdict == CheckVerdict::kIllegal);
      CHECK(result->Summary().find(fmt::format("#{} ", history.size() - 1)) != std::string::npos);
      CHECK(CheckMonotonicReads(history)->size() == 1);
      return;
    }
  }
  FAIL("no pair of reads to break");
}

void CheckTimed(int operations, int keys, int clients, double timeout_chance) {
  const KvHistory history = GenerateLinearizable(42, operations, keys, clients, timeout_chance);
  const auto start = std::chrono::steady_clock::now();
  const StatusOr<LinearizabilityResult> result = CheckLinearizable(history);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(result.ok());
  INFO(result->Summary());
  CHECK(result->verdict == CheckVerdict::kOk);
  CHECK(result->keys == static_cast<size_t>(keys));
  // Reported, never asserted: timings depend on the machine.
  WARN(fmt::format("{} ops, {} keys, {} clients, {}% of writes timed out: {}; checked in {:.1f} ms",
                   operations, keys, clients, 100 * timeout_chance,
                   result->Summary().substr(0, result->Summary().find('\n')),
                   std::chrono::duration<double, std::milli>(elapsed).count()));
}

// Changes one thing in one operation's result: a version, the value read,
// found or not, aborted or not.
void Mutate(Rng& rng, KvHistory* history) {
  KvOperation& op = (*history)[rng.Uniform(history->size())];
  switch (rng.Uniform(4)) {
    case 0:
      if (op.output.version > 1) op.output.version += rng.Chance(0.5) ? 1 : -1;
      break;
    case 1:
      if (op.kind == KvOpKind::kGet && op.output.found) {
        op.output.value = (*history)[rng.Uniform(history->size())].value;
      }
      break;
    case 2:
      if (op.kind == KvOpKind::kGet && op.outcome == KvOutcome::kOk && !op.output.found) {
        op.output = {true, (*history)[rng.Uniform(history->size())].value, 1 + rng.Uniform(5)};
      }
      break;
    case 3:
      if (op.kind == KvOpKind::kCompareAndSet && op.outcome == KvOutcome::kOk) {
        op.output.aborted = !op.output.aborted;
        op.output.version = op.output.aborted ? 0 : 100;
      }
      break;
  }
}

TEST_CASE("Leaving out unobserved timed-out writes changes no verdict", "[linearizability]") {
  // Small histories with many timeouts, most made wrong in one place: the
  // verdict with the unobserved timed-out writes left out is the verdict of
  // the full search.
  Rng rng(99);
  LinearizabilityOptions full;
  full.leave_out_unobserved_timeouts = false;
  int illegal = 0, left_out = 0;
  for (uint64_t seed = 1; seed <= 3000; ++seed) {
    KvHistory history = GenerateLinearizable(seed, 14, 1, 3, 0.3);
    if (seed % 4 != 0) Mutate(rng, &history);
    const StatusOr<LinearizabilityResult> quick = CheckLinearizable(history);
    const StatusOr<LinearizabilityResult> slow = CheckLinearizable(history, full);
    REQUIRE(quick.ok());
    REQUIRE(slow.ok());
    INFO("seed " << seed << "\n" << quick->Summary() << "\n" << slow->Summary());
    REQUIRE(quick->verdict == slow->verdict);
    illegal += quick->verdict == CheckVerdict::kIllegal;
    left_out += quick->unobserved_timeouts > 0;
  }
  WARN(fmt::format("3000 histories: {} illegal, {} with timed-out writes left out", illegal,
                   left_out));
  CHECK(illegal > 300);
  CHECK(left_out > 300);
}

// The reference: tries every order of a one-key history without timeouts
// that respects real time, on a plain map entry.
bool Replays(const KvHistory& h, const std::vector<size_t>& order) {
  bool present = false;
  std::string value;
  Lsn version = 0, last = 0;
  for (size_t i : order) {
    const KvOperation& op = h[i];
    const Lsn current = present ? version : 0;
    if (op.kind == KvOpKind::kGet) {
      if (op.output.found != present) return false;
      if (present && (op.output.value != value || op.output.version != version)) return false;
      continue;
    }
    if (op.kind == KvOpKind::kCompareAndSet &&
        (op.expected_version == current) == op.output.aborted) {
      return false;
    }
    if (op.output.aborted) continue;
    if (op.output.version <= last) return false;
    last = op.output.version;
    present = op.kind != KvOpKind::kDelete;
    value = present ? op.value : std::string();
    version = present ? op.output.version : 0;
  }
  return true;
}

bool RespectsRealTime(const KvHistory& h, const std::vector<size_t>& order) {
  for (size_t a = 0; a < order.size(); ++a) {
    for (size_t b = a + 1; b < order.size(); ++b) {
      if (h[order[b]].complete_micros < h[order[a]].invoke_micros) return false;
    }
  }
  return true;
}

bool LinearizableByEveryOrder(const KvHistory& h) {
  std::vector<size_t> order;
  for (size_t i = 0; i < h.size(); ++i) {
    if (h[i].outcome == KvOutcome::kOk) order.push_back(i);
  }
  do {
    if (RespectsRealTime(h, order) && Replays(h, order)) return true;
  } while (std::next_permutation(order.begin(), order.end()));
  return false;
}

TEST_CASE("The search agrees with trying every order", "[linearizability]") {
  Rng rng(5);
  int illegal = 0;
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    KvHistory history = GenerateLinearizable(seed, 7, 1, 3, 0.0);
    if (seed % 4 != 0) Mutate(rng, &history);
    const StatusOr<LinearizabilityResult> result = CheckLinearizable(history);
    REQUIRE(result.ok());
    INFO("seed " << seed << "\n" << result->Summary());
    const bool expected = LinearizableByEveryOrder(history);
    REQUIRE((result->verdict == CheckVerdict::kOk) == expected);
    illegal += !expected;
  }
  WARN(fmt::format("1000 histories of 7 operations: {} illegal", illegal));
  CHECK(illegal > 100);
}

TEST_CASE("2,000 operations over 20 keys from 8 clients check quickly", "[linearizability]") {
  CheckTimed(2000, 20, 8, 0.05);
  // Every client on one key: the most concurrency per key.
  CheckTimed(2000, 1, 8, 0.0);
  CheckTimed(2000, 1, 8, 0.01);
}

}  // namespace
}  // namespace toydb::sim
