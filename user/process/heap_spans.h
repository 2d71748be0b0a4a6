// The Go heap of a live process as the runtime lays it out: every in-use span
// from runtime.mheap_.allspans, and, for any address, the heap object that
// contains it. Read once, from a stopped process (spans change as it runs).
// Knows nothing of what the objects are or who points to them.
#pragma once
#include <cstdint>
#include <optional>
#include <utility>
#include <unordered_map>
#include <vector>

#include "process/process_memory.h"
#include "runtime_layout.h"

namespace goscope {

struct HeapSpan {
  uint64_t start = 0;
  uint64_t end = 0;       // start + npages * 8 KiB
  uint64_t elemsize = 0;  // object size (one object per span if large)
  uint32_t objects = 0;   // object slots in the span
  bool noscan = false;    // the span class says its objects hold no pointers
  uint64_t specials = 0;  // the span's first special record (finalizers, profile records...)
  uint64_t first_index = 0;  // index of its first object among all spans' objects
  // Where the runtime records its objects' type (from 1.22; before, nowhere):
  bool malloc_header = false;  // the first word of each object (small objects with pointers over 512 bytes)
  uint64_t large_type = 0;     // span.largeType: the one large object's type (0 if none recorded)
};

// An object slot: allocated, or free and holding nothing live (the runtime
// would tell them apart by its alloc bits; a reachability walk only reaches
// allocated ones, except through a stale word, which errs toward reachable).
struct HeapObject {
  uint64_t base = 0;
  uint64_t size = 0;
  bool noscan = false;
  uint64_t index = 0;  // unique among all objects of the heap
  uint32_t span = 0;   // its span's index in HeapSpans::spans()
};

class HeapSpans {
 public:
  // Throws Error if mheap_ is unknown for the binary, unreadable, or not
  // shaped like the runtime's heap.
  static HeapSpans Read(const ProcessMemory& mem, const RuntimeLayout& layout, uint64_t bias);

  // Inline: a reachability walk calls it for every word it scans.
  std::optional<HeapObject> Find(uint64_t addr) const;
  // The start of the first in-use span at or above addr (UINT64_MAX if none).
  uint64_t NextSpanStart(uint64_t addr) const;
  // The stack (goroutine's, or an M's g0) that holds addr, [lo, hi), if addr
  // is in a stack span: stacks are carved from the same arenas as the heap.
  std::optional<std::pair<uint64_t, uint64_t>> StackAt(uint64_t addr) const;
  const std::vector<HeapSpan>& spans() const { return spans_; }
  uint64_t objects() const { return objects_; }
  uint64_t bytes() const { return bytes_; }  // span bytes in use

 private:
  static constexpr uint64_t kPageShift = 13;   // runtime.pageShift
  static constexpr uint64_t kArenaShift = 26;  // runtime.heapArenaBytes on linux/amd64: 64 MiB
  static constexpr uint64_t kPagesPerArena = uint64_t{1} << (kArenaShift - kPageShift);

  std::vector<HeapSpan> spans_;   // by start address
  std::vector<HeapSpan> stacks_;  // stack spans (mSpanManual), by start address
  // Arena number -> span index (or -1) of each of its pages.
  std::unordered_map<uint64_t, std::vector<int32_t>> pages_;
  // The same as a table from lo_'s arena on, when the heap spans at most
  // kMaxArenaTable arenas (Go's arenas are near each other): Find runs for
  // every word scanned, and a hash look-up each time was a fifth of a proof.
  static constexpr uint64_t kMaxArenaTable = 1 << 16;
  std::vector<const int32_t*> arena_table_;
  uint64_t first_arena_ = 0;
  uint64_t objects_ = 0, bytes_ = 0;
  uint64_t lo_ = 0, hi_ = 0;  // [first span's start, last span's end): most words fall outside
};

inline std::optional<HeapObject> HeapSpans::Find(uint64_t addr) const {
  if (addr < lo_ || addr >= hi_) return std::nullopt;
  const uint64_t page = addr >> kPageShift;
  const int32_t* pages = nullptr;
  if (!arena_table_.empty()) {
    pages = arena_table_[page / kPagesPerArena - first_arena_];  // lo_ <= addr < hi_: in the table
  } else if (auto it = pages_.find(page / kPagesPerArena); it != pages_.end()) {
    pages = it->second.data();
  }
  if (!pages) return std::nullopt;
  const int32_t i = pages[page % kPagesPerArena];
  if (i < 0) return std::nullopt;
  const HeapSpan& s = spans_[static_cast<size_t>(i)];
  uint64_t slot = (addr - s.start) / s.elemsize;
  if (slot >= s.objects) return std::nullopt;  // the tail a span's objects do not fill
  return HeapObject{s.start + slot * s.elemsize, s.elemsize, s.noscan, s.first_index + slot, static_cast<uint32_t>(i)};
}

}  // namespace goscope
