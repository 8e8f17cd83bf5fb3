#ifndef TOYDB_STORAGE_WAL_WAL_FORMAT_H_
#define TOYDB_STORAGE_WAL_WAL_FORMAT_H_

// The byte layout of WAL segment files: constants, the segment header, and
// record encoding/decoding. The grammar and the recovery rules are written
// down in docs/wal_format.md; keep the two in step.
//
// Segment file := SegmentHeader Record*
// SegmentHeader (48 bytes, little-endian):
//   magic u64 | version u32 | flags u32 | seq u64 | base_lsn u64 |
//   base_term u64 | checksum u64 (XXH3-64 of the 40 bytes before it)
// Record (29-byte header + payload):
//   length u32 (payload bytes) | checksum u64 | term u64 | lsn u64 | type u8 |
//   payload[length]
// The record checksum is XXH3-64 over term..payload, seeded with the
// segment's seq: a stale record left in a recycled file was written under an
// older seq and never verifies in its new segment.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace toydb {

// One record of the log, as the WAL's callers see it: its place in the
// sequence (term, LSN), the owner's type tag and the payload. Encoded as the
// Record grammar above.
struct WalRecord {
  uint64_t term = 0;
  uint64_t lsn = 0;
  uint8_t type = 0;  // Opaque to the WAL; the owner defines the types.
  std::string payload;
};

}  // namespace toydb

namespace toydb::wal {

inline constexpr uint64_t kSegmentMagic = 0x4c41574244594f54ull;  // "TOYDBWAL"
inline constexpr uint32_t kFormatVersion = 1;

// Segment header flags.
// The segment starts a log: every segment with a lower seq is left over from
// before a Reset (or from nothing) and is discarded on recovery.
inline constexpr uint32_t kFlagLogStart = 1u << 0;
inline constexpr uint32_t kKnownFlags = kFlagLogStart;

inline constexpr size_t kSegmentHeaderBytes = 8 + 4 + 4 + 8 + 8 + 8 + 8;
static_assert(kSegmentHeaderBytes == 48);
// Offset of the header checksum: everything before it is covered.
inline constexpr size_t kSegmentHeaderChecksumOffset = kSegmentHeaderBytes - 8;

inline constexpr size_t kRecordLengthOffset = 0;
inline constexpr size_t kRecordChecksumOffset = 4;
// The checksum covers the record from here to the end of the payload.
inline constexpr size_t kRecordTermOffset = 12;
inline constexpr size_t kRecordLsnOffset = 20;
inline constexpr size_t kRecordTypeOffset = 28;
inline constexpr size_t kRecordHeaderBytes = 29;
static_assert(kRecordHeaderBytes == 4 + 8 + 8 + 8 + 1);
static_assert(kRecordTypeOffset + 1 == kRecordHeaderBytes);
// The length field is a u32; no payload may be longer.
inline constexpr uint64_t kRecordPayloadMax = UINT32_MAX - kRecordHeaderBytes;

struct SegmentHeader {
  uint32_t flags = 0;
  uint64_t seq = 0;
  uint64_t base_lsn = 0;   // The lsn just before the segment's first record.
  uint64_t base_term = 0;  // The term of base_lsn.
};

std::string EncodeSegmentHeader(const SegmentHeader& header);
// nullopt unless `bytes` starts with a well-formed, verified header.
std::optional<SegmentHeader> DecodeSegmentHeader(std::string_view bytes);

// Appends the encoded `record` for segment `seq` to `out`.
// REQUIRES: record.payload.size() <= kRecordPayloadMax.
void EncodeRecord(uint64_t seq, const WalRecord& record, std::string* out);

// The fixed fields of an encoded record, before verification.
struct RecordHeader {
  uint32_t length = 0;
  uint64_t checksum = 0;
  uint64_t term = 0;
  uint64_t lsn = 0;
  uint8_t type = 0;
};
// REQUIRES: bytes.size() >= kRecordHeaderBytes.
RecordHeader DecodeRecordHeader(std::string_view bytes);
// True if `bytes` (a whole record: header and payload) verifies for `seq`.
bool VerifyRecord(uint64_t seq, std::string_view bytes);

// "wal-000000000042.log": live segments sort by name in seq order.
std::string SegmentFileName(uint64_t seq);
// "recycle-000000000042.log": a released segment kept for reuse; the seq is
// the one it was written under, so the highest seq ever used stays visible.
std::string RecycleFileName(uint64_t seq);
std::optional<uint64_t> ParseSegmentFileName(std::string_view name);
std::optional<uint64_t> ParseRecycleFileName(std::string_view name);

}  // namespace toydb::wal

#endif  // TOYDB_STORAGE_WAL_WAL_FORMAT_H_
