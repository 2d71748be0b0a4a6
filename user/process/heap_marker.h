// Which heap objects of a stopped process are reachable from a set of roots,
// found conservatively: every aligned word of a root range or of a reached
// object that points into a heap object marks that object, and objects whose
// span says they hold pointers are scanned in turn. Conservative errs one way
// only: a stale word can keep an unreachable object marked, nothing reachable
// is ever left unmarked. Reads the process in batches (process_vm_readv), holds
// one mark bit per object slot and the queue of objects still to scan; never
// copies the heap. Knows nothing of goroutines or of why a range is a root.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "process/heap_spans.h"
#include "process/process_memory.h"

namespace goscope {

class HeapMarker {
 public:
  HeapMarker(const ProcessMemory& mem, const HeapSpans& heap);

  // Remember, for each object, the address of the word that first reached it
  // (a root range's word, or a word of another object): what keeps it alive.
  void RecordPaths() { record_paths_ = true; }
  // The address of the word that first reached the object containing addr.
  std::optional<uint64_t> ReachedFrom(uint64_t addr) const;

  // Objects (by base address) that are marked when reached but never scanned:
  // runtime records whose references the caller follows itself.
  void DoNotScan(uint64_t base) { opaque_.insert(base); }
  // Words in [lo, hi) are never scanned: fields of runtime records that hold
  // stale pointers (GC work buffers, say).
  void Exclude(uint64_t lo, uint64_t hi) { excluded_[lo] = hi; }

  // Treats [lo, hi) of the process's memory as a root: scanned now, what it
  // reaches queued. Unreadable parts are skipped and counted.
  void ScanRange(uint64_t lo, uint64_t hi);
  // A root value (a register, say): marks the object it points into, if any.
  void MarkValue(uint64_t value);
  // Scans queued objects until nothing new is reached.
  void Drain();

  // Whether addr lies in a marked heap object; false if not in the heap.
  bool IsMarked(uint64_t addr) const;
  bool InHeap(uint64_t addr) const { return heap_.Find(addr).has_value(); }

  struct Stats {
    uint64_t objects_marked = 0;
    uint64_t bytes_marked = 0;
    uint64_t bytes_scanned = 0;
    uint64_t bytes_unreadable = 0;
    uint64_t reads = 0;  // system calls
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Pending {
    uint64_t addr, len;
  };
  void Blank(uint64_t addr, uint8_t* data, size_t len) const;  // zeroes excluded words
  void ScanWords(uint64_t addr, const uint8_t* data, size_t len);
  void ReadAndScan(std::vector<Pending>& batch);     // one batch; clears it
  void ReadAndScanAll(std::vector<Pending>& pending);  // in batches, until it is empty

  const ProcessMemory& mem_;
  const HeapSpans& heap_;
  std::vector<uint64_t> marks_;  // a bit per object slot (HeapObject::index)
  std::vector<Pending> queue_;   // reached objects that hold pointers, not yet scanned
  std::unordered_set<uint64_t> opaque_;
  std::map<uint64_t, uint64_t> excluded_;  // lo -> hi
  bool record_paths_ = false;
  uint64_t from_ = 0;  // address of the word being scanned
  std::unordered_map<uint64_t, uint64_t> reached_from_;  // object index -> word address
  std::vector<uint8_t> buf_;
  Stats stats_;
};

}  // namespace goscope
