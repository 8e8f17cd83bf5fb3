// Encoding and decoding of WAL segment headers and records (wal_format.h).
#include "src/storage/wal/wal_format.h"

#include <fmt/format.h>

#include <cassert>
#include <charconv>

#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb::wal {

std::string EncodeSegmentHeader(const SegmentHeader& header) {
  std::string out;
  out.reserve(kSegmentHeaderBytes);
  PutFixed64(&out, kSegmentMagic);
  PutFixed32(&out, kFormatVersion);
  PutFixed32(&out, header.flags);
  PutFixed64(&out, header.seq);
  PutFixed64(&out, header.base_lsn);
  PutFixed64(&out, header.base_term);
  PutFixed64(&out, Checksum64(out));
  assert(out.size() == kSegmentHeaderBytes);
  return out;
}

std::optional<SegmentHeader> DecodeSegmentHeader(std::string_view bytes) {
  if (bytes.size() < kSegmentHeaderBytes) return std::nullopt;
  const std::string_view covered = bytes.substr(0, kSegmentHeaderChecksumOffset);
  if (DecodeFixed64(bytes.data() + kSegmentHeaderChecksumOffset) != Checksum64(covered)) {
    return std::nullopt;
  }
  Decoder d(covered);
  uint64_t magic = 0;
  uint32_t version = 0;
  SegmentHeader h;
  if (!d.U64(&magic) || !d.U32(&version) || !d.U32(&h.flags) || !d.U64(&h.seq) ||
      !d.U64(&h.base_lsn) || !d.U64(&h.base_term) || !d.done()) {
    return std::nullopt;
  }
  if (magic != kSegmentMagic || version != kFormatVersion || (h.flags & ~kKnownFlags) != 0) {
    return std::nullopt;
  }
  return h;
}

void EncodeRecord(uint64_t seq, const WalRecord& record, std::string* out) {
  assert(record.payload.size() <= kRecordPayloadMax);
  const size_t start = out->size();
  PutFixed32(out, static_cast<uint32_t>(record.payload.size()));
  PutFixed64(out, 0);  // The checksum, filled in below.
  PutFixed64(out, record.term);
  PutFixed64(out, record.lsn);
  PutFixed8(out, record.type);
  out->append(record.payload);
  const std::string_view covered = std::string_view(*out).substr(start + kRecordTermOffset);
  EncodeFixed64(out->data() + start + kRecordChecksumOffset, Checksum64(covered, seq));
}

RecordHeader DecodeRecordHeader(std::string_view bytes) {
  assert(bytes.size() >= kRecordHeaderBytes);
  RecordHeader h;
  h.length = DecodeFixed32(bytes.data() + kRecordLengthOffset);
  h.checksum = DecodeFixed64(bytes.data() + kRecordChecksumOffset);
  h.term = DecodeFixed64(bytes.data() + kRecordTermOffset);
  h.lsn = DecodeFixed64(bytes.data() + kRecordLsnOffset);
  h.type = static_cast<uint8_t>(bytes[kRecordTypeOffset]);
  return h;
}

bool VerifyRecord(uint64_t seq, std::string_view bytes) {
  if (bytes.size() < kRecordHeaderBytes) return false;
  const RecordHeader h = DecodeRecordHeader(bytes);
  if (bytes.size() != kRecordHeaderBytes + uint64_t{h.length}) return false;
  return h.checksum == Checksum64(bytes.substr(kRecordTermOffset), seq);
}

namespace {

constexpr std::string_view kSegmentPrefix = "wal-";
constexpr std::string_view kRecyclePrefix = "recycle-";
constexpr std::string_view kSuffix = ".log";
constexpr size_t kSeqDigits = 12;

// Seqs past 12 digits get longer names; they still parse (callers sort by
// the parsed seq, not by name).
std::optional<uint64_t> ParseName(std::string_view name, std::string_view prefix) {
  if (name.size() < prefix.size() + kSeqDigits + kSuffix.size()) return std::nullopt;
  if (!name.starts_with(prefix) || !name.ends_with(kSuffix)) return std::nullopt;
  const std::string_view digits =
      name.substr(prefix.size(), name.size() - prefix.size() - kSuffix.size());
  uint64_t seq = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return seq;
}

}  // namespace

std::string SegmentFileName(uint64_t seq) { return fmt::format("wal-{:012d}.log", seq); }
std::string RecycleFileName(uint64_t seq) { return fmt::format("recycle-{:012d}.log", seq); }

std::optional<uint64_t> ParseSegmentFileName(std::string_view name) {
  return ParseName(name, kSegmentPrefix);
}
std::optional<uint64_t> ParseRecycleFileName(std::string_view name) {
  return ParseName(name, kRecyclePrefix);
}

}  // namespace toydb::wal
