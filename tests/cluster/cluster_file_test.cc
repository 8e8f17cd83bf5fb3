// The cluster file: what it accepts, and that every mistake is refused with
// the file name and the line that holds it.
#include "toydb/cluster_file.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/storage/temp_dir.h"

namespace toydb {
namespace {

constexpr std::string_view kSixNodes = R"(# two partitions of three replicas
node 1 127.0.0.1:7001
node 2 127.0.0.1:7002
node 3 127.0.0.1:7003
node 4 localhost:7004   # a comment after a declaration
node 5	127.0.0.1:7005
node 6 [::1]:7006

partition 0 1 2 3
partition 1 4 5 6
)";

// The message of the error that parsing `text` gives (fails if it parses).
std::string ErrorOf(std::string_view text) {
  StatusOr<ClusterConfig> config = ParseClusterConfig(text, "c.txt");
  REQUIRE_FALSE(config.ok());
  CHECK(absl::IsInvalidArgument(config.status()));
  return std::string(config.status().message());
}

TEST_CASE("ClusterFile: parses nodes and partitions", "[cluster_file]") {
  StatusOr<ClusterConfig> config = ParseClusterConfig(kSixNodes);
  REQUIRE(config.ok());
  REQUIRE(config->nodes.size() == 6);
  CHECK(config->nodes.at(4) == "localhost:7004");
  CHECK(config->nodes.at(5) == "127.0.0.1:7005");
  CHECK(config->nodes.at(6) == "[::1]:7006");
  REQUIRE(config->partitions.size() == 2);
  CHECK(config->partitions[0] == PartitionConfig{.id = 0, .members = {1, 2, 3}});
  CHECK(config->partitions[1] == PartitionConfig{.id = 1, .members = {4, 5, 6}});
  CHECK(config->PartitionsOf(5) == std::vector<PartitionConfig>{config->partitions[1]});
  CHECK(config->PartitionsOf(9).empty());

  StatusOr<ClusterConfig> again = ParseClusterConfig(config->ToText());
  REQUIRE(again.ok());
  CHECK(*again == *config);
}

TEST_CASE("ClusterFile: nodes may follow the partitions that name them", "[cluster_file]") {
  StatusOr<ClusterConfig> config =
      ParseClusterConfig("partition 7 2\nnode 2 h:1\nnode 3 h:2  # a spare\n");
  REQUIRE(config.ok());
  CHECK(config->partitions[0].members == std::vector<NodeId>{2});
  CHECK(config->nodes.size() == 2);
}

TEST_CASE("ClusterFile: each mistake names the file and its line", "[cluster_file]") {
  CHECK(ErrorOf("node 1 h:1\nnodes 2 h:2\n") ==
        "c.txt:2: unknown declaration 'nodes' (expected 'node' or 'partition')");
  CHECK(ErrorOf("node 1\n") == "c.txt:1: expected 'node <id> <host>:<port>'");
  CHECK(ErrorOf("node 1 h:1 extra\n") == "c.txt:1: expected 'node <id> <host>:<port>'");
  CHECK(ErrorOf("\n\nnode x h:1\n") == "c.txt:3: node id 'x' is not a number from 1 to 4294967295");
  CHECK(ErrorOf("node 0 h:1\n").starts_with("c.txt:1: node id '0' is not a number"));
  CHECK(ErrorOf("node -1 h:1\n").starts_with("c.txt:1: node id '-1'"));
  CHECK(ErrorOf("node 4294967296 h:1\n").starts_with("c.txt:1: node id '4294967296'"));
  CHECK(ErrorOf("node 1 h:1\nnode 1 h:2\n") == "c.txt:2: node 1 is already declared on line 1");
  CHECK(ErrorOf("node 1 h:1\n\nnode 2 h:1\n") ==
        "c.txt:3: address h:1 is already given to a node on line 1");
  CHECK(ErrorOf("node 1 host\n") == "c.txt:1: node 1: address 'host' is not <host>:<port>");
  CHECK(ErrorOf("node 1 :7001\n") == "c.txt:1: node 1: address ':7001' has no host");
  CHECK(ErrorOf("node 1 h:0\n") ==
        "c.txt:1: node 1: address 'h:0': port '0' is not a number from 1 to 65535");
  CHECK(ErrorOf("node 1 h:65536\n").starts_with("c.txt:1: node 1: address 'h:65536': port"));
  CHECK(ErrorOf("node 1 h:7x\n").starts_with("c.txt:1: node 1: address 'h:7x': port"));
  CHECK(ErrorOf("node 1 ::1:7\n").starts_with("c.txt:1: node 1: address '::1:7': an IPv6 host"));
  CHECK(ErrorOf("node 1 h:1\npartition 0\n") ==
        "c.txt:2: expected 'partition <id> <member node id>...'");
  CHECK(ErrorOf("node 1 h:1\npartition p 1\n").starts_with("c.txt:2: partition id 'p'"));
  CHECK(ErrorOf("node 1 h:1\npartition 4294967296 1\n").starts_with("c.txt:2: partition id"));
  CHECK(ErrorOf("node 1 h:1\npartition 0 1\npartition 0 1\n") ==
        "c.txt:3: partition 0 is already declared on line 2");
  CHECK(ErrorOf("node 1 h:1\npartition 0 1 1\n") == "c.txt:2: partition 0 lists node 1 twice");
  CHECK(ErrorOf("node 1 h:1\npartition 0 1 y\n").starts_with("c.txt:2: node id 'y'"));
  CHECK(ErrorOf("node 1 h:1\npartition 0 1\npartition 1 1 9\nnode 2 h:2\n") ==
        "c.txt:3: partition 1 names node 9, which no 'node' line declares");
  CHECK(ErrorOf("node 1 h:1\n# no partition\n") == "c.txt: no partition is declared");
  CHECK(ErrorOf("") == "c.txt: no partition is declared");
}

TEST_CASE("ClusterFile: reads a file and names it in errors", "[cluster_file]") {
  TempDir dir;
  const std::string path = JoinPath(dir.path(), "cluster.txt");
  StatusOr<ClusterConfig> missing = ReadClusterFile(path);
  REQUIRE_FALSE(missing.ok());
  CHECK(absl::IsNotFound(missing.status()));
  CHECK(std::string(missing.status().message()).starts_with("cluster file " + path));

  std::ofstream(path) << kSixNodes;
  StatusOr<ClusterConfig> config = ReadClusterFile(path);
  REQUIRE(config.ok());
  CHECK(config->partitions.size() == 2);

  std::ofstream(path) << "node 1 h:1\npartition 0 1 2\n";
  StatusOr<ClusterConfig> bad = ReadClusterFile(path);
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()) ==
        path + ":2: partition 0 names node 2, which no 'node' line declares");
}

TEST_CASE("ClusterFile: listen addresses may ask for port 0", "[cluster_file]") {
  CHECK(ValidateAddress("127.0.0.1:0", /*allow_port_zero=*/true).ok());
  CHECK(absl::IsInvalidArgument(ValidateAddress("127.0.0.1:0")));
  CHECK(ValidateAddress("[::1]:7001").ok());
  CHECK(absl::IsInvalidArgument(ValidateAddress("[]:7001")));
}

}  // namespace
}  // namespace toydb
