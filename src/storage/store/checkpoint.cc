#include "src/storage/store/checkpoint.h"

#include <fmt/format.h>

#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb {
namespace {
constexpr uint32_t kMagic = 0x50434454;  // "TDCP"
constexpr uint8_t kVersion = 1;
constexpr uint8_t kVersionWithReplicaState = 2;
constexpr size_t kSegmentBytes = 4 + 8 + 8 + 8 + 1;
}  // namespace

std::string EncodeCheckpoint(const CheckpointState& state) {
  std::string out;
  PutFixed32(&out, kMagic);
  PutFixed8(&out, state.replica_state.empty() ? kVersion : kVersionWithReplicaState);
  PutFixed64(&out, state.applied_lsn);
  PutFixed32(&out, state.next_segment_id);
  PutFixed32(&out, static_cast<uint32_t>(state.segments.size()));
  for (const CheckpointSegment& s : state.segments) {
    PutFixed32(&out, s.id);
    PutFixed64(&out, s.length);
    PutFixed64(&out, s.min_lsn);
    PutFixed64(&out, s.max_lsn);
    PutFixed8(&out, s.sealed ? 1 : 0);
  }
  if (!state.replica_state.empty()) PutBytes(&out, state.replica_state);
  PutFixed64(&out, Checksum64(out));
  return out;
}

StatusOr<CheckpointState> DecodeCheckpoint(std::string_view bytes) {
  auto damaged = [](std::string_view why) {
    return absl::DataLossError(fmt::format("checkpoint is damaged: {}", why));
  };
  if (bytes.size() < 8) return damaged("too short");
  const std::string_view body = bytes.substr(0, bytes.size() - 8);
  if (Checksum64(body) != DecodeFixed64(bytes.data() + body.size())) return damaged("bad checksum");
  Decoder d(body);
  uint32_t magic = 0, count = 0;
  uint8_t version = 0;
  CheckpointState state;
  if (!d.U32(&magic) || magic != kMagic) return damaged("bad magic");
  if (!d.U8(&version) || (version != kVersion && version != kVersionWithReplicaState)) {
    return damaged("unknown version");
  }
  if (!d.U64(&state.applied_lsn) || !d.U32(&state.next_segment_id) || !d.U32(&count)) {
    return damaged("truncated header");
  }
  if (count > d.remaining() / kSegmentBytes) return damaged("segment count past the end");
  state.segments.resize(count);
  for (CheckpointSegment& s : state.segments) {
    uint8_t sealed = 0;
    d.U32(&s.id);
    d.U64(&s.length);
    d.U64(&s.min_lsn);
    d.U64(&s.max_lsn);
    d.U8(&sealed);
    s.sealed = sealed != 0;
  }
  if (version == kVersionWithReplicaState &&
      (!d.Bytes(&state.replica_state) || state.replica_state.empty())) {
    return damaged("bad replica state");
  }
  if (!d.done()) return damaged("trailing bytes");
  return state;
}

StatusOr<CheckpointState> ReadCheckpoint(Env* env, const std::string& dir) {
  const std::string path = JoinPath(dir, kCheckpointFileName);
  if (!env->FileExists(path)) return CheckpointState{};
  StatusOr<std::string> bytes = env->ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeCheckpoint(*bytes);
}

Status WriteCheckpoint(Env* env, const std::string& dir, const CheckpointState& state) {
  return env->WriteFileAtomically(JoinPath(dir, kCheckpointFileName), EncodeCheckpoint(state));
}

}  // namespace toydb
