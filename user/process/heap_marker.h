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
#include <functional>
#include <unordered_set>
#include <vector>

#include "process/heap_spans.h"
#include "process/process_memory.h"

namespace goscope {

// Told of the marking as it happens (goscope retain attributes each object to
// the chain that reached it first). Called on the marking thread, in order.
class MarkObserver {
 public:
  virtual ~MarkObserver() = default;
  // obj is marked for the first time: reached from a root (from == nullptr),
  // or from the word at `offset` of the object `from`.
  virtual void Reached(const HeapObject& obj, const HeapObject* from, uint64_t offset) = 0;
  // The bytes of obj from `offset` (a large object is scanned in pieces), just
  // before they are scanned: the first word of a piece at offset 0 is where the
  // runtime keeps a malloc header.
  virtual void Scanning(const HeapObject& obj, uint64_t offset, const uint8_t* data, size_t len) = 0;
};

class HeapMarker {
 public:
  HeapMarker(const ProcessMemory& mem, const HeapSpans& heap);

  // The object holding addr is marked when reached but never scanned: a
  // runtime record whose references the caller follows itself. (addr may be
  // past the object's start: from 1.22 an object over 512 bytes begins with
  // its type, and the pointer the runtime holds is past that header.)
  void DoNotScan(uint64_t addr);

  // Treats [lo, hi) of the process's memory as a root: scanned now, what it
  // reaches queued. Unreadable parts are skipped and counted.
  void ScanRange(uint64_t lo, uint64_t hi);
  // A root value (a register, say): marks the object it points into, if any.
  void MarkValue(uint64_t value);
  // Scans queued objects until nothing new is reached.
  void Drain();
  // Called before each batch read (a few MiB): a caller's time limit throws from it.
  void OnBatch(std::function<void()> hook) { on_batch_ = std::move(hook); }
  // Not owned; nullptr (the default) for none.
  void Observe(MarkObserver* observer) { observer_ = observer; }

  // Whether addr lies in a marked heap object; false if not in the heap.
  bool IsMarked(uint64_t addr) const;
  bool InHeap(uint64_t addr) const { return heap_.Find(addr).has_value(); }
  // By HeapObject::index.
  bool IsMarkedIndex(uint64_t index) const { return marks_[index / 64] >> (index % 64) & 1; }

  struct Stats {
    uint64_t objects_marked = 0;
    uint64_t bytes_marked = 0;
    uint64_t bytes_scanned = 0;
    uint64_t bytes_unreadable = 0;
    uint64_t reads = 0;  // system calls
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Pending {  // 16 bytes: the queue can hold millions
    uint64_t addr;
    uint32_t len;       // at most a piece (kPiece)
    bool root = false;  // a root range, not (a piece of) a heap object
  };
  void Mark(uint64_t value, const HeapObject* from, uint64_t offset);
  void Reach(const HeapObject& o, const HeapObject* from, uint64_t offset);  // o not yet marked
  void ScanWords(const uint8_t* data, size_t len, const HeapObject* from, uint64_t offset);
  void ReadAndScan(std::vector<Pending>& batch);     // one batch; clears it
  void ReadAndScanAll(std::vector<Pending>& pending);  // in batches, until it is empty

  const ProcessMemory& mem_;
  const HeapSpans& heap_;
  std::vector<uint64_t> marks_;  // a bit per object slot (HeapObject::index)
  std::vector<Pending> queue_;   // reached objects that hold pointers, not yet scanned
  std::unordered_set<uint64_t> opaque_;
  std::function<void()> on_batch_;
  MarkObserver* observer_ = nullptr;
  std::vector<uint8_t> buf_;
  Stats stats_;
};

}  // namespace goscope
