#ifndef TOYDB_STORAGE_DATALOG_COMPACTION_BATCH_H_
#define TOYDB_STORAGE_DATALOG_COMPACTION_BATCH_H_

// Buffers of a compaction run: CompactionBatch holds records scanned from an
// input segment until their liveness is checked; DeadRecordSet tells which of
// an input's records were known dead when its copy began; CompactionMoves
// holds the records copied, to be re-pointed in the index at the swap. Owned
// by the compaction in progress; not thread-safe.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/storage/datalog/data_format.h"
#include "src/storage/index/key_index.h"

namespace toydb {

// The records of one input segment marked dead (DataSegment::MarkDead),
// as a bitmap with one bit per 16 bytes of the segment: a record is longer
// than that, so each has a bit of its own. Built without the store's lock
// from a copy of the segment's list.
class DeadRecordSet {
 public:
  explicit DeadRecordSet(std::span<const uint32_t> offsets);
  bool Contains(uint64_t offset) const {
    const uint64_t bit = offset >> kGranuleShift;
    return bit / 64 < bits_.size() && (bits_[bit / 64] >> (bit % 64) & 1) != 0;
  }

 private:
  static constexpr uint64_t kGranuleShift = 4;
  static_assert((uint64_t{1} << kGranuleShift) < data_format::kHeaderBytes + 1,
                "two records could share a bit");
  std::vector<uint64_t> bits_;
};

// The records compaction copied, to be re-pointed at the swap. Keys are
// kept back to back in one buffer: a compaction may move millions.
struct CompactionMoves {
  struct Move {
    size_t key_at;
    uint32_t key_len;
    IndexEntry from;
    IndexEntry to;
  };
  std::string keys;
  std::vector<Move> list;

  void Add(std::string_view key, const IndexEntry& from, const IndexEntry& to) {
    list.push_back(Move{keys.size(), static_cast<uint32_t>(key.size()), from, to});
    keys.append(key);
  }
  std::string_view Key(const Move& m) const {
    return std::string_view(keys).substr(m.key_at, m.key_len);
  }
};

// Records scanned by compaction, waiting for one liveness check under the
// store's lock.
struct CompactionBatch {
  struct Record {
    uint64_t offset;  // In the input segment.
    uint32_t length;
    uint64_t lsn;
    bool tombstone;
    size_t raw_at;    // In `bytes`.
    uint32_t key_at;  // Within the raw record.
    uint32_t key_len;
  };
  static constexpr size_t kMaxRecords = 256;
  static constexpr size_t kMaxBytes = 1u << 20;
  std::vector<Record> records;
  std::string bytes;  // The raw records, back to back.

  void Add(uint64_t offset, uint64_t length, const data_format::Record& r);
  bool Full() const { return records.size() >= kMaxRecords || bytes.size() >= kMaxBytes; }
  void Clear() {
    records.clear();
    bytes.clear();
  }
  std::string_view Raw(const Record& r) const {
    return std::string_view(bytes).substr(r.raw_at, r.length);
  }
  std::string_view Key(const Record& r) const {
    return std::string_view(bytes).substr(r.raw_at + r.key_at, r.key_len);
  }
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_DATALOG_COMPACTION_BATCH_H_
