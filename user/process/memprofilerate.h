// runtime.MemProfileRate of a live Go process: the ONLY code in goscope that
// writes to a target's memory.
//
// Why: Go's heap sampler (whose records the sampled heap mode reads, see
// process/heap_buckets) runs only while MemProfileRate > 0. A binary that never references
// runtime.MemProfile (no runtime/pprof, no net/http/pprof import) has the
// linker set runtime.disableMemoryProfiling, and start-up sets MemProfileRate
// to 0. Writing a rate back switches the sampler on.
//
// Why writing is safe:
//  - MemProfileRate is a plain int the runtime only reads, racily and without
//    locks, on the allocation path: mallocgc decides per allocation whether to
//    sample (1.19-1.23: `if rate := MemProfileRate; rate > 0 { if size <
//    c.nextSample ... else profilealloc }`; 1.24+: `c.nextSample < 0 ||
//    MemProfileRate != c.memProfRate`), and profilealloc/nextSample read it to
//    draw the next sampling distance (mcache.nextSample). A program may set it
//    at any time (runtime/pprof documents setting it "as early as possible",
//    not "only at start-up"); nothing caches it except per-mcache sampling
//    state, which is recomputed at each sample.
//  - It is an aligned 8-byte word in writable data (.noptrdata); a write is one
//    process_vm_writev of 8 bytes. A reader racing the write sees the old or the
//    new value (or, in theory, a byte mix of the two that the next sample
//    redraws); the worst outcome is one oddly spaced sample.
//  - Sampling state computed while the rate was 0: with the rate 0 the sampler
//    never decrements mcache.nextSample (1.19-1.23: nextSample() returned 0, so
//    the first allocation on each P after the write is sampled and a fresh
//    distance drawn); 1.24+ keeps nextSample at MaxInt64 but notices the rate
//    change (MemProfileRate != c.memProfRate) on the next allocation. Either
//    way each P's first sample after the write is its next allocation, whatever
//    its size, and sampling is Poisson from then on. Where the rate was already
//    nonzero goscope never writes; an already-drawn nextSample would otherwise
//    delay the new rate until that P's next sample point.
//  - Cost to the target while on: one stack walk and bucket per sample (mean
//    one per MemProfileRate bytes), a profile special on each sampled object,
//    and bucket records (one per distinct allocation stack and size) that the
//    runtime keeps for the life of the process, also after the rate is restored.
//  - Restoring: the original value (0) is written back only if the word still
//    holds what goscope wrote (a program that set its own rate meanwhile keeps
//    it), and read back to verify. After the restore, 1.24+ take one more
//    sample per P (noticing the change); profile specials already attached are
//    freed normally at sweep.
//  - Several goscopes, and goscopes that die: every goscope that samples
//    through a rate goscope wrote holds a shared lock on a record in /run/lock
//    (the written value and the original, per process instance). A second
//    goscope samples at the rate already written instead of taking it for the
//    program's own; the last to leave restores. One killed before it could
//    restore leaves the record unheld, and the next goscope on that process
//    takes the restore over. Records are trusted only when owned by goscope's
//    own user and private to it. Without /run/lock (or from another mount
//    namespace, or as another user) goscope writes only a 0, as before, and no
//    later goscope can tell its rate from the program's.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

// Runtime address of runtime.MemProfileRate (link-time address + load bias);
// throws Error when the layout does not know it.
uint64_t MemProfileRateAddress(const TargetProcess& target, const RuntimeLayout& layout);

// The current value; nullopt when the memory cannot be read.
std::optional<int64_t> ReadMemProfileRate(pid_t pid, uint64_t address);

// Removes the rate records (/run/lock/goscope-memprofilerate-PID-STARTTICKS)
// of processes that no longer run: left when a goscope was killed and its
// target then exited, with nobody left to restore. Only this user's records,
// and only those nobody holds. The first override a goscope makes calls it.
void SweepStaleRateRecords();

class MemProfileRateOverride {
 public:
  // Reads MemProfileRate at address (a runtime address); throws Error when it
  // cannot be read. If it is 0, rate > 0 and allow_write, writes rate and
  // reads it back (throws Error when the write fails or does not read back).
  MemProfileRateOverride(pid_t pid, uint64_t address, int64_t rate, bool allow_write);
  // Restores the original value if this object wrote it and Restore() was not
  // called; errors are ignored (the target may be gone).
  ~MemProfileRateOverride();
  MemProfileRateOverride(const MemProfileRateOverride&) = delete;
  MemProfileRateOverride& operator=(const MemProfileRateOverride&) = delete;

  int64_t original() const { return original_; }
  // The rate the sampler runs at: the written one, else the original.
  int64_t effective() const { return written_ ? rate_ : original_; }
  // Whether the rate in the target is goscope's (written by this object, or
  // shared with or inherited from another goscope) and not restored yet.
  bool written() const { return written_ && !restored_; }
  // Another live goscope wrote the rate this one samples at.
  bool shared() const { return shared_; }
  // A goscope killed before restoring left the rate; this one restores it.
  bool inherited() const { return inherited_; }
  // After a successful Restore: "restored to 0", or left for another goscope.
  const std::string& outcome() const { return outcome_; }

  // Writes the original value back if this object wrote, then reads it back.
  // True when the target now holds the original value, nothing was written,
  // or another goscope still samples at the rate (the last one restores);
  // false (with *why) when the target exited, the program changed the rate
  // itself (left alone), or the write or read-back failed. Idempotent.
  bool Restore(std::string* why = nullptr);
  // After a failed Restore: the program may still run at goscope's rate (the
  // write or its read-back failed) - a failure to report, unlike a program
  // that exited, exec'd, or set its own rate.
  bool restore_left_our_rate() const { return !restore_ok_ && still_ours_; }

 private:
  void Write();  // rate_ into the target, read back
  bool Adopt(const struct RateRecord& rec);  // the rate another goscope wrote, if rec describes it

  std::unique_ptr<class RateLedger> ledger_;
  pid_t pid_;
  uint64_t address_;
  int64_t rate_;
  int64_t original_ = 0;
  // The program the pid runs (executable dev:ino, process start time): it
  // changes when the process execs another program and when the pid is reused.
  struct Image {
    uint64_t dev = 0, ino = 0, start_ticks = 0;
    bool operator==(const Image&) const = default;
  };
  static std::optional<Image> ImageOf(pid_t pid);
  std::optional<Image> image_;  // when the rate was read; nullopt: unreadable
  bool written_ = false;
  bool shared_ = false;
  bool inherited_ = false;
  std::string outcome_;
  bool restored_ = false;
  bool restore_ok_ = false;
  bool still_ours_ = false;
  std::string restore_why_;
};

}  // namespace goscope
