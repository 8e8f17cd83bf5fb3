// The cluster file parser: one pass over the lines that checks each
// declaration on its own, then a check of the references between them.
#include "toydb/cluster_file.h"

#include <fmt/format.h>

#include <charconv>
#include <set>

#include "absl/status/status.h"
#include "toydb/env.h"

namespace toydb {
namespace {

// Tokens of a line, its comment removed.
std::vector<std::string_view> Tokenize(std::string_view line) {
  if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
  std::vector<std::string_view> tokens;
  size_t at = 0;
  while (true) {
    at = line.find_first_not_of(" \t\r", at);
    if (at == std::string_view::npos) return tokens;
    const size_t end = std::min(line.find_first_of(" \t\r", at), line.size());
    tokens.push_back(line.substr(at, end - at));
    at = end;
  }
}

// A whole token as an unsigned number no larger than `max`.
bool ParseNumber(std::string_view token, uint64_t max, uint64_t* out) {
  if (token.empty() || token[0] == '+' || token[0] == '-') return false;
  const char* end = token.data() + token.size();
  auto [ptr, ec] = std::from_chars(token.data(), end, *out);
  return ec == std::errc() && ptr == end && *out <= max;
}

class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  Status Line(int number, std::string_view text) {
    line_ = number;
    const std::vector<std::string_view> tokens = Tokenize(text);
    if (tokens.empty()) return absl::OkStatus();
    if (tokens[0] == "node") return Node(tokens);
    if (tokens[0] == "partition") return Partition(tokens);
    return Error(
        fmt::format("unknown declaration '{}' (expected 'node' or 'partition')", tokens[0]));
  }

  StatusOr<ClusterConfig> Finish() {
    if (config_.partitions.empty()) {
      return absl::InvalidArgumentError(fmt::format("{}: no partition is declared", source_));
    }
    for (size_t i = 0; i < config_.partitions.size(); ++i) {
      for (NodeId member : config_.partitions[i].members) {
        if (config_.nodes.count(member) != 0) continue;
        line_ = partition_lines_[i];
        return Error(fmt::format("partition {} names node {}, which no 'node' line declares",
                                 config_.partitions[i].id, member));
      }
    }
    return config_;
  }

 private:
  Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(fmt::format("{}:{}: {}", source_, line_, what));
  }

  Status NodeIdOf(std::string_view token, NodeId* id) const {
    if (!ParseNumber(token, kServerNodeIdMax, id) || *id == 0) {
      return Error(
          fmt::format("node id '{}' is not a number from 1 to {}", token, kServerNodeIdMax));
    }
    return absl::OkStatus();
  }

  Status Node(const std::vector<std::string_view>& tokens) {
    if (tokens.size() != 3) return Error("expected 'node <id> <host>:<port>'");
    NodeId id = 0;
    if (Status s = NodeIdOf(tokens[1], &id); !s.ok()) return s;
    if (auto it = node_lines_.find(id); it != node_lines_.end()) {
      return Error(fmt::format("node {} is already declared on line {}", id, it->second));
    }
    const std::string address(tokens[2]);
    if (Status s = ValidateAddress(address); !s.ok()) {
      return Error(fmt::format("node {}: {}", id, std::string(s.message())));
    }
    if (auto it = address_lines_.find(address); it != address_lines_.end()) {
      return Error(
          fmt::format("address {} is already given to a node on line {}", address, it->second));
    }
    node_lines_[id] = line_;
    address_lines_[address] = line_;
    config_.nodes[id] = address;
    return absl::OkStatus();
  }

  Status Partition(const std::vector<std::string_view>& tokens) {
    if (tokens.size() < 3) return Error("expected 'partition <id> <member node id>...'");
    uint64_t id = 0;
    if (!ParseNumber(tokens[1], UINT32_MAX, &id)) {
      return Error(
          fmt::format("partition id '{}' is not a number from 0 to {}", tokens[1], UINT32_MAX));
    }
    if (auto it = seen_partitions_.find(id); it != seen_partitions_.end()) {
      return Error(fmt::format("partition {} is already declared on line {}", id, it->second));
    }
    PartitionConfig partition;
    partition.id = static_cast<PartitionId>(id);
    for (size_t i = 2; i < tokens.size(); ++i) {
      NodeId member = 0;
      if (Status s = NodeIdOf(tokens[i], &member); !s.ok()) return s;
      if (partition.Has(member)) {
        return Error(fmt::format("partition {} lists node {} twice", id, member));
      }
      partition.members.push_back(member);
    }
    seen_partitions_[id] = line_;
    partition_lines_.push_back(line_);
    config_.partitions.push_back(std::move(partition));
    return absl::OkStatus();
  }

  std::string_view source_;
  int line_ = 0;
  ClusterConfig config_;
  std::map<NodeId, int> node_lines_;
  std::map<std::string, int> address_lines_;
  std::map<uint64_t, int> seen_partitions_;
  std::vector<int> partition_lines_;  // parallel to config_.partitions
};

}  // namespace

Status ValidateAddress(std::string_view address, bool allow_port_zero) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(fmt::format("address '{}' is not <host>:<port>", address));
  }
  std::string_view host = address.substr(0, colon);
  const std::string_view port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        fmt::format("address '{}': an IPv6 host must be in brackets, [::1]:7001", address));
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(fmt::format("address '{}' has no host", address));
  }
  uint64_t number = 0;
  if (!ParseNumber(port, 65535, &number) || (number == 0 && !allow_port_zero)) {
    return absl::InvalidArgumentError(
        fmt::format("address '{}': port '{}' is not a number from "
                    "{} to 65535",
                    address, port, allow_port_zero ? 0 : 1));
  }
  return absl::OkStatus();
}

std::vector<PartitionConfig> ClusterConfig::PartitionsOf(NodeId node) const {
  std::vector<PartitionConfig> hosted;
  for (const PartitionConfig& partition : partitions) {
    if (partition.Has(node)) hosted.push_back(partition);
  }
  return hosted;
}

std::string ClusterConfig::ToText() const {
  std::string text;
  for (const auto& [id, address] : nodes) text += fmt::format("node {} {}\n", id, address);
  for (const PartitionConfig& partition : partitions) {
    text += fmt::format("partition {}", partition.id);
    for (NodeId member : partition.members) text += fmt::format(" {}", member);
    text += "\n";
  }
  return text;
}

StatusOr<ClusterConfig> ParseClusterConfig(std::string_view text, std::string_view source) {
  Parser parser(source);
  int number = 0;
  while (!text.empty()) {
    const size_t end = std::min(text.find('\n'), text.size());
    if (Status s = parser.Line(++number, text.substr(0, end)); !s.ok()) return s;
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  return parser.Finish();
}

StatusOr<ClusterConfig> ReadClusterFile(const std::string& path) {
  StatusOr<std::string> text = Env::Default()->ReadFileToString(path);
  if (!text.ok()) {
    return Status(text.status().code(),
                  fmt::format("cluster file {}: {}", path, std::string(text.status().message())));
  }
  return ParseClusterConfig(*text, path);
}

}  // namespace toydb
