#include "sim/kv_history.h"

#include <fmt/format.h>

#include <utility>

namespace toydb::sim {

std::string KvHistoryVerdict::Describe() const {
  std::string out = fmt::format("lin={} ops={} keys={}", CheckVerdictName(linearizable),
                                linearizable_operations, linearizable_keys);
  if (unknown_keys > 0) out += fmt::format(" unknown_keys={}", unknown_keys);
  out += fmt::format(" session={} session_reads={}", session_violations == 0 ? "ok" : "violated",
                     session_reads);
  return out;
}

size_t KvHistoryRecorder::Invoke(uint64_t client, KvOpKind kind, std::string key, std::string value,
                                 Lsn expected_version, ReadConsistency promised,
                                 int64_t now_micros) {
  Recorded r;
  r.op.client = client;
  r.op.kind = kind;
  r.op.key = std::move(key);
  r.op.value = std::move(value);
  r.op.expected_version = expected_version;
  r.op.invoke_micros = now_micros;
  r.op.outcome = KvOutcome::kUnknown;
  r.read = kind == KvOpKind::kGet;
  r.promised = promised;
  ops_.push_back(std::move(r));
  return ops_.size() - 1;
}

void KvHistoryRecorder::Complete(size_t index, KvOutcome outcome, KvOutput output,
                                 int64_t now_micros) {
  Recorded& r = ops_[index];
  r.completed = true;
  r.op.outcome = outcome;
  r.op.output = std::move(output);
  r.op.complete_micros = now_micros;
}

KvHistory KvHistoryRecorder::Select(std::initializer_list<ReadConsistency> levels) const {
  KvHistory out;
  for (const Recorded& r : ops_) {
    if (r.read) {
      bool wanted = false;
      for (ReadConsistency level : levels) wanted = wanted || r.promised == level;
      if (!wanted) continue;
    }
    KvOperation op = r.op;
    if (!r.completed) op.outcome = KvOutcome::kUnknown;
    out.push_back(std::move(op));
  }
  return out;
}

KvHistoryVerdict KvHistoryRecorder::Check(const LinearizabilityOptions& options) const {
  KvHistoryVerdict verdict;
  const KvHistory linear = Select({ReadConsistency::kLinearizable, ReadConsistency::kQuorum});
  StatusOr<LinearizabilityResult> result = CheckLinearizable(linear, options);
  if (!result.ok()) {
    verdict.linearizable = CheckVerdict::kIllegal;
    verdict.failure = "the recorded history is malformed: " + result.status().ToString();
    return verdict;
  }
  verdict.linearizable = result->verdict;
  verdict.linearizable_operations = result->operations;
  verdict.linearizable_keys = result->keys;
  verdict.steps = result->steps;
  for (const KeyFailure& f : result->failures)
    verdict.unknown_keys += f.verdict == CheckVerdict::kUnknown;
  if (result->verdict == CheckVerdict::kIllegal) {
    verdict.failure =
        "kLinearizable/kQuorum reads and the writes are not linearizable:\n" + result->Summary();
    return verdict;
  }

  const KvHistory session = Select({ReadConsistency::kSession});
  for (const KvOperation& op : session) verdict.session_reads += op.kind == KvOpKind::kGet;
  StatusOr<std::vector<SessionViolation>> ryw = CheckReadYourWrites(session);
  StatusOr<std::vector<SessionViolation>> monotonic = CheckMonotonicReads(session);
  if (!ryw.ok() || !monotonic.ok()) {
    verdict.failure = "the recorded history is malformed: " +
                      (!ryw.ok() ? ryw.status() : monotonic.status()).ToString();
    return verdict;
  }
  verdict.session_violations = ryw->size() + monotonic->size();
  const SessionViolation* first =
      !ryw->empty() ? &ryw->front() : (!monotonic->empty() ? &monotonic->front() : nullptr);
  if (first != nullptr) {
    verdict.failure = fmt::format("kSession reads broke {} (router {}, key {}): {}",
                                  !ryw->empty() ? "read-your-writes" : "monotonic reads",
                                  first->client, first->key, first->explanation);
  }
  return verdict;
}

}  // namespace toydb::sim
