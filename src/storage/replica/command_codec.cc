// EncodeCommand, DecodeCommand and ValidateCommand (command_codec.h).
#include "src/storage/replica/command_codec.h"

#include <fmt/format.h>

#include "src/storage/store/batch_codec.h"
#include "src/util/coding.h"

namespace toydb {
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

StatusOr<CommandView> DecodeCommandView(std::string_view payload) {
  auto malformed = [](std::string_view why) {
    return absl::DataLossError(fmt::format("replicated command is malformed: {}", why));
  };
  Decoder d(payload);
  uint8_t flags = 0;
  CommandView command;
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
  command.ops = std::move(*ops);
  if (command.ops.empty()) return malformed("no operation");
  if (command.expected_version.has_value() &&
      (command.ops.size() != 1 || command.ops.front().type != WriteBatch::OpType::kPut)) {
    return malformed("a compare-and-set must be a single put");
  }
  return command;
}

StatusOr<ReplicatedCommand> DecodeCommand(std::string_view payload) {
  StatusOr<CommandView> view = DecodeCommandView(payload);
  if (!view.ok()) return view.status();
  ReplicatedCommand command;
  command.client_id = view->client_id;
  command.sequence = view->sequence;
  command.expected_version = view->expected_version;
  command.ops.reserve(view->ops.size());
  for (const BatchOpView& op : view->ops) {
    command.ops.push_back(WriteBatch::Op{op.type, std::string(op.key), std::string(op.value)});
  }
  return command;
}

Status ValidateCommand(const CommandView& command, const StoreOptions& limits) {
  if (command.ops.size() > limits.batch_ops_max) {
    return absl::InvalidArgumentError(fmt::format("command has {} operations; the limit is {}",
                                                  command.ops.size(), limits.batch_ops_max));
  }
  uint64_t bytes = 0;
  for (const BatchOpView& op : command.ops) {
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
    return absl::InvalidArgumentError(
        fmt::format("command has {} bytes; the limit is {}", bytes, limits.batch_bytes_max));
  }
  return absl::OkStatus();
}

}  // namespace toydb
