#include "src/storage/datalog/hint_file.h"

#include <fmt/format.h>

#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb {

void HintFileBuilder::Add(const HintEntry& entry) {
  PutFixed64(&buffer_, entry.lsn);
  PutFixed32(&buffer_, entry.offset);
  PutFixed32(&buffer_, entry.length);
  PutFixed8(&buffer_, entry.tombstone ? 1 : 0);
  PutFixed16(&buffer_, static_cast<uint16_t>(entry.key.size()));
  buffer_.append(entry.key);
  count_++;
}

Status HintFileBuilder::Finish(Env* env, const std::string& path) {
  PutFixed64(&buffer_, count_);
  PutFixed64(&buffer_, Checksum64(buffer_));
  return env->WriteFileAtomically(path, buffer_);
}

Status ReadHintFile(Env* env, const std::string& path,
                    const std::function<void(const HintEntry&)>& visit) {
  StatusOr<std::string> bytes = env->ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  auto damaged = [&] { return absl::DataLossError(fmt::format("hint file {} is damaged", path)); };
  if (bytes->size() < 16) return damaged();
  const std::string_view body(bytes->data(), bytes->size() - 8);
  if (Checksum64(body) != DecodeFixed64(body.data() + body.size())) return damaged();
  const uint64_t count = DecodeFixed64(body.data() + body.size() - 8);
  // Two passes: the first checks the structure, so that a damaged file has
  // no effect at all; the second visits.
  for (const bool visiting : {false, true}) {
    Decoder d(body.substr(0, body.size() - 8));
    uint64_t entries = 0;
    while (!d.done()) {
      HintEntry e;
      uint8_t flags = 0;
      uint16_t key_len = 0;
      if (!d.U64(&e.lsn) || !d.U32(&e.offset) || !d.U32(&e.length) || !d.U8(&flags) ||
          !d.U16(&key_len) || !d.Raw(key_len, &e.key)) {
        return damaged();
      }
      e.tombstone = (flags & 1) != 0;
      entries++;
      if (visiting) visit(e);
    }
    if (entries != count) return damaged();
  }
  return absl::OkStatus();
}

}  // namespace toydb
