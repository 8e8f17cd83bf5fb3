// Tests of SlabAllocator: blocks never overlap and keep their bytes, slab
// blocks are line-aligned, and empty chunks go back to the system.
#include "src/util/slab_allocator.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <vector>

namespace toydb {
namespace {

struct Block {
  char* memory;
  size_t bytes;
  char fill;
};

bool Intact(const Block& b) {
  for (size_t i = 0; i < b.bytes; ++i) {
    if (b.memory[i] != b.fill) return false;
  }
  return true;
}

TEST_CASE("SlabAllocator blocks keep their bytes through random allocation and freeing",
          "[slab_allocator]") {
  SlabAllocator slab;
  std::mt19937_64 rng(11);
  std::vector<Block> live;
  for (int step = 0; step < 200000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      // Mostly small sizes (several classes), some past the slab limit.
      const size_t bytes = rng() % 20 == 0 ? SlabAllocator::kMaxSlabBytes + 1 + rng() % 3000
                                           : 1 + rng() % SlabAllocator::kMaxSlabBytes;
      Block b{static_cast<char*>(slab.Allocate(bytes)), bytes, static_cast<char>(rng())};
      if (bytes <= SlabAllocator::kMaxSlabBytes) {
        REQUIRE(reinterpret_cast<uintptr_t>(b.memory) % 64 == 0);
      }
      std::memset(b.memory, b.fill, bytes);
      live.push_back(b);
    } else {
      const size_t i = rng() % live.size();
      REQUIRE(Intact(live[i]));
      slab.Free(live[i].memory, live[i].bytes);
      live[i] = live.back();
      live.pop_back();
    }
  }
  for (const Block& b : live) REQUIRE(Intact(b));
  CHECK(slab.chunks() > 0);
  for (const Block& b : live) slab.Free(b.memory, b.bytes);
  // Only the spares (at most one per class) are left.
  CHECK(slab.chunks() <= SlabAllocator::kMaxSlabBytes / 64);
}

TEST_CASE("SlabAllocator returns a chunk once all its blocks are free, keeping one spare",
          "[slab_allocator]") {
  SlabAllocator slab;
  constexpr size_t kBlock = 128;
  // Three chunks' worth of blocks of one class.
  const size_t per_chunk = SlabAllocator::kChunkBytes / kBlock - 1;  // One line is the header.
  std::vector<void*> blocks;
  for (size_t i = 0; i < 3 * per_chunk; ++i) blocks.push_back(slab.Allocate(kBlock));
  CHECK(slab.chunks() == 3);
  for (void* b : blocks) slab.Free(b, kBlock);
  CHECK(slab.chunks() == 1);            // The spare.
  void* again = slab.Allocate(kBlock);  // Comes from the spare.
  CHECK(slab.chunks() == 1);
  slab.Free(again, kBlock);
}

}  // namespace
}  // namespace toydb
