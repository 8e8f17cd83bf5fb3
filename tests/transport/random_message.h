#ifndef TOYDB_TESTS_TRANSPORT_RANDOM_MESSAGE_H_
#define TOYDB_TESTS_TRANSPORT_RANDOM_MESSAGE_H_

// Random valid Messages for codec tests: every field of every type is filled
// through the same Fields() list the codec uses, biased towards edge values.

#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "sim/rng.h"
#include "src/transport/message_fields.h"
#include "toydb/message.h"

namespace toydb::testing {

class MessageFiller {
 public:
  explicit MessageFiller(sim::Rng& rng) : rng_(rng) {}

  template <typename T>
  requires std::is_integral_v<T> &&(!std::is_same_v<T, bool>)void Fill(T& v) {
    switch (rng_.Uniform(4)) {
      case 0:
        v = 0;
        break;
      case 1:
        v = static_cast<T>(~uint64_t{0});
        break;  // all ones
      default:
        v = static_cast<T>(rng_.Next());
        break;
    }
  }
  void Fill(bool& v) { v = rng_.Uniform(2) == 1; }
  template <typename T>
  requires std::is_enum_v<T>
  void Fill(T& v) { v = static_cast<T>(rng_.Uniform(MaxEnumValue(T{}) + 1)); }
  void Fill(std::string& v) {
    v = rng_.Bytes(rng_.Chance(0.1) ? rng_.Uniform(300) : rng_.Uniform(12));
  }
  template <typename T>
  void Fill(std::vector<T>& v) {
    v.resize(rng_.Uniform(4));
    for (T& item : v) Fill(item);
  }
  template <typename T>
  requires requires(T& t) { Fields(t); }
  void Fill(T& record) {
    std::apply([&](auto&... f) { (Fill(f), ...); }, Fields(record));
  }
  void Fill(ClientResponse& r) {
    std::apply([&](auto&... f) { (Fill(f), ...); }, Fields(r));
    r.code = static_cast<uint8_t>(r.code % 17);  // a valid absl::StatusCode
  }
  void Fill(AdminResponse& r) {
    std::apply([&](auto&... f) { (Fill(f), ...); }, Fields(r));
    r.code = static_cast<uint8_t>(r.code % 17);
  }
  void Fill(StatsReplica& r) {
    std::apply([&](auto&... f) { (Fill(f), ...); }, Fields(r));
    r.role = static_cast<uint8_t>(r.role % (kMaxStatsRole + 1));
    r.failure_code = static_cast<uint8_t>(r.failure_code % 17);
  }

 private:
  sim::Rng& rng_;
};

// A message of body alternative `index` with random fields.
template <size_t I = 0>
void EmplaceRandomBody(size_t index, sim::Rng& rng, MessageBody* body) {
  if constexpr (I < kMessageTypeCount) {
    if (index != I) return EmplaceRandomBody<I + 1>(index, rng, body);
    MessageFiller(rng).Fill(body->emplace<I>());
  }
}

inline Message RandomMessageOfType(size_t index, sim::Rng& rng) {
  Message m;
  m.from = rng.Next();
  m.to = rng.Next();
  EmplaceRandomBody(index, rng, &m.body);
  return m;
}

inline Message RandomMessage(sim::Rng& rng) {
  return RandomMessageOfType(rng.Uniform(kMessageTypeCount), rng);
}

}  // namespace toydb::testing

#endif  // TOYDB_TESTS_TRANSPORT_RANDOM_MESSAGE_H_
