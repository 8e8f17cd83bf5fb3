#include "src/util/huge_pages.h"

#include <sys/mman.h>

#include <cstring>

namespace toydb {
namespace {
constexpr size_t kHugePageBytes = 2u << 20;
}  // namespace

void* AllocateLarge(size_t bytes, bool zero) {
  void* memory = nullptr;
  if (bytes >= kHugePageBytes) {
    const size_t rounded = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    memory = std::aligned_alloc(kHugePageBytes, rounded);
#ifdef MADV_HUGEPAGE
    if (memory != nullptr) ::madvise(memory, rounded, MADV_HUGEPAGE);  // Advice only.
#endif
  } else {
    memory = std::malloc(bytes == 0 ? 1 : bytes);
  }
  if (memory == nullptr) throw std::bad_alloc();
  if (zero) std::memset(memory, 0, bytes);
  return memory;
}

}  // namespace toydb
