// A host program that links toydb: opens a store, writes, reopens, reads.
// Exits 0 only if the value read back is the value written.
#include <cstdio>
#include <filesystem>

#include "toydb/store.h"

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "consumer-data";
  std::filesystem::remove_all(dir);
  toydb::StoreOptions options;
  options.dir = dir;
  {
    auto store = toydb::Store::Open(options);
    if (!store.ok() || !(*store)->Put({}, "hello", "world").ok()) return 1;
  }
  auto store = toydb::Store::Open(options);
  if (!store.ok()) return 1;
  auto value = (*store)->Get("hello");
  const bool ok = value.ok() && *value == "world";
  std::printf("consumer: read back %s\n", ok ? "what it wrote" : "something else");
  std::filesystem::remove_all(dir);
  return ok ? 0 : 1;
}
