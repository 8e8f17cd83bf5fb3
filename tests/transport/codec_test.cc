// Tests of the wire codec: every message type round-trips, and damaged,
// truncated, oversized or forged frames are refused with DataLoss.
#include "src/transport/codec.h"

#include <catch2/catch.hpp>

#include "src/util/coding.h"
#include "tests/transport/random_message.h"

namespace toydb {
namespace {

using testing::RandomMessage;
using testing::RandomMessageOfType;

std::string Encode(const Message& m) {
  StatusOr<std::string> frame = EncodeFrame(m);
  REQUIRE(frame.ok());
  return *frame;
}

// Rewrites the length and checksum of `frame` to agree with its bytes, so the
// body decoder (not the checksum) judges it. REQUIRES: a whole header.
std::string Reseal(std::string frame) {
  EncodeFixed32(frame.data() + 2, static_cast<uint32_t>(frame.size() - kFrameHeaderBytes));
  std::string_view payload(frame.data() + kFrameHeaderBytes, frame.size() - kFrameHeaderBytes);
  EncodeFixed64(frame.data() + 6, FrameChecksum(std::string_view(frame.data(), 6), payload));
  return frame;
}

TEST_CASE("Codec round-trips every message type with random fields", "[codec]") {
  sim::Rng rng(1);
  for (size_t type = 0; type < kMessageTypeCount; ++type) {
    for (int i = 0; i < 200; ++i) {
      Message m = RandomMessageOfType(type, rng);
      std::string frame = Encode(m);
      StatusOr<Message> back = DecodeFrame(frame);
      REQUIRE(back.ok());
      REQUIRE(*back == m);
      REQUIRE(TypeOf(*back) == static_cast<MessageType>(type + 1));
      CHECK(Encode(*back) == frame);
    }
  }
}

TEST_CASE("Codec round-trips default-valued messages", "[codec]") {
  for (size_t type = 0; type < kMessageTypeCount; ++type) {
    sim::Rng unused(0);
    Message m;
    testing::EmplaceRandomBody<0>(type, unused, &m.body);
    std::visit([](auto& body) { body = {}; }, m.body);
    StatusOr<Message> back = DecodeFrame(Encode(m));
    REQUIRE(back.ok());
    CHECK(*back == m);
  }
}

TEST_CASE("Codec frame header has the documented layout", "[codec]") {
  Message m{.from = 7, .to = 9, .body = HealthProbe{.probe_id = 1, .sent_micros = 2}};
  std::string frame = Encode(m);
  REQUIRE(frame.size() == kFrameHeaderBytes + kFrameEnvelopeBytes + 16);
  CHECK(static_cast<uint8_t>(frame[0]) == kFrameMagic);
  CHECK(static_cast<uint8_t>(frame[1]) == kWireVersion);
  CHECK(DecodeFixed32(frame.data() + 2) == frame.size() - kFrameHeaderBytes);
  CHECK(static_cast<uint8_t>(frame[14]) == static_cast<uint8_t>(MessageType::kHealthProbe));
  CHECK(DecodeFixed64(frame.data() + 15) == 7);
  CHECK(DecodeFixed64(frame.data() + 23) == 9);
}

TEST_CASE("Codec rejects every truncation of a valid frame", "[codec]") {
  sim::Rng rng(2);
  for (size_t type = 0; type < kMessageTypeCount; ++type) {
    std::string frame = Encode(RandomMessageOfType(type, rng));
    for (size_t len = 0; len < frame.size(); ++len) {
      StatusOr<Message> m = DecodeFrame(std::string_view(frame).substr(0, len));
      REQUIRE(absl::IsDataLoss(m.status()));
    }
    REQUIRE(absl::IsDataLoss(DecodeFrame(frame + "x").status()));
  }
}

TEST_CASE("Codec rejects every single-bit flip of a valid frame", "[codec]") {
  sim::Rng rng(3);
  for (size_t type = 0; type < kMessageTypeCount; ++type) {
    const std::string frame = Encode(RandomMessageOfType(type, rng));
    for (size_t bit = 0; bit < frame.size() * 8; ++bit) {
      std::string damaged = frame;
      damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
      REQUIRE_FALSE(DecodeFrame(damaged).ok());
    }
  }
}

TEST_CASE("Codec rejects random bytes", "[codec]") {
  sim::Rng rng(4);
  for (int i = 0; i < 2000; ++i) {
    std::string junk = rng.Bytes(rng.Uniform(200));
    CHECK_FALSE(DecodeFrame(junk).ok());
  }
}

TEST_CASE("Codec refuses a huge claimed length before reading or allocating", "[codec]") {
  std::string frame = Encode(Message{.from = 1, .to = 2, .body = HealthProbe{}});
  EncodeFixed32(frame.data() + 2, UINT32_MAX);
  CHECK(absl::IsDataLoss(PeekFrameSize(frame).status()));
  CHECK(absl::IsDataLoss(DecodeFrame(frame).status()));
  EncodeFixed32(frame.data() + 2, kMaxFrameBytes - kFrameHeaderBytes);  // legal, but absent
  CHECK(*PeekFrameSize(frame) == kMaxFrameBytes);
  CHECK(absl::IsDataLoss(DecodeFrame(frame).status()));
}

TEST_CASE("Codec refuses forged counts and lengths larger than the frame", "[codec]") {
  // A well-checksummed AppendEntries whose entry count claims the maximum but
  // whose body holds no entries: refused before reserving for them.
  AppendEntries append;
  append.entries.resize(1);
  std::string frame = Encode(Message{.from = 1, .to = 2, .body = append});
  const size_t count_at = kFrameHeaderBytes + kFrameEnvelopeBytes + 4 + 8 * 5;
  REQUIRE(DecodeFixed32(frame.data() + count_at) == 1);
  EncodeFixed32(frame.data() + count_at, kMaxEntriesPerAppend);
  CHECK(absl::IsDataLoss(DecodeFrame(Reseal(frame)).status()));
  EncodeFixed32(frame.data() + count_at, UINT32_MAX);
  CHECK(absl::IsDataLoss(DecodeFrame(Reseal(frame)).status()));
  // The single entry's payload length claims 4 GiB.
  EncodeFixed32(frame.data() + count_at, 1);
  EncodeFixed32(frame.data() + count_at + 4 + 17, UINT32_MAX);  // term, lsn, type
  CHECK(absl::IsDataLoss(DecodeFrame(Reseal(frame)).status()));
}

TEST_CASE("Codec refuses out-of-range enums and bools", "[codec]") {
  std::string frame = Encode(Message{.body = VoteResponse{.granted = true}});
  const size_t granted_at = kFrameHeaderBytes + kFrameEnvelopeBytes + 4 + 8;
  REQUIRE(frame[granted_at] == 1);
  frame[granted_at] = 2;
  CHECK(absl::IsDataLoss(DecodeFrame(Reseal(frame)).status()));

  AppendEntries append;
  append.entries.resize(1);
  append.entries[0].type = static_cast<LogEntryType>(kMaxLogEntryType + 1);
  CHECK(absl::IsDataLoss(DecodeFrame(Encode(Message{.body = append})).status()));
  SnapshotResponse snapshot;
  snapshot.result = static_cast<SnapshotResult>(kMaxSnapshotResult + 1);
  CHECK(absl::IsDataLoss(DecodeFrame(Encode(Message{.body = snapshot})).status()));

  ClientResponse response;
  response.code = 17;  // not an absl::StatusCode
  CHECK(absl::IsDataLoss(DecodeFrame(Encode(Message{.body = response})).status()));

  AdminResponse admin;
  admin.code = 17;
  CHECK(absl::IsDataLoss(DecodeFrame(Encode(Message{.body = admin})).status()));
  AdminRequest admin_request;
  admin_request.op = static_cast<AdminOp>(kMaxAdminOp + 1);
  CHECK(absl::IsDataLoss(DecodeFrame(Encode(Message{.body = admin_request})).status()));
  StatsResponse stats;
  stats.replicas.resize(2);
  CHECK(DecodeFrame(Encode(Message{.body = stats})).ok());
  stats.replicas[1].role = kMaxStatsRole + 1;
  CHECK(absl::IsDataLoss(DecodeFrame(Encode(Message{.body = stats})).status()));
  stats.replicas[1].role = 0;
  stats.replicas[1].failure_code = 17;
  CHECK(absl::IsDataLoss(DecodeFrame(Encode(Message{.body = stats})).status()));

  std::string unknown_type = Encode(Message{.body = HealthProbe{}});
  unknown_type[kFrameHeaderBytes] = static_cast<char>(kMessageTypeCount + 1);
  CHECK(absl::IsDataLoss(DecodeFrame(Reseal(unknown_type)).status()));
  unknown_type[kFrameHeaderBytes] = 0;
  CHECK(absl::IsDataLoss(DecodeFrame(Reseal(unknown_type)).status()));
}

TEST_CASE("Codec refuses to encode beyond the frame and repeated-field limits", "[codec]") {
  SnapshotChunk chunk;
  chunk.data.assign(kMaxFrameBytes, 'x');
  std::string out = "keep";
  CHECK(absl::IsInvalidArgument(AppendFrame(Message{.body = chunk}, &out)));
  CHECK(out == "keep");

  chunk.data.assign(kMaxFrameBytes - 200, 'x');  // just fits
  StatusOr<std::string> frame = EncodeFrame(Message{.body = chunk});
  REQUIRE(frame.ok());
  CHECK(frame->size() <= kMaxFrameBytes);
  CHECK(DecodeFrame(*frame).ok());

  AppendEntries append;
  append.entries.resize(kMaxEntriesPerAppend + 1);
  CHECK(absl::IsInvalidArgument(EncodeFrame(Message{.body = append}).status()));
  append.entries.resize(kMaxEntriesPerAppend);
  CHECK(EncodeFrame(Message{.body = append}).ok());

  StatsResponse stats;
  stats.counters.resize(kMaxCountersPerStats + 1);
  CHECK(absl::IsInvalidArgument(EncodeFrame(Message{.body = stats}).status()));
  stats.counters.resize(kMaxCountersPerStats);
  stats.replicas.resize(1);
  stats.replicas[0].peers.resize(kMaxPeersPerReplicaStats + 1);
  CHECK(absl::IsInvalidArgument(EncodeFrame(Message{.body = stats}).status()));
  stats.replicas[0].peers.resize(kMaxPeersPerReplicaStats);
  CHECK(EncodeFrame(Message{.body = stats}).ok());
}

TEST_CASE("Replication bodies have the documented fixed sizes", "[codec]") {
  // docs/WIRE_FORMAT.md: what a sender must leave room for besides entries or data.
  const size_t frame_fixed = kFrameHeaderBytes + kFrameEnvelopeBytes;
  CHECK(Encode(Message{.body = AppendEntries{}}).size() == frame_fixed + 4 + 8 * 5 + 4);
  CHECK(Encode(Message{.body = SnapshotChunk{}}).size() == frame_fixed + 4 + 8 * 7 + 4 + 1);
  AppendEntries one;
  one.entries.push_back(LogEntry{.payload = "abc"});
  CHECK(Encode(Message{.body = one}).size() == frame_fixed + 4 + 8 * 5 + 4 + 8 + 8 + 1 + 4 + 3);
}

TEST_CASE("PeekFrameSize reads frames from a stream", "[codec]") {
  sim::Rng rng(5);
  std::string stream;
  std::vector<Message> sent;
  for (int i = 0; i < 20; ++i) {
    sent.push_back(RandomMessage(rng));
    REQUIRE(AppendFrame(sent.back(), &stream).ok());
  }
  std::string_view rest = stream;
  for (const Message& expected : sent) {
    CHECK(*PeekFrameSize(rest.substr(0, kFrameHeaderBytes - 1)) == 0);
    StatusOr<size_t> size = PeekFrameSize(rest);
    REQUIRE(size.ok());
    StatusOr<Message> m = DecodeFrame(rest.substr(0, *size));
    REQUIRE(m.ok());
    CHECK(*m == expected);
    rest.remove_prefix(*size);
  }
  CHECK(rest.empty());
}

}  // namespace
}  // namespace toydb
