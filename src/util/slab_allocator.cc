#include "src/util/slab_allocator.h"

#include <cstdlib>
#include <new>

#include "src/util/huge_pages.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
// Free blocks are poisoned (all but the free-list link) so that AddressSanitizer
// still reports a use after free inside a chunk.
#define TOYDB_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define TOYDB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define TOYDB_POISON(p, n) ((void)(p), (void)(n))
#define TOYDB_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace toydb {

SlabAllocator::~SlabAllocator() {
  // Blocks still handed out belong to the owner, who frees them first; what
  // is left here is spare and partial chunks.
  for (SizeClass& cls : classes_) {
    while (cls.partial != nullptr) {
      Chunk* chunk = cls.partial;
      UnlinkPartial(cls, chunk);
      ReleaseChunk(chunk);
    }
    if (cls.spare != nullptr) ReleaseChunk(cls.spare);
    cls.spare = nullptr;
  }
}

bool SlabAllocator::HasRoom(const Chunk* chunk) {
  return chunk->free_list != nullptr || chunk->bump + BlockBytes(chunk->size_class) <= kChunkBytes;
}

SlabAllocator::Chunk* SlabAllocator::NewChunk(size_t size_class) {
  // AllocateLarge aligns blocks of 2 MiB to 2 MiB, which ChunkOf relies on.
  void* memory = AllocateLarge(kChunkBytes, /*zero=*/false);
  ++chunks_;
  TOYDB_POISON(static_cast<char*>(memory) + kLineBytes, kChunkBytes - kLineBytes);
  return new (memory)
      Chunk{nullptr, kLineBytes, 0, nullptr, nullptr, false, static_cast<uint8_t>(size_class)};
}

void SlabAllocator::ReleaseChunk(Chunk* chunk) {
  TOYDB_UNPOISON(chunk, kChunkBytes);
  chunk->~Chunk();
  FreeLarge(chunk, kChunkBytes);
  --chunks_;
}

void SlabAllocator::LinkPartial(SizeClass& cls, Chunk* chunk) {
  chunk->prev_partial = nullptr;
  chunk->next_partial = cls.partial;
  if (cls.partial != nullptr) cls.partial->prev_partial = chunk;
  cls.partial = chunk;
  chunk->in_partial_list = true;
}

void SlabAllocator::UnlinkPartial(SizeClass& cls, Chunk* chunk) {
  if (chunk->prev_partial != nullptr) {
    chunk->prev_partial->next_partial = chunk->next_partial;
  } else {
    cls.partial = chunk->next_partial;
  }
  if (chunk->next_partial != nullptr) chunk->next_partial->prev_partial = chunk->prev_partial;
  chunk->prev_partial = chunk->next_partial = nullptr;
  chunk->in_partial_list = false;
}

void* SlabAllocator::Allocate(size_t bytes) {
  if (bytes > kMaxSlabBytes) {
    void* memory = std::malloc(bytes);
    if (memory == nullptr) throw std::bad_alloc();
    return memory;
  }
  const size_t size_class = ClassOf(bytes == 0 ? 1 : bytes);
  SizeClass& cls = classes_[size_class];
  if (cls.partial == nullptr) {
    Chunk* chunk = cls.spare != nullptr ? cls.spare : NewChunk(size_class);
    cls.spare = nullptr;
    LinkPartial(cls, chunk);
  }
  Chunk* chunk = cls.partial;
  void* block;
  if (chunk->free_list != nullptr) {
    block = chunk->free_list;
    chunk->free_list = chunk->free_list->next;
  } else {
    block = reinterpret_cast<char*>(chunk) + chunk->bump;
    chunk->bump += BlockBytes(size_class);
  }
  TOYDB_UNPOISON(block, BlockBytes(size_class));
  ++chunk->live;
  if (!HasRoom(chunk)) UnlinkPartial(cls, chunk);
  return block;
}

void SlabAllocator::Free(void* block, size_t bytes) {
  if (bytes > kMaxSlabBytes) {
    std::free(block);
    return;
  }
  Chunk* chunk = ChunkOf(block);
  SizeClass& cls = classes_[chunk->size_class];
  chunk->free_list = new (block) FreeBlock{chunk->free_list};
  TOYDB_POISON(static_cast<char*>(block) + sizeof(FreeBlock),
               BlockBytes(chunk->size_class) - sizeof(FreeBlock));
  --chunk->live;
  if (chunk->live == 0) {
    if (chunk->in_partial_list) UnlinkPartial(cls, chunk);
    if (cls.spare == nullptr) {
      // Reset so the spare is handed out like a new chunk.
      chunk->free_list = nullptr;
      chunk->bump = kLineBytes;
      TOYDB_POISON(reinterpret_cast<char*>(chunk) + kLineBytes, kChunkBytes - kLineBytes);
      cls.spare = chunk;
    } else {
      ReleaseChunk(chunk);
    }
    return;
  }
  if (!chunk->in_partial_list) LinkPartial(cls, chunk);
}

}  // namespace toydb
