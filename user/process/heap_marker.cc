#include "process/heap_marker.h"

#include <algorithm>
#include <cstring>

namespace goscope {
namespace {

constexpr uint64_t kBatchBytes = 4 << 20;  // read at most this much at once
constexpr uint64_t kPiece = 1 << 20;       // a larger object is read in pieces of this size
constexpr size_t kMaxPieces = 1024;        // process_vm_readv's limit per call

}  // namespace

HeapMarker::HeapMarker(const ProcessMemory& mem, const HeapSpans& heap)
    : mem_(mem), heap_(heap), marks_((heap.objects() + 63) / 64) {}

void HeapMarker::MarkValue(uint64_t value) {
  std::optional<HeapObject> o = heap_.Find(value);
  if (!o) return;
  uint64_t& word = marks_[o->index / 64];
  const uint64_t bit = uint64_t{1} << (o->index % 64);
  if (word & bit) return;
  word |= bit;
  stats_.objects_marked++;
  stats_.bytes_marked += o->size;
  if (o->noscan || opaque_.count(o->base)) return;
  for (uint64_t off = 0; off < o->size; off += kPiece) queue_.push_back({o->base + off, std::min(kPiece, o->size - off)});
}

void HeapMarker::DoNotScan(uint64_t addr) {
  if (std::optional<HeapObject> o = heap_.Find(addr)) opaque_.insert(o->base);
}

bool HeapMarker::IsMarked(uint64_t addr) const {
  std::optional<HeapObject> o = heap_.Find(addr);
  return o && (marks_[o->index / 64] >> (o->index % 64) & 1);
}

void HeapMarker::ScanWords(const uint8_t* data, size_t len) {
  for (size_t off = 0; off + 8 <= len; off += 8) {
    uint64_t v;
    std::memcpy(&v, data + off, 8);
    MarkValue(v);
  }
}

void HeapMarker::ReadAndScan(std::vector<Pending>& batch) {
  uint64_t total = 0;
  for (const Pending& p : batch) total += p.len;
  if (buf_.size() < total) buf_.resize(total);
  std::vector<ProcessMemory::Piece> pieces;
  pieces.reserve(batch.size());
  uint64_t at = 0;
  for (const Pending& p : batch) {
    pieces.push_back({p.addr, buf_.data() + at, p.len});
    at += p.len;
  }
  mem_.ReadMany(pieces);
  stats_.reads += (pieces.size() + kMaxPieces - 1) / kMaxPieces;
  batch.clear();
  for (const auto& p : pieces) {  // scanning queues more; the batch's buffer is ours until we return
    if (!p.ok) {
      stats_.bytes_unreadable += p.len;
      continue;
    }
    stats_.bytes_scanned += p.len;
    ScanWords(static_cast<const uint8_t*>(p.out), p.len);
  }
}

void HeapMarker::ScanRange(uint64_t lo, uint64_t hi) {
  lo = (lo + 7) & ~uint64_t{7};
  std::vector<Pending> range;
  for (uint64_t a = lo; a + 8 <= hi; a += kPiece) range.push_back({a, std::min(kPiece, hi - a) & ~uint64_t{7}});
  ReadAndScanAll(range);
}

void HeapMarker::Drain() { ReadAndScanAll(queue_); }

void HeapMarker::ReadAndScanAll(std::vector<Pending>& pending) {
  std::vector<Pending> batch;
  while (!pending.empty()) {  // scanning may add to it (when it is the queue)
    uint64_t bytes = 0;
    while (!pending.empty() && batch.size() < kMaxPieces && bytes < kBatchBytes) {
      bytes += pending.back().len;
      batch.push_back(pending.back());
      pending.pop_back();
    }
    if (on_batch_) on_batch_();
    ReadAndScan(batch);
  }
}

}  // namespace goscope
