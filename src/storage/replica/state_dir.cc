// CURRENT, state directory names and tree removal (state_dir.h).
#include "src/storage/replica/state_dir.h"

#include <fmt/format.h>

#include <charconv>

#include "src/util/checksum.h"

namespace toydb {
namespace {
constexpr std::string_view kStatePrefix = "state-";
constexpr size_t kStateDigits = 10;
}  // namespace

std::string StateDirName(uint64_t number) { return fmt::format("state-{:010}", number); }

bool ParseStateDirName(std::string_view name, uint64_t* number) {
  if (!name.starts_with(kStatePrefix) || name.size() != kStatePrefix.size() + kStateDigits) {
    return false;
  }
  const std::string_view digits = name.substr(kStatePrefix.size());
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *number);
  return ec == std::errc() && end == digits.data() + digits.size();
}

StatusOr<std::string> ReadCurrent(Env* env, const std::string& dir) {
  const std::string path = JoinPath(dir, kCurrentFileName);
  if (!env->FileExists(path)) return absl::NotFoundError("no CURRENT");
  StatusOr<std::string> bytes = env->ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  // "<name> <checksum of name, 16 hex digits>\n"
  const std::string_view text = *bytes;
  const size_t space = text.find(' ');
  uint64_t number = 0;
  if (space == std::string_view::npos || text.size() != space + 1 + 16 + 1 || text.back() != '\n' ||
      !ParseStateDirName(text.substr(0, space), &number) ||
      fmt::format("{:016x}", Checksum64(text.substr(0, space))) != text.substr(space + 1, 16)) {
    return absl::DataLossError(
        fmt::format("{} is damaged: it does not name a state directory", path));
  }
  return std::string(text.substr(0, space));
}

Status WriteCurrent(Env* env, const std::string& dir, const std::string& state_dir_name) {
  return env->WriteFileAtomically(
      JoinPath(dir, kCurrentFileName),
      fmt::format("{} {:016x}\n", state_dir_name, Checksum64(state_dir_name)));
}

Status RemoveTree(Env* env, const std::string& path) {
  if (env->RemoveFile(path).ok()) return absl::OkStatus();
  StatusOr<std::vector<std::string>> names = env->GetChildren(path);
  if (!names.ok()) return absl::OkStatus();  // Neither a file nor a directory: gone.
  for (const std::string& name : *names) {
    if (name == "." || name == "..") continue;
    if (Status s = RemoveTree(env, JoinPath(path, name)); !s.ok()) return s;
  }
  // The removals durable first: a crash must not bring back files under a
  // name that a later directory of the same name would find.
  if (Status s = env->SyncDir(path); !s.ok()) return s;
  return env->RemoveDir(path);
}

Status CreateEmptyDir(Env* env, const std::string& path) {
  if (Status s = env->CreateDir(path); !s.ok()) return s;
  StatusOr<std::vector<std::string>> names = env->GetChildren(path);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (name == "." || name == "..") continue;
    if (Status s = RemoveTree(env, JoinPath(path, name)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace toydb
