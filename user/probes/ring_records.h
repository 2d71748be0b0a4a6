// The one place that turns the bytes BPF programs put in a ring buffer into
// goscope's events. A record is checked before it is read: one too short for
// its kind, or of a kind no program writes, yields nothing. Needs no BPF, so
// it is unit-tested and fuzzed on its own (tests/unit/ring_records_test.cc,
// tests/fuzz/fuzz_ring_records.cc).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "model/goroutine.h"
#include "model/heap_samples.h"

namespace goscope {

using RingRecord = std::span<const uint8_t>;

// bpf/goroutines.bpf.c: a creation (with the creator's stack from the go
// statement's pc on, or none if that pc is not among its first frames) or an exit.
std::optional<GoroutineEvent> DecodeGoroutineRecord(RingRecord record);

// bpf/heap.bpf.c: an init mark (the only event it sends).
std::optional<HeapInitEvent> DecodeHeapRecord(RingRecord record);

// bpf/gc.bpf.c: a stop, a start or a finished cycle, as the program wrote it
// (GcTracer pairs stops with starts and cycles with their triggers).
struct GcRecord {
  enum Kind { kStopTheWorld = 1, kStartTheWorld = 2, kCycle = 3 } kind = kCycle;
  pid_t pid = 0;
  uint64_t ts_ns = 0;
  uint64_t goid = 0;         // stops: the goroutine stopping the world, 0 if unknown
  int64_t trigger_kind = -1; // stops: gcTrigger.kind of its last gcStart call, -1 if none
  uint32_t reason = 0;       // stops: stwReason (go1.21+)
  uint32_t cycles = 0;       // cycles: runtime.work's fields
  bool user_forced = false;
  int64_t t_sweep_term = 0, t_mark = 0, t_mark_term = 0, t_end = 0, pause_ns = 0;
  uint64_t heap0 = 0, heap1 = 0, heap2 = 0;
};
std::optional<GcRecord> DecodeGcRecord(RingRecord record);

// bpf/proc_events.bpf.c: an exec or a process exit anywhere on the host.
struct ExecEvent {
  pid_t pid = 0;
  // The file the kernel now runs (mm->exe_file): for a "#!" script that is
  // its interpreter, while filename is the script.
  uint64_t dev = 0;  // st_dev encoding: compare with stat().st_dev
  uint64_t ino = 0;
  std::string filename;  // as given to execve: may be relative, a symlink, or /dev/fd/N; cut at 511 bytes
  bool stopped = false;  // stopped on exec (StopOnExec): the caller must SIGCONT it
};
struct ExitEvent {
  pid_t pid = 0;  // the last thread of this process exited
};
using ProcessRecord = std::variant<ExecEvent, ExitEvent>;
std::optional<ProcessRecord> DecodeProcessRecord(RingRecord record);

// Device numbers: the kernel stores dev_t as MKDEV (major << 20 | minor, 32
// bits); user space (glibc, stat) uses a 64-bit encoding with the bits of
// major and minor interleaved. Equal for major < 4096 and minor < 256 only
// after conversion, so always convert.
uint64_t DevFromKernel(uint32_t kernel_dev);
uint32_t DevToKernel(uint64_t user_dev);

}  // namespace goscope
