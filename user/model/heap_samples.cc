#include "model/heap_samples.h"

#include <cmath>

namespace goscope {

void HeapSampleSet::Add(const HeapEvent& e) {
  if (e.kind == HeapEvent::kFree) {
    auto it = live_.find(e.addr);
    if (it == live_.end()) {
      ++frees_unmatched_;
      return;
    }
    HeapRecord& r = records_[it->second];
    r.inuse_objects -= 1;
    r.inuse_bytes -= static_cast<int64_t>(r.size);
    live_.erase(it);
    ++frees_matched_;
    return;
  }
  ++allocs_;
  auto key = std::make_pair(e.stack, e.size);
  auto [it, inserted] = index_.emplace(key, records_.size());
  if (inserted) {
    HeapRecord r;
    r.stack = e.stack;
    r.size = e.size;
    records_.push_back(std::move(r));
  }
  HeapRecord& r = records_[it->second];
  r.alloc_objects += 1;
  r.alloc_bytes += static_cast<int64_t>(e.size);
  r.inuse_objects += 1;
  r.inuse_bytes += static_cast<int64_t>(e.size);
  // An address is live once: a second alloc at a live address means its free
  // was lost (ring buffer full); the older object is dropped from in-use.
  auto [lit, fresh] = live_.emplace(e.addr, it->second);
  if (!fresh) {
    HeapRecord& old = records_[lit->second];
    old.inuse_objects -= 1;
    old.inuse_bytes -= static_cast<int64_t>(old.size);
    lit->second = it->second;
  }
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
