#ifndef TOYDB_UTIL_SLAB_ALLOCATOR_H_
#define TOYDB_UTIL_SLAB_ALLOCATOR_H_

// SlabAllocator: small blocks carved from 2 MiB chunks on huge pages
// (huge_pages.h), for caches holding millions of entries that are read at
// random: with malloc, every entry sits on its own 4 KiB page as far as the
// TLB is concerned; here a few hundred TLB entries cover a gigabyte of them.
//
// Blocks up to kMaxSlabBytes come in size classes of 64-byte steps, so each
// block starts on a cache line; larger requests go to malloc. A chunk whose
// blocks are all free is returned to the system, except one spare per class
// (so that a cache hovering at a chunk boundary does not map and unmap 2 MiB
// at every step). Owned by its user; not thread-safe.

#include <cstddef>
#include <cstdint>

namespace toydb {

class SlabAllocator {
 public:
  static constexpr size_t kMaxSlabBytes = 1024;
  static constexpr size_t kChunkBytes = 2u << 20;

  SlabAllocator() = default;
  ~SlabAllocator();
  SlabAllocator(const SlabAllocator&) = delete;
  SlabAllocator& operator=(const SlabAllocator&) = delete;

  // A block of at least `bytes` (> 0), aligned to 64 bytes when it comes
  // from a slab. Throws std::bad_alloc.
  void* Allocate(size_t bytes);
  // Frees a block; `bytes` must be what it was allocated with.
  void Free(void* block, size_t bytes);

  // Chunks currently held (live and spare), for tests and accounting.
  size_t chunks() const { return chunks_; }

 private:
  static constexpr size_t kLineBytes = 64;
  static constexpr size_t kClasses = kMaxSlabBytes / kLineBytes;

  struct FreeBlock {
    FreeBlock* next;
  };
  // At the start of each chunk, padded to a cache line.
  struct Chunk {
    FreeBlock* free_list;  // Freed blocks of this chunk.
    size_t bump;           // Offset of the first never-used byte.
    size_t live;           // Blocks handed out and not freed.
    Chunk* prev_partial;   // Links of the class's list of chunks with room.
    Chunk* next_partial;
    bool in_partial_list;
    uint8_t size_class;
  };
  static_assert(sizeof(Chunk) <= kLineBytes);
  struct SizeClass {
    Chunk* partial = nullptr;  // Chunks with a free block or bump room.
    Chunk* spare = nullptr;    // One empty chunk kept for reuse.
  };

  static size_t ClassOf(size_t bytes) { return (bytes + kLineBytes - 1) / kLineBytes - 1; }
  static size_t BlockBytes(size_t size_class) { return (size_class + 1) * kLineBytes; }
  static Chunk* ChunkOf(void* block) {
    return reinterpret_cast<Chunk*>(reinterpret_cast<uintptr_t>(block) & ~(kChunkBytes - 1));
  }
  static bool HasRoom(const Chunk* chunk);
  Chunk* NewChunk(size_t size_class);
  void LinkPartial(SizeClass& cls, Chunk* chunk);
  void UnlinkPartial(SizeClass& cls, Chunk* chunk);
  void ReleaseChunk(Chunk* chunk);

  SizeClass classes_[kClasses];
  size_t chunks_ = 0;
};

}  // namespace toydb

#endif  // TOYDB_UTIL_SLAB_ALLOCATOR_H_
