#include "sim/incarnation_env.h"

#include <fmt/format.h>

namespace toydb::sim {

Status IncarnationEnv::Refuse(const char* call) {
  if (!dead_) return absl::OkStatus();
  ++refused_calls_;
  return absl::UnavailableError(
      fmt::format("{}: incarnation {} of node {} has crashed", call, incarnation_, node_id_));
}

}  // namespace toydb::sim
