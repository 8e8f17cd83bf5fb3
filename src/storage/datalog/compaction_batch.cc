#include "src/storage/datalog/compaction_batch.h"

#include <algorithm>

namespace toydb {

void CompactionBatch::Add(uint64_t offset, uint64_t length, const data_format::Record& r) {
  const size_t raw_at = bytes.size();
  bytes.append(r.raw);
  records.push_back(Record{offset, static_cast<uint32_t>(length), r.lsn, r.tombstone, raw_at,
                           static_cast<uint32_t>(r.key.data() - r.raw.data()),
                           static_cast<uint32_t>(r.key.size())});
}

DeadRecordSet::DeadRecordSet(std::span<const uint32_t> offsets) {
  uint32_t last = 0;
  for (uint32_t offset : offsets) last = std::max(last, offset);
  if (!offsets.empty()) bits_.resize((uint64_t{last} >> kGranuleShift) / 64 + 1);
  for (uint32_t offset : offsets) {
    const uint64_t bit = uint64_t{offset} >> kGranuleShift;
    bits_[bit / 64] |= uint64_t{1} << (bit % 64);
  }
}

}  // namespace toydb
