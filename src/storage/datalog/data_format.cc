#include "src/storage/datalog/data_format.h"

#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb::data_format {

void EncodeRecord(uint64_t lsn, bool tombstone, std::string_view key, std::string_view value,
                  std::string* out) {
  const size_t start = out->size();
  char header[kHeaderBytes];
  EncodeFixed32(header + kChecksumOffset, 0);  // Filled in below.
  EncodeFixed32(header + kKeyLenOffset, static_cast<uint32_t>(key.size()));
  EncodeFixed32(header + kValueLenOffset, static_cast<uint32_t>(value.size()));
  EncodeFixed64(header + kLsnOffset, lsn);
  header[kFlagsOffset] = static_cast<char>(tombstone ? kFlagTombstone : 0);
  out->reserve(start + kHeaderBytes + key.size() + value.size());
  out->append(header, kHeaderBytes);
  out->append(key);
  out->append(value);
  std::string_view covered(out->data() + start + kKeyLenOffset,
                           out->size() - start - kKeyLenOffset);
  EncodeFixed32(out->data() + start, Checksum32(covered));
}

DecodeResult DecodeRecord(std::string_view input, Record* record, uint64_t* record_bytes) {
  if (input.size() < kHeaderBytes) return DecodeResult::kTruncated;
  const uint32_t key_len = DecodeFixed32(input.data() + kKeyLenOffset);
  const uint32_t value_len = DecodeFixed32(input.data() + kValueLenOffset);
  const uint8_t flags = static_cast<uint8_t>(input[kFlagsOffset]);
  const uint64_t total = RecordBytes(key_len, value_len);
  if (total > input.size()) {
    // A length that runs past the buffer is a torn tail or a corrupt length;
    // the caller tells them apart by where the buffer ends.
    return DecodeResult::kTruncated;
  }
  const std::string_view covered = input.substr(kKeyLenOffset, total - kKeyLenOffset);
  if (Checksum32(covered) != DecodeFixed32(input.data())) return DecodeResult::kCorrupt;
  if ((flags & ~kKnownFlags) != 0 || ((flags & kFlagTombstone) && value_len != 0)) {
    return DecodeResult::kCorrupt;
  }
  record->lsn = DecodeFixed64(input.data() + kLsnOffset);
  record->tombstone = (flags & kFlagTombstone) != 0;
  record->key = input.substr(kHeaderBytes, key_len);
  record->value = input.substr(kHeaderBytes + key_len, value_len);
  record->raw = input.substr(0, total);
  *record_bytes = total;
  return DecodeResult::kOk;
}

}  // namespace toydb::data_format
