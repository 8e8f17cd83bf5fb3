#include "sim/linearizability.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>
#include <string_view>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"

namespace toydb::sim {
namespace {

// A timed-out operation's completion: after everything else.
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// Values longer than this are cut in reports.
constexpr size_t kShownValueBytes = 16;
// Operations listed as "could have come next" in a failure report.
constexpr size_t kMaxReportedCandidates = 8;

// ---------------------------------------------------------------------------
// Reading a history.

bool IsAcknowledgedWrite(const KvOperation& op) {
  return op.outcome == KvOutcome::kOk && op.kind != KvOpKind::kGet && !op.output.aborted;
}

bool IsCompletedRead(const KvOperation& op) {
  return op.outcome == KvOutcome::kOk && op.kind == KvOpKind::kGet;
}

// kFailed operations did nothing; a timed-out get constrains nothing.
bool TakesPartInSearch(const KvOperation& op) {
  if (op.outcome == KvOutcome::kFailed) return false;
  return !(op.outcome == KvOutcome::kUnknown && op.kind == KvOpKind::kGet);
}

Status Malformed(const KvHistory& history, size_t index, std::string_view why) {
  return absl::InvalidArgumentError(
      fmt::format("malformed history: {}: {}", DescribeOperation(history, index), why));
}

Status ValidateOperation(const KvHistory& history, size_t index) {
  const KvOperation& op = history[index];
  if (op.outcome != KvOutcome::kOk) return absl::OkStatus();
  if (op.complete_micros < op.invoke_micros) {
    return Malformed(history, index, "completes before it is invoked");
  }
  if (op.output.aborted && op.kind != KvOpKind::kCompareAndSet) {
    return Malformed(history, index, "only a compare-and-set can abort");
  }
  if (IsAcknowledgedWrite(op) && op.output.version == 0) {
    return Malformed(history, index, "an acknowledged write has no version");
  }
  if (IsCompletedRead(op) && op.output.found && op.output.version == 0) {
    return Malformed(history, index, "a value was read at version 0");
  }
  return absl::OkStatus();
}

Status ValidateHistory(const KvHistory& history) {
  for (size_t i = 0; i < history.size(); ++i) {
    if (Status s = ValidateOperation(history, i); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// This abseil's string_view is its own type, not std::string_view.
std::string Escaped(std::string_view bytes) {
  return absl::CHexEscape(absl::string_view(bytes.data(), bytes.size()));
}

std::string Shown(std::string_view value) {
  if (value.size() <= kShownValueBytes) return fmt::format("\"{}\"", Escaped(value));
  return fmt::format("\"{}\"...({} bytes)", Escaped(value.substr(0, kShownValueBytes)),
                     value.size());
}

std::string DescribeCall(const KvOperation& op) {
  switch (op.kind) {
    case KvOpKind::kGet:
      return "get";
    case KvOpKind::kPut:
      return fmt::format("put {}", Shown(op.value));
    case KvOpKind::kDelete:
      return "delete";
    case KvOpKind::kCompareAndSet:
      return fmt::format("cas(expect v{}, {})", op.expected_version, Shown(op.value));
  }
  return "?";
}

std::string DescribeResult(const KvOperation& op) {
  if (op.outcome == KvOutcome::kFailed) return "failed";
  if (op.outcome == KvOutcome::kUnknown) return "? (timed out)";
  if (op.kind != KvOpKind::kGet) {
    return op.output.aborted ? std::string("aborted") : fmt::format("v{}", op.output.version);
  }
  if (!op.output.found) return "absent";
  return fmt::format("{}@v{}", Shown(op.output.value), op.output.version);
}

// ---------------------------------------------------------------------------
// The model: one key of a store whose writes get increasing LSNs.

// What the search knows of the key after a sequence of operations. A write
// that timed out has an LSN nobody reported; it is pinned down when a later
// read or compare-and-set reveals it, and until then only bounded below.
struct KeyState {
  bool present = false;
  uint32_t value_id = 0;  // Interned value, when present.
  // The present value's version, when known (unknown_writes == 0).
  Lsn version = 0;
  // The greatest LSN known to have been written to the key.
  Lsn known_lsn = 0;
  // Writes of unreported LSN applied after known_lsn: each took a greater LSN
  // than the one before, so the last of them has at least known_lsn + this.
  uint32_t unknown_writes = 0;
  // Versions the present value's unknown version is known not to be (an
  // acknowledged compare-and-set against one of them aborted). Sorted.
  std::vector<Lsn> excluded;

  bool VersionUnknown() const { return present && unknown_writes > 0; }
  // The least LSN the next acknowledged write of the key may carry.
  Lsn NextWriteFloor() const { return known_lsn + unknown_writes + 1; }

  bool operator==(const KeyState& other) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const KeyState& s) {
    return H::combine(std::move(h), s.present, s.value_id, s.version, s.known_lsn, s.unknown_writes,
                      s.excluded);
  }
};

// One operation of a key's history, with values interned.
struct ModelOp {
  size_t history_index = 0;
  KvOpKind kind = KvOpKind::kGet;
  bool unknown = false;      // Timed out: applied, if at all, with no output.
  uint32_t write_value = 0;  // Put, compare-and-set.
  Lsn expected_version = 0;  // Compare-and-set.
  bool found = false;        // Get.
  uint32_t read_value = 0;   // Get, when found.
  Lsn version = 0;           // Get: read; write: written (when acknowledged).
  bool aborted = false;      // Compare-and-set.
  int64_t invoke_micros = 0;
  int64_t complete_micros = 0;  // kNever when unknown.
};

// Applying an operation either yields the next state or says why it cannot
// happen now. `why` may be null: the search does not need the reason.
class Model {
 public:
  explicit Model(const std::vector<std::string_view>* values) : values_(values) {}

  bool Step(const KeyState& s, const ModelOp& op, KeyState* next, std::string* why) const {
    *next = s;
    switch (op.kind) {
      case KvOpKind::kGet:
        return Read(op, next, why);
      case KvOpKind::kPut:
      case KvOpKind::kDelete:
        return Write(op, next, why);
      case KvOpKind::kCompareAndSet:
        return CompareAndSet(op, next, why);
    }
    return false;
  }

  std::string Describe(const KeyState& s) const {
    std::string out;
    if (!s.present) {
      out = "absent";
    } else if (s.VersionUnknown()) {
      out = fmt::format("{}@v? (at least v{}, from a timed-out write)", ValueText(s.value_id),
                        s.known_lsn + s.unknown_writes);
    } else {
      out = fmt::format("{}@v{}", ValueText(s.value_id), s.version);
    }
    out += fmt::format("; last known write v{}", s.known_lsn);
    if (s.unknown_writes > 0) out += fmt::format(", then {} timed-out write(s)", s.unknown_writes);
    return out;
  }

 private:
  static bool Fail(std::string* why, std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return false;
  }

  std::string ValueText(uint32_t id) const { return Shown((*values_)[id]); }

  static bool IsExcluded(const KeyState& s, Lsn v) {
    return std::binary_search(s.excluded.begin(), s.excluded.end(), v);
  }

  // Fixes the present value's unknown version at v, if v is possible.
  static bool Reveal(KeyState* s, Lsn v, std::string* why) {
    const Lsn least = s->known_lsn + s->unknown_writes;
    if (v < least) {
      return Fail(why,
                  fmt::format("sees v{} for a timed-out write, which has at least v{}", v, least));
    }
    if (IsExcluded(*s, v)) {
      return Fail(why,
                  fmt::format("sees v{}, which an earlier compare-and-set found it was not", v));
    }
    s->version = v;
    s->known_lsn = v;
    s->unknown_writes = 0;
    s->excluded.clear();
    return true;
  }

  bool Read(const ModelOp& op, KeyState* s, std::string* why) const {
    if (!op.found) {
      if (!s->present) return true;
      return Fail(why, fmt::format("reads absent, but the key holds {}", ValueText(s->value_id)));
    }
    if (!s->present) return Fail(why, "reads a value, but the key is absent");
    if (s->value_id != op.read_value) {
      return Fail(why, fmt::format("reads {}, but the key holds {}", ValueText(op.read_value),
                                   ValueText(s->value_id)));
    }
    if (s->VersionUnknown()) return Reveal(s, op.version, why);
    if (s->version == op.version) return true;
    return Fail(why, fmt::format("reads v{}, but the value there is v{}", op.version, s->version));
  }

  // Applies a put, a delete, or a compare-and-set whose condition held.
  static bool Write(const ModelOp& op, KeyState* s, std::string* why) {
    const bool erases = op.kind == KvOpKind::kDelete;
    if (op.unknown) {
      s->unknown_writes += 1;
      s->version = 0;
    } else {
      if (op.version < s->NextWriteFloor()) {
        return Fail(why, fmt::format("writes v{}, but the key's writes already reached v{}",
                                     op.version, s->NextWriteFloor() - 1));
      }
      s->known_lsn = op.version;
      s->unknown_writes = 0;
      s->version = erases ? 0 : op.version;
    }
    s->present = !erases;
    s->value_id = erases ? 0 : op.write_value;
    s->excluded.clear();
    return true;
  }

  static bool CompareAndSet(const ModelOp& op, KeyState* s, std::string* why) {
    const Lsn expected = op.expected_version;
    if (s->VersionUnknown()) {
      if (op.aborted) return Exclude(s, expected);
      if (!Reveal(s, expected, why)) return false;
      return Write(op, s, why);
    }
    const Lsn current = s->present ? s->version : 0;
    if (op.aborted) {
      if (current != expected) return true;
      return Fail(why, fmt::format("aborts, but the key's version is the expected v{}", expected));
    }
    if (current != expected) {
      return Fail(why, fmt::format("succeeds expecting v{}, but the key's version is v{}", expected,
                                   current));
    }
    return Write(op, s, why);
  }

  // An acknowledged abort against a value of unknown version: that version
  // is not `expected`.
  static bool Exclude(KeyState* s, Lsn expected) {
    if (expected < s->known_lsn + s->unknown_writes) return true;  // Cannot be it anyway.
    auto at = std::lower_bound(s->excluded.begin(), s->excluded.end(), expected);
    if (at == s->excluded.end() || *at != expected) s->excluded.insert(at, expected);
    return true;
  }

  const std::vector<std::string_view>* values_;
};

// ---------------------------------------------------------------------------
// The search over one key's history.

struct Memo {
  std::vector<uint64_t> linearized;
  KeyState state;
  bool operator==(const Memo& other) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Memo& m) {
    return H::combine(std::move(h), m.linearized, m.state);
  }
};

// Wing & Gong's search with Lowe's memo. The call and return events of the
// key's operations form a doubly linked list in time order; placing an
// operation unlinks its two events, backtracking links them back.
class KeySearch {
 public:
  KeySearch(const KvHistory& history, const std::vector<size_t>& indices) {
    Intern(history, indices);
    BuildEvents();
  }

  CheckVerdict Run(uint64_t max_steps);
  uint64_t steps() const { return steps_; }
  size_t size() const { return ops_.size(); }
  // For a verdict other than kOk: the deepest point the search reached.
  std::string Explain(const KvHistory& history, const LinearizabilityOptions& options,
                      CheckVerdict verdict) const;

 private:
  struct Event {
    int64_t time = 0;
    bool is_return = false;
    uint32_t op = 0;
  };
  struct Frame {
    int call = 0;
    KeyState before;
  };

  uint32_t InternValue(std::string_view value);
  void Intern(const KvHistory& history, const std::vector<size_t>& indices);
  void BuildEvents();
  void Lift(int call);
  void Unlift(int call);
  void SetBit(uint32_t op, bool on);
  void RecordIfDeepest(const KeyState& state);
  std::vector<uint32_t> NextCandidates() const;

  std::vector<std::string_view> values_{std::string_view()};  // id 0: no value.
  absl::flat_hash_map<std::string_view, uint32_t> value_ids_;
  std::vector<ModelOp> ops_;
  std::vector<Event> events_;
  std::vector<int> next_, prev_, match_;  // Over events, then head, then tail.
  int head_ = 0, tail_ = 0;
  std::vector<uint64_t> linearized_;
  uint64_t steps_ = 0;
  // The longest linearizable prefix seen, for the report.
  std::vector<uint32_t> best_prefix_;
  KeyState best_state_;
  std::vector<Frame> stack_;
};

uint32_t KeySearch::InternValue(std::string_view value) {
  auto [it, inserted] = value_ids_.try_emplace(value, static_cast<uint32_t>(values_.size()));
  if (inserted) values_.push_back(value);
  return it->second;
}

void KeySearch::Intern(const KvHistory& history, const std::vector<size_t>& indices) {
  for (size_t index : indices) {
    const KvOperation& op = history[index];
    ModelOp m;
    m.history_index = index;
    m.kind = op.kind;
    m.unknown = op.outcome == KvOutcome::kUnknown;
    m.write_value = InternValue(op.value);
    m.expected_version = op.expected_version;
    m.found = op.output.found;
    m.read_value = op.output.found ? InternValue(op.output.value) : 0;
    m.version = op.output.version;
    m.aborted = !m.unknown && op.output.aborted;
    m.invoke_micros = op.invoke_micros;
    m.complete_micros = m.unknown ? kNever : op.complete_micros;
    ops_.push_back(m);
  }
}

void KeySearch::BuildEvents() {
  for (uint32_t i = 0; i < ops_.size(); ++i) {
    events_.push_back({ops_[i].invoke_micros, false, i});
    events_.push_back({ops_[i].complete_micros, true, i});
  }
  // At equal times calls come first: operations that touch are concurrent.
  std::sort(events_.begin(), events_.end(), [](const Event& a, const Event& b) {
    return std::tie(a.time, a.is_return, a.op) < std::tie(b.time, b.is_return, b.op);
  });
  const int n = static_cast<int>(events_.size());
  head_ = n;
  tail_ = n + 1;
  next_.resize(n + 2);
  prev_.resize(n + 2);
  match_.resize(n);
  std::vector<int> call_of(ops_.size());
  for (int e = 0; e < n; ++e) {
    prev_[e] = e == 0 ? head_ : e - 1;
    next_[e] = e == n - 1 ? tail_ : e + 1;
    if (!events_[e].is_return) {
      call_of[events_[e].op] = e;
    } else {
      match_[e] = call_of[events_[e].op];
      match_[call_of[events_[e].op]] = e;
    }
  }
  next_[head_] = n == 0 ? tail_ : 0;
  prev_[tail_] = n == 0 ? head_ : n - 1;
  linearized_.assign((ops_.size() + 63) / 64, 0);
}

void KeySearch::Lift(int call) {
  const int ret = match_[call];
  next_[prev_[call]] = next_[call];
  prev_[next_[call]] = prev_[call];
  next_[prev_[ret]] = next_[ret];
  prev_[next_[ret]] = prev_[ret];
}

// Exactly undoes Lift(call), in reverse order.
void KeySearch::Unlift(int call) {
  const int ret = match_[call];
  prev_[next_[ret]] = ret;
  next_[prev_[ret]] = ret;
  prev_[next_[call]] = call;
  next_[prev_[call]] = call;
}

void KeySearch::SetBit(uint32_t op, bool on) {
  const uint64_t bit = uint64_t{1} << (op % 64);
  if (on) {
    linearized_[op / 64] |= bit;
  } else {
    linearized_[op / 64] &= ~bit;
  }
}

void KeySearch::RecordIfDeepest(const KeyState& state) {
  if (stack_.size() <= best_prefix_.size()) return;
  best_prefix_.clear();
  for (const Frame& frame : stack_) best_prefix_.push_back(events_[frame.call].op);
  best_state_ = state;
}

CheckVerdict KeySearch::Run(uint64_t max_steps) {
  const Model model(&values_);
  absl::flat_hash_set<Memo> seen;
  KeyState state;
  int entry = next_[head_];
  while (entry != tail_) {
    if (++steps_ > max_steps) return CheckVerdict::kUnknown;
    const Event& event = events_[entry];
    const ModelOp& op = ops_[event.op];
    if (!event.is_return) {
      KeyState after;
      if (model.Step(state, op, &after, nullptr)) {
        SetBit(event.op, true);
        if (seen.insert(Memo{linearized_, after}).second) {
          stack_.push_back({entry, std::move(state)});
          state = std::move(after);
          Lift(entry);
          RecordIfDeepest(state);
          entry = next_[head_];
          continue;
        }
        SetBit(event.op, false);
      }
      entry = next_[entry];
      continue;
    }
    // The earliest pending return. Timed-out operations return at +infinity,
    // after every other, so reaching one means every operation that did
    // complete is placed; the rest may take effect later or never.
    if (op.unknown) return CheckVerdict::kOk;
    if (stack_.empty()) return CheckVerdict::kIllegal;
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    state = std::move(frame.before);
    SetBit(events_[frame.call].op, false);
    Unlift(frame.call);
    entry = next_[frame.call];
  }
  return CheckVerdict::kOk;
}

// The operations that could follow the longest prefix: not in it, and
// invoked no later than the earliest completion among those not in it.
std::vector<uint32_t> KeySearch::NextCandidates() const {
  std::vector<bool> placed(ops_.size(), false);
  for (uint32_t op : best_prefix_) placed[op] = true;
  int64_t earliest_return = kNever;
  for (uint32_t i = 0; i < ops_.size(); ++i) {
    if (!placed[i]) earliest_return = std::min(earliest_return, ops_[i].complete_micros);
  }
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < ops_.size(); ++i) {
    if (!placed[i] && ops_[i].invoke_micros <= earliest_return) out.push_back(i);
  }
  return out;
}

std::string KeySearch::Explain(const KvHistory& history, const LinearizabilityOptions& options,
                               CheckVerdict verdict) const {
  const Model model(&values_);
  std::string out;
  if (verdict == CheckVerdict::kUnknown) {
    out += fmt::format("  the search stopped after {} steps; the deepest point it reached:\n",
                       steps_ - 1);
  }
  out += fmt::format("  longest linearizable prefix: {} of {} operations", best_prefix_.size(),
                     ops_.size());
  const size_t shown = std::min(best_prefix_.size(), options.max_reported_prefix);
  if (shown > 0) out += fmt::format(", its last {}:", shown);
  out += "\n";
  for (size_t i = best_prefix_.size() - shown; i < best_prefix_.size(); ++i) {
    out += fmt::format("    {}\n", DescribeOperation(history, ops_[best_prefix_[i]].history_index));
  }
  out += fmt::format("  key after it: {}\n", model.Describe(best_state_));
  out += verdict == CheckVerdict::kUnknown ? "  operations that could come next:\n"
                                           : "  none of these can come next:\n";
  size_t listed = 0;
  for (uint32_t i : NextCandidates()) {
    if (listed == kMaxReportedCandidates) {
      out += "    ...\n";
      break;
    }
    KeyState after;
    std::string why;
    if (model.Step(best_state_, ops_[i], &after, &why)) {
      if (ops_[i].unknown) continue;  // It may also never take effect.
      why = "possible here, but no linearization continues from it";
    }
    out += fmt::format("    {}: {}\n", DescribeOperation(history, ops_[i].history_index), why);
    ++listed;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Timed-out writes nothing could have observed.
//
// A timed-out write stays a candidate at every step of the search, so k of
// them multiply the configurations by up to 2^k. But if no operation could
// have seen its effect, there is a linearization with it if and only if there
// is one without it (taking it out only loosens the bounds on later LSNs), so
// it may be left out: it never took effect. Its effect could have been seen,
// after its invoke, by
//   - a get that returned its value (a delete: a get that returned absent);
//   - a compare-and-set that succeeded or timed out expecting a version that
//     could be its LSN: for a put, one that no acknowledged write or found
//     get of the key reports (those are other writes' LSNs); for a delete,
//     version 0;
//   - an aborted compare-and-set whose expected version e could have been
//     the key's version just before the write: 0, or any version reported
//     for the key, unless a greater version was acknowledged or read before
//     the compare-and-set was invoked (LSNs only grow, so the key had moved
//     past e for good by then, whatever the write did).
class Observers {
 public:
  Observers(const KvHistory& history, const std::vector<size_t>& key_ops) {
    for (size_t i : key_ops) CollectVersions(history[i]);
    SortVersionsByCompletion();
    for (size_t i : key_ops) CollectObserver(history, i);
  }

  bool MaySee(const KvHistory& history, size_t write) const {
    const KvOperation& w = history[write];
    const bool erases = w.kind == KvOpKind::kDelete;
    for (const Observer& o : observers_) {
      if (o.index == write || o.complete_micros < w.invoke_micros) continue;
      if (o.kind == Observer::kGet ? (erases ? o.absent : !o.absent && o.value == w.value)
                                   : Sees(o, erases)) {
        return true;
      }
    }
    return false;
  }

 private:
  struct Observer {
    enum Kind : uint8_t { kGet, kCondition, kAbort } kind;
    size_t index;
    int64_t complete_micros;
    bool absent = false;     // kGet: read absent.
    std::string_view value;  // kGet: the value read.
    Lsn expected = 0;        // kCondition, kAbort.
  };

  bool Sees(const Observer& o, bool erases) const {
    if (o.kind == Observer::kAbort) return o.expected == 0 || any_version_.contains(o.expected);
    if (erases) return o.expected == 0;
    return o.expected != 0 && !written_or_read_.contains(o.expected);
  }

  void CollectVersions(const KvOperation& op) {
    if (op.outcome != KvOutcome::kOk) {
      if (op.kind == KvOpKind::kCompareAndSet) any_version_.insert(op.expected_version);
      return;
    }
    if (op.kind == KvOpKind::kCompareAndSet && !op.output.aborted) {
      any_version_.insert(op.expected_version);
    }
    if (IsAcknowledgedWrite(op) || (IsCompletedRead(op) && op.output.found)) {
      written_or_read_.insert(op.output.version);
      any_version_.insert(op.output.version);
      greatest_by_completion_.push_back({op.complete_micros, op.output.version});
    }
  }

  // Sorts the (completion, version) pairs and makes each version the
  // greatest completed by then.
  void SortVersionsByCompletion() {
    std::sort(greatest_by_completion_.begin(), greatest_by_completion_.end());
    Lsn greatest = 0;
    for (auto& [complete, version] : greatest_by_completion_) {
      greatest = std::max(greatest, version);
      version = greatest;
    }
  }

  // The greatest version acknowledged or read by operations that completed
  // before `micros`.
  Lsn GreatestVersionBefore(int64_t micros) const {
    auto after = std::lower_bound(greatest_by_completion_.begin(), greatest_by_completion_.end(),
                                  std::pair<int64_t, Lsn>(micros, 0));
    return after == greatest_by_completion_.begin() ? 0 : std::prev(after)->second;
  }

  void CollectObserver(const KvHistory& history, size_t i) {
    const KvOperation& op = history[i];
    const int64_t complete = op.outcome == KvOutcome::kUnknown ? kNever : op.complete_micros;
    if (IsCompletedRead(op)) {
      observers_.push_back({Observer::kGet, i, complete, !op.output.found, op.output.value, 0});
    } else if (op.kind == KvOpKind::kCompareAndSet && op.outcome != KvOutcome::kFailed) {
      const bool aborted = op.outcome == KvOutcome::kOk && op.output.aborted;
      const Lsn e = op.expected_version;
      if (aborted && e != 0 && GreatestVersionBefore(op.invoke_micros) > e) return;
      observers_.push_back({aborted ? Observer::kAbort : Observer::kCondition,
                            i,
                            complete,
                            false,
                            {},
                            op.expected_version});
    }
  }

  std::vector<Observer> observers_;
  absl::flat_hash_set<Lsn> written_or_read_;
  absl::flat_hash_set<Lsn> any_version_;
  std::vector<std::pair<int64_t, Lsn>> greatest_by_completion_;
};

// The operations the search places, per key: without kFailed ones, timed-out
// gets, and timed-out writes nothing could have observed (counted in
// *unobserved).
std::map<std::string_view, std::vector<size_t>> IndicesByKey(const KvHistory& history,
                                                             const LinearizabilityOptions& options,
                                                             size_t* unobserved) {
  std::map<std::string_view, std::vector<size_t>> by_key;
  for (size_t i = 0; i < history.size(); ++i) {
    if (TakesPartInSearch(history[i])) by_key[history[i].key].push_back(i);
  }
  if (!options.leave_out_unobserved_timeouts) return by_key;
  for (auto& [key, indices] : by_key) {
    const Observers observers(history, indices);
    const auto unseen = [&](size_t i) {
      return history[i].outcome == KvOutcome::kUnknown && !observers.MaySee(history, i);
    };
    const auto removed = std::remove_if(indices.begin(), indices.end(), unseen);
    *unobserved += static_cast<size_t>(indices.end() - removed);
    indices.erase(removed, indices.end());
  }
  return by_key;
}

// ---------------------------------------------------------------------------
// Session guarantees.

// Whether some delete of a key may have come after a write at `version`.
class DeleteIndex {
 public:
  explicit DeleteIndex(const KvHistory& history) {
    for (const KvOperation& op : history) {
      if (op.kind != KvOpKind::kDelete) continue;
      Deletes& d = by_key_[op.key];
      if (op.outcome == KvOutcome::kUnknown) d.any_unknown = true;
      if (op.outcome == KvOutcome::kOk) d.greatest = std::max(d.greatest, op.output.version);
    }
  }
  bool MayFollow(std::string_view key, Lsn version) const {
    auto it = by_key_.find(key);
    return it != by_key_.end() && (it->second.any_unknown || it->second.greatest > version);
  }

 private:
  struct Deletes {
    bool any_unknown = false;
    Lsn greatest = 0;
  };
  absl::flat_hash_map<std::string_view, Deletes> by_key_;
};

// Each client's operations on each key, in history order.
std::map<std::pair<uint64_t, std::string_view>, std::vector<size_t>> IndicesBySession(
    const KvHistory& history) {
  std::map<std::pair<uint64_t, std::string_view>, std::vector<size_t>> out;
  for (size_t i = 0; i < history.size(); ++i) out[{history[i].client, history[i].key}].push_back(i);
  return out;
}

std::vector<size_t> SortedBy(const KvHistory& history, std::vector<size_t> indices,
                             int64_t KvOperation::*time) {
  std::stable_sort(indices.begin(), indices.end(),
                   [&](size_t a, size_t b) { return history[a].*time < history[b].*time; });
  return indices;
}

// Among `earlier` (sorted by completion), the one of greatest version that
// completed before `before_micros`, advancing *cursor. -1 if none yet.
void AdvanceGreatest(const KvHistory& history, const std::vector<size_t>& earlier,
                     int64_t before_micros, size_t* cursor, int64_t* greatest) {
  for (; *cursor < earlier.size(); ++*cursor) {
    const KvOperation& op = history[earlier[*cursor]];
    if (op.complete_micros >= before_micros) break;
    if (*greatest < 0 ||
        op.output.version > history[static_cast<size_t>(*greatest)].output.version) {
      *greatest = static_cast<int64_t>(earlier[*cursor]);
    }
  }
}

void CheckSessionReads(const KvHistory& history, const std::vector<size_t>& session,
                       const DeleteIndex& deletes, std::vector<SessionViolation>* out) {
  std::vector<size_t> writes, reads;
  for (size_t i : session) {
    if (IsAcknowledgedWrite(history[i])) writes.push_back(i);
    if (IsCompletedRead(history[i])) reads.push_back(i);
  }
  writes = SortedBy(history, writes, &KvOperation::complete_micros);
  size_t cursor = 0;
  int64_t own = -1;
  for (size_t r : SortedBy(history, reads, &KvOperation::invoke_micros)) {
    const KvOperation& read = history[r];
    AdvanceGreatest(history, writes, read.invoke_micros, &cursor, &own);
    if (own < 0) continue;
    const KvOperation& write = history[static_cast<size_t>(own)];
    const bool sees_it = read.output.found ? read.output.version >= write.output.version
                                           : write.kind == KvOpKind::kDelete ||
                                                 deletes.MayFollow(read.key, write.output.version);
    if (sees_it) continue;
    out->push_back(
        {read.client, read.key,
         fmt::format("{} does not see its own earlier write {}", DescribeOperation(history, r),
                     DescribeOperation(history, static_cast<size_t>(own)))});
  }
}

void CheckSessionMonotonic(const KvHistory& history, const std::vector<size_t>& session,
                           const DeleteIndex& deletes, std::vector<SessionViolation>* out) {
  std::vector<size_t> reads, found;
  for (size_t i : session) {
    if (!IsCompletedRead(history[i])) continue;
    reads.push_back(i);
    if (history[i].output.found) found.push_back(i);
  }
  found = SortedBy(history, found, &KvOperation::complete_micros);
  size_t cursor = 0;
  int64_t newest = -1;
  for (size_t r : SortedBy(history, reads, &KvOperation::invoke_micros)) {
    const KvOperation& read = history[r];
    AdvanceGreatest(history, found, read.invoke_micros, &cursor, &newest);
    if (newest < 0) continue;
    const Lsn seen = history[static_cast<size_t>(newest)].output.version;
    const bool monotonic =
        read.output.found ? read.output.version >= seen : deletes.MayFollow(read.key, seen);
    if (monotonic) continue;
    out->push_back(
        {read.client, read.key,
         fmt::format("{} goes back from the earlier read {}", DescribeOperation(history, r),
                     DescribeOperation(history, static_cast<size_t>(newest)))});
  }
}

using SessionCheck = void (*)(const KvHistory&, const std::vector<size_t>&, const DeleteIndex&,
                              std::vector<SessionViolation>*);

StatusOr<std::vector<SessionViolation>> CheckSessions(const KvHistory& history,
                                                      SessionCheck check) {
  if (Status s = ValidateHistory(history); !s.ok()) return s;
  const DeleteIndex deletes(history);
  std::vector<SessionViolation> violations;
  for (const auto& [session, indices] : IndicesBySession(history)) {
    check(history, indices, deletes, &violations);
  }
  return violations;
}

}  // namespace

const char* CheckVerdictName(CheckVerdict verdict) {
  switch (verdict) {
    case CheckVerdict::kOk:
      return "linearizable";
    case CheckVerdict::kIllegal:
      return "not linearizable";
    case CheckVerdict::kUnknown:
      return "unknown (step budget exhausted)";
  }
  return "?";
}

std::string DescribeOperation(const KvHistory& history, size_t index) {
  const KvOperation& op = history[index];
  const std::string complete = op.outcome == KvOutcome::kUnknown
                                   ? std::string("inf")
                                   : fmt::format("{}", op.complete_micros);
  return fmt::format("#{} c{} {} -> {} [{}, {}]", index, op.client, DescribeCall(op),
                     DescribeResult(op), op.invoke_micros, complete);
}

std::string LinearizabilityResult::Summary() const {
  std::string out = fmt::format("{}: {} keys, {} operations, {} steps", CheckVerdictName(verdict),
                                keys, operations, steps);
  if (unobserved_timeouts > 0) {
    out += fmt::format(" ({} unobserved timed-out writes left out)", unobserved_timeouts);
  }
  for (const KeyFailure& failure : failures) {
    out += fmt::format("\nkey {}: {}\n{}", Shown(failure.key), CheckVerdictName(failure.verdict),
                       failure.explanation);
  }
  return out;
}

StatusOr<LinearizabilityResult> CheckLinearizable(const KvHistory& history,
                                                  const LinearizabilityOptions& options) {
  if (Status s = ValidateHistory(history); !s.ok()) return s;
  LinearizabilityResult result;
  for (const auto& [key, indices] : IndicesByKey(history, options, &result.unobserved_timeouts)) {
    KeySearch search(history, indices);
    const CheckVerdict verdict = search.Run(options.max_steps_per_key);
    result.keys += 1;
    result.operations += search.size();
    result.steps += search.steps();
    if (verdict == CheckVerdict::kOk) continue;
    result.failures.push_back(
        {std::string(key), verdict, search.Explain(history, options, verdict)});
    if (verdict == CheckVerdict::kIllegal || result.verdict == CheckVerdict::kOk) {
      result.verdict = verdict;
    }
  }
  return result;
}

StatusOr<std::vector<SessionViolation>> CheckReadYourWrites(const KvHistory& history) {
  return CheckSessions(history, &CheckSessionReads);
}

StatusOr<std::vector<SessionViolation>> CheckMonotonicReads(const KvHistory& history) {
  return CheckSessions(history, &CheckSessionMonotonic);
}

}  // namespace toydb::sim
