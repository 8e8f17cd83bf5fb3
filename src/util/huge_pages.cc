#include "src/util/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace toydb {
namespace {

constexpr size_t kHugePageBytes = 2u << 20;

size_t RoundUp(size_t bytes, size_t unit) { return (bytes + unit - 1) / unit * unit; }

}  // namespace

void* AllocateLarge(size_t bytes, bool zero) {
  if (bytes >= kHugePageBytes) {
    const size_t rounded = RoundUp(bytes, kHugePageBytes);
    // One huge page more than needed, so that a 2 MiB aligned range fits;
    // the unaligned head and the tail are unmapped again.
    const size_t mapped = rounded + kHugePageBytes;
    void* raw = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t raw_start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t start = RoundUp(raw_start, kHugePageBytes);
    if (start > raw_start) ::munmap(raw, start - raw_start);
    const uintptr_t end = start + rounded, raw_end = raw_start + mapped;
    if (raw_end > end) ::munmap(reinterpret_cast<void*>(end), raw_end - end);
#ifdef MADV_HUGEPAGE
    ::madvise(reinterpret_cast<void*>(start), rounded, MADV_HUGEPAGE);  // Advice only.
#endif
    // Fresh anonymous memory reads as zero: the kernel zeroes each page when
    // it is first touched, so `zero` costs no pass over the block here.
    return reinterpret_cast<void*>(start);
  }
  // Cache-line aligned, for tables whose slots are.
  void* memory = std::aligned_alloc(64, bytes == 0 ? 64 : RoundUp(bytes, 64));
  if (memory == nullptr) throw std::bad_alloc();
  if (zero) std::memset(memory, 0, bytes);
  return memory;
}

void FreeLarge(void* memory, size_t bytes) {
  if (memory == nullptr) return;
  if (bytes >= kHugePageBytes) {
    ::munmap(memory, RoundUp(bytes, kHugePageBytes));
  } else {
    std::free(memory);
  }
}

}  // namespace toydb
