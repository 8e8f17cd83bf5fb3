#include "src/storage/store/batch_codec.h"

#include "src/util/coding.h"

namespace toydb {

void EncodeBatchPayload(std::span<const BatchOpView> ops, std::string* out) {
  PutFixed32(out, static_cast<uint32_t>(ops.size()));
  for (const BatchOpView& op : ops) {
    PutFixed8(out, static_cast<uint8_t>(op.type));
    PutBytes(out, op.key);
    PutBytes(out, op.value);
  }
}

std::string EncodeBatchPayload(const WriteBatch& batch) {
  std::vector<BatchOpView> ops;
  for (const WriteBatch::Op& op : batch.ops())
    ops.push_back(BatchOpView{op.type, op.key, op.value});
  std::string out;
  EncodeBatchPayload(ops, &out);
  return out;
}

StatusOr<std::vector<BatchOpView>> DecodeBatchPayload(std::string_view payload) {
  Decoder d(payload);
  uint32_t count = 0;
  constexpr size_t kMinOpBytes = 9;
  if (!d.U32(&count) || count > d.remaining() / kMinOpBytes) {
    return absl::DataLossError("write batch payload: bad operation count");
  }
  std::vector<BatchOpView> ops;
  ops.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t type = 0;
    BatchOpView op;
    if (!d.U8(&type) || !d.Bytes(&op.key) || !d.Bytes(&op.value)) {
      return absl::DataLossError("write batch payload: truncated operation");
    }
    if (type != static_cast<uint8_t>(WriteBatch::OpType::kPut) &&
        type != static_cast<uint8_t>(WriteBatch::OpType::kDelete)) {
      return absl::DataLossError("write batch payload: unknown operation type");
    }
    op.type = static_cast<WriteBatch::OpType>(type);
    ops.push_back(op);
  }
  if (!d.done()) return absl::DataLossError("write batch payload: trailing bytes");
  return ops;
}

}  // namespace toydb
