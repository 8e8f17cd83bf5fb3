// EncodeCommand, DecodeCommand and ValidateCommand (command_codec.h).
#include "src/storage/replica/command_codec.h"

#include <fmt/format.h>

#include "src/storage/store/batch_codec.h"
#include "src/util/coding.h"

namespace toydb {
namespace {

bool IsCompareAndSetShape(const ReplicatedCommand& command) {
  return command.ops.size() == 1 && command.ops.front().type == WriteBatch::OpType::kPut;
}

}  // namespace

bool ReplicatedCommand::operator==(const ReplicatedCommand& other) const {
  if (client_id != other.client_id || sequence != other.sequence ||
      expected_version != other.expected_version || ops.size() != other.ops.size()) {
    return false;
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].type != other.ops[i].type || ops[i].key != other.ops[i].key ||
        ops[i].value != other.ops[i].value) {
      return false;
    }
  }
  return true;
}

std::string EncodeCommand(const ReplicatedCommand& command) {
  std::string out;
  PutFixed8(&out, command.expected_version.has_value() ? kCommandFlagExpectedVersion : 0);
  PutFixed64(&out, command.client_id);
  PutFixed64(&out, command.sequence);
  if (command.expected_version.has_value()) PutFixed64(&out, *command.expected_version);
  std::vector<BatchOpView> views;
  views.reserve(command.ops.size());
  for (const WriteBatch::Op& op : command.ops) views.push_back({op.type, op.key, op.value});
  EncodeBatchPayload(views, &out);
  return out;
}

StatusOr<ReplicatedCommand> DecodeCommand(std::string_view payload) {
  auto malformed = [](std::string_view why) {
    return absl::DataLossError(fmt::format("replicated command is malformed: {}", why));
  };
  Decoder d(payload);
  uint8_t flags = 0;
  ReplicatedCommand command;
  if (!d.U8(&flags) || !d.U64(&command.client_id) || !d.U64(&command.sequence)) {
    return malformed("truncated header");
  }
  if ((flags & ~kCommandFlagExpectedVersion) != 0) return malformed("unknown flags");
  if ((flags & kCommandFlagExpectedVersion) != 0) {
    uint64_t expected = 0;
    if (!d.U64(&expected)) return malformed("truncated expected version");
    command.expected_version = expected;
  }
  // The batch decoder checks the count against the bytes left and every
  // length against the payload, so nothing is reserved beyond its size.
  StatusOr<std::vector<BatchOpView>> ops = DecodeBatchPayload(d.rest());
  if (!ops.ok()) return malformed(std::string(ops.status().message()));
  if (ops->empty()) return malformed("no operation");
  command.ops.reserve(ops->size());
  for (const BatchOpView& op : *ops) {
    command.ops.push_back(WriteBatch::Op{op.type, std::string(op.key), std::string(op.value)});
  }
  if (command.expected_version.has_value() && !IsCompareAndSetShape(command)) {
    return malformed("a compare-and-set must be a single put");
  }
  return command;
}

Status ValidateCommand(const ReplicatedCommand& command, const StoreOptions& limits) {
  if (command.ops.empty()) return absl::InvalidArgumentError("command has no operation");
  if (command.expected_version.has_value() && !IsCompareAndSetShape(command)) {
    return absl::InvalidArgumentError("a compare-and-set command must be a single put");
  }
  if (command.ops.size() > limits.batch_ops_max) {
    return absl::InvalidArgumentError(fmt::format("command has {} operations; the limit is {}",
                                                  command.ops.size(), limits.batch_ops_max));
  }
  uint64_t bytes = 0;
  for (const WriteBatch::Op& op : command.ops) {
    if (op.key.empty()) return absl::InvalidArgumentError("key is empty");
    if (op.key.size() > limits.key_bytes_max) {
      return absl::InvalidArgumentError(
          fmt::format("key has {} bytes; the limit is {}", op.key.size(), limits.key_bytes_max));
    }
    if (op.value.size() > limits.value_bytes_max) {
      return absl::InvalidArgumentError(fmt::format("value has {} bytes; the limit is {}",
                                                    op.value.size(), limits.value_bytes_max));
    }
    bytes += op.key.size() + op.value.size();
  }
  if (bytes > limits.batch_bytes_max) {
    return absl::InvalidArgumentError(fmt::format("command has {} bytes; the limit is {}", bytes,
                                                  limits.batch_bytes_max));
  }
  return absl::OkStatus();
}

}  // namespace toydb
