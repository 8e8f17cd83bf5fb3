#include "src/storage/compaction_batch.h"

namespace toydb {

void CompactionBatch::Add(uint64_t offset, uint64_t length, const data_format::Record& r) {
  const size_t raw_at = bytes.size();
  bytes.append(r.raw);
  records.push_back(Record{offset, static_cast<uint32_t>(length), r.lsn, r.tombstone, raw_at,
                           static_cast<uint32_t>(r.key.data() - r.raw.data()),
                           static_cast<uint32_t>(r.key.size())});
}

}  // namespace toydb
