// The HARDSTATE file (hard_state.h).
#include "src/storage/replica/hard_state.h"

#include <fmt/format.h>

#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb {
namespace {
constexpr uint32_t kMagic = 0x53484454;  // "TDHS"
constexpr uint8_t kVersion = 1;
constexpr size_t kBytes = 4 + 1 + 8 + 8 + 8 + 8;
}  // namespace

std::string EncodeHardState(const ReplicaHardState& state) {
  std::string out;
  PutFixed32(&out, kMagic);
  PutFixed8(&out, kVersion);
  PutFixed64(&out, state.term);
  PutFixed64(&out, state.vote);
  PutFixed64(&out, state.commit_lsn);
  PutFixed64(&out, Checksum64(out));
  return out;
}

StatusOr<ReplicaHardState> DecodeHardState(std::string_view bytes) {
  if (bytes.size() != kBytes) return absl::DataLossError("hard state: wrong size");
  const std::string_view body = bytes.substr(0, kBytes - 8);
  if (Checksum64(body) != DecodeFixed64(bytes.data() + body.size())) {
    return absl::DataLossError("hard state: bad checksum");
  }
  Decoder d(body);
  uint32_t magic = 0;
  uint8_t version = 0;
  ReplicaHardState state;
  d.U32(&magic);
  d.U8(&version);
  if (magic != kMagic || version != kVersion) {
    return absl::DataLossError("hard state: bad magic or version");
  }
  d.U64(&state.term);
  d.U64(&state.vote);
  d.U64(&state.commit_lsn);
  return state;
}

StatusOr<ReplicaHardState> ReadHardState(Env* env, const std::string& dir) {
  const std::string path = JoinPath(dir, kHardStateFileName);
  if (!env->FileExists(path)) return ReplicaHardState{};
  StatusOr<std::string> bytes = env->ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  StatusOr<ReplicaHardState> state = DecodeHardState(*bytes);
  if (!state.ok()) {
    // Name the file: the operator restores it from a backup or rebuilds the
    // replica from its group.
    return absl::DataLossError(fmt::format("{}: {}", path, std::string(state.status().message())));
  }
  return state;
}

Status WriteHardState(Env* env, const std::string& dir, const ReplicaHardState& state) {
  return env->WriteFileAtomically(JoinPath(dir, kHardStateFileName), EncodeHardState(state));
}

}  // namespace toydb
