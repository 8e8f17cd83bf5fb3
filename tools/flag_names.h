#ifndef TOYDB_TOOLS_FLAG_NAMES_H_
#define TOYDB_TOOLS_FLAG_NAMES_H_

#include <algorithm>
#include <string_view>

namespace toydb::tools {

// Lets flags be written with dashes (--write-concern, --node-id): absl's
// flag names use '_'. Rewrites argv in place, up to a "--".
inline void NormalizeFlagNames(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (!arg.starts_with("--")) continue;
    const size_t end = std::min(arg.find('='), arg.size());
    for (size_t j = 2; j < end; ++j) {
      if (argv[i][j] == '-') argv[i][j] = '_';
    }
  }
}

}  // namespace toydb::tools

#endif  // TOYDB_TOOLS_FLAG_NAMES_H_
