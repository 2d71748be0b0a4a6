#include "process/heap_marker.h"

#include <algorithm>
#include <cstring>

namespace goscope {
namespace {

constexpr uint64_t kBatchBytes = 4 << 20;  // read at most this much at once
constexpr uint64_t kPiece = 1 << 20;       // a larger object is read in pieces of this size
constexpr size_t kMaxPieces = 1024;        // process_vm_readv's limit per call
constexpr size_t kBatchObjects = 16384;    // objects per batch (their reads are merged)
constexpr uint64_t kMergeGap = 512;        // objects at most this far apart are read together

}  // namespace

HeapMarker::HeapMarker(const ProcessMemory& mem, const HeapSpans& heap)
    : mem_(mem), heap_(heap), marks_((heap.objects() + 63) / 64) {}

void HeapMarker::MarkValue(uint64_t value) { Mark(value, nullptr, 0); }

void HeapMarker::Mark(uint64_t value, const HeapObject* from, uint64_t offset) {
  std::optional<HeapObject> o = heap_.Find(value);
  if (o && !IsMarkedIndex(o->index)) Reach(*o, from, offset);
}

void HeapMarker::Reach(const HeapObject& o, const HeapObject* from, uint64_t offset) {
  marks_[o.index / 64] |= uint64_t{1} << (o.index % 64);
  stats_.objects_marked++;
  stats_.bytes_marked += o.size;
  if (observer_) observer_->Reached(o, from, offset);
  if (o.noscan || opaque_.count(o.base)) return;
  for (uint64_t off = 0; off < o.size; off += kPiece)
    queue_.push_back({o.base + off, static_cast<uint32_t>(std::min(kPiece, o.size - off))});
}

void HeapMarker::DoNotScan(uint64_t addr) {
  if (std::optional<HeapObject> o = heap_.Find(addr)) opaque_.insert(o->base);
}

bool HeapMarker::IsMarked(uint64_t addr) const {
  std::optional<HeapObject> o = heap_.Find(addr);
  return o && IsMarkedIndex(o->index);
}

void HeapMarker::ScanWords(const uint8_t* data, size_t len, const HeapObject* from, uint64_t offset) {
  for (size_t off = 0; off + 8 <= len; off += 8) {
    uint64_t v;
    std::memcpy(&v, data + off, 8);
    std::optional<HeapObject> o = heap_.Find(v);  // inline: this loop is most of a walk
    if (o && !IsMarkedIndex(o->index)) Reach(*o, from, offset + off);
  }
}

void HeapMarker::ReadAndScan(std::vector<Pending>& batch) {
  // Objects close together are read as one range (most of the kernel's time
  // goes to pinning pages, once per range), and each is scanned alone: the
  // bytes between them belong to objects nothing reached.
  std::sort(batch.begin(), batch.end(), [](const Pending& a, const Pending& b) { return a.addr < b.addr; });
  std::vector<Pending> ranges;
  std::vector<size_t> range_of(batch.size());
  for (size_t i = 0; i < batch.size(); i++) {
    const Pending& p = batch[i];
    if (!ranges.empty() && p.addr >= ranges.back().addr + ranges.back().len &&
        p.addr - (ranges.back().addr + ranges.back().len) <= kMergeGap && p.addr + p.len - ranges.back().addr <= kPiece)
      ranges.back().len = static_cast<uint32_t>(p.addr + p.len - ranges.back().addr);  // <= kPiece
    else
      ranges.push_back(p);
    range_of[i] = ranges.size() - 1;
  }
  uint64_t total = 0;
  for (const Pending& r : ranges) total += r.len;
  if (buf_.size() < total) buf_.resize(total);
  std::vector<ProcessMemory::Piece> reads;
  reads.reserve(ranges.size());
  uint64_t at = 0;
  for (const Pending& r : ranges) {
    reads.push_back({r.addr, buf_.data() + at, r.len});
    at += r.len;
  }
  mem_.ReadMany(reads);
  stats_.reads += (reads.size() + kMaxPieces - 1) / kMaxPieces;
  std::vector<Pending> objects;
  objects.swap(batch);  // scanning queues more; this batch is ours until we return
  std::vector<uint8_t> alone;
  for (size_t i = 0; i < objects.size(); i++) {
    const Pending& p = objects[i];
    const ProcessMemory::Piece& r = reads[range_of[i]];
    const uint8_t* data = static_cast<const uint8_t*>(r.out) + (p.addr - r.addr);
    if (!r.ok) {  // a gap may be unreadable where the object is not: read it alone
      alone.resize(p.len);
      if (!mem_.Read(p.addr, alone.data(), p.len)) {
        stats_.bytes_unreadable += p.len;
        continue;
      }
      data = alone.data();
    }
    stats_.bytes_scanned += p.len;
    std::optional<HeapObject> from;
    if (observer_ && !p.root && (from = heap_.Find(p.addr))) {
      observer_->Scanning(*from, p.addr - from->base, data, p.len);
      ScanWords(data, p.len, &*from, p.addr - from->base);
    } else {
      ScanWords(data, p.len, nullptr, 0);
    }
  }
}

void HeapMarker::ScanRange(uint64_t lo, uint64_t hi) {
  lo = (lo + 7) & ~uint64_t{7};
  std::vector<Pending> range;
  for (uint64_t a = lo; a + 8 <= hi; a += kPiece) range.push_back({a, static_cast<uint32_t>(std::min(kPiece, hi - a) & ~uint64_t{7}), true});
  ReadAndScanAll(range);
}

void HeapMarker::Drain() { ReadAndScanAll(queue_); }

void HeapMarker::ReadAndScanAll(std::vector<Pending>& pending) {
  std::vector<Pending> batch;
  while (!pending.empty()) {  // scanning may add to it (when it is the queue)
    uint64_t bytes = 0;
    while (!pending.empty() && batch.size() < kBatchObjects && bytes < kBatchBytes) {
      bytes += pending.back().len;
      batch.push_back(pending.back());
      pending.pop_back();
    }
    if (on_batch_) on_batch_();
    ReadAndScan(batch);
  }
}

}  // namespace goscope
