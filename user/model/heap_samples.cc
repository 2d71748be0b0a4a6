#include "model/heap_samples.h"

#include <cmath>

namespace goscope {

std::vector<HeapRecord> HeapRecordsBetween(const std::vector<HeapBucket>& before, const std::vector<HeapBucket>& now) {
  // Counts only grow (a smaller one would be a torn read: nothing since).
  auto grown = [](uint64_t later, uint64_t earlier) { return static_cast<int64_t>(later > earlier ? later - earlier : 0); };
  std::unordered_map<uint64_t, const HeapBucket*> old;
  for (const HeapBucket& b : before) old[b.addr] = &b;
  std::vector<HeapRecord> out;
  for (const HeapBucket& b : now) {
    auto it = old.find(b.addr);
    const HeapBucket* o = it == old.end() ? nullptr : it->second;
    HeapRecord r;
    r.stack = b.stack;
    r.size = b.size;
    r.alloc_objects = grown(b.allocs, o ? o->allocs : 0);
    r.alloc_bytes = grown(b.alloc_bytes, o ? o->alloc_bytes : 0);
    r.inuse_objects = grown(b.allocs, b.frees);
    r.inuse_bytes = grown(b.alloc_bytes, b.free_bytes);
    if (r.alloc_objects || r.inuse_objects) out.push_back(std::move(r));
  }
  return out;
}

HeapBucketTotals Totals(const std::vector<HeapBucket>& buckets) {
  HeapBucketTotals t;
  for (const HeapBucket& b : buckets) {
    t.allocs += b.allocs;
    t.frees += b.frees;
  }
  return t;
}

std::vector<HeapRecord> ExactHeapRecords(const std::vector<HeapExactRecord>& exact) {
  std::vector<HeapRecord> out;
  out.reserve(exact.size());
  for (const auto& e : exact) {
    HeapRecord r;
    r.stack = e.stack;
    r.size = e.size;
    r.alloc_objects = static_cast<int64_t>(e.count);
    r.alloc_bytes = static_cast<int64_t>(e.bytes);
    out.push_back(std::move(r));
  }
  return out;
}

std::pair<int64_t, int64_t> ScaleHeapSample(int64_t count, int64_t size, int64_t rate) {
  if (count == 0 || size == 0) return {0, 0};
  if (rate <= 1) return {count, size};
  double avg = static_cast<double>(size) / static_cast<double>(count);
  double scale = 1 / (1 - std::exp(-avg / static_cast<double>(rate)));
  return {static_cast<int64_t>(static_cast<double>(count) * scale), static_cast<int64_t>(static_cast<double>(size) * scale)};
}

}  // namespace goscope
