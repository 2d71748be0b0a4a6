// The user-space half of bpf/proc_events.bpf.c: every exec and every process
// exit on the host, as they happen, so the node agent notices new Go programs
// without rescanning /proc; and stop-on-exec for `attach --wait-for PATH`.
//
// Stop-on-exec: when a process execs a file registered with StopOnExec, the
// kernel stops it (SIGSTOP) before its first user-space instruction, not even
// the dynamic loader's. Its exec event has stopped = true; the caller attaches
// its uprobes and then sends SIGCONT. Until then the process stays stopped,
// also if goscope exits (the BPF program goes with goscope; the stop does not).
// A shell or supervisor waiting on the process sees it stopped (WUNTRACED).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "probes/ring_records.h"  // ExecEvent, ExitEvent, DevFromKernel

namespace goscope {


// How the kernel names a file for the exec probe: (kernel dev, inode) of
// inode->i_sb. Usually stat()'s; where stat() reports another device than
// the superblock's (btrfs subvolumes), the pair /proc/self/maps shows for a
// mapping of the file is added. Not covered: overlayfs whose layers sit on
// different file systems without xino, where the overlay inode matches
// neither (maps shows the layer's file). Throws Error if path cannot be opened.
struct KernelFileId {
  uint32_t dev = 0;  // kernel encoding
  uint64_t ino = 0;
  bool operator<(const KernelFileId& o) const { return dev != o.dev ? dev < o.dev : ino < o.ino; }
  bool operator==(const KernelFileId& o) const { return dev == o.dev && ino == o.ino; }
};
std::vector<KernelFileId> KernelFileIds(const std::string& path);

class ProcessEvents {
 public:
  ProcessEvents();
  ~ProcessEvents();
  ProcessEvents(const ProcessEvents&) = delete;
  ProcessEvents& operator=(const ProcessEvents&) = delete;

  // Loads and attaches the BPF programs; events count from here on. Throws
  // Error naming what failed (not root, no BTF, ...).
  void Start();

  // Waits up to timeout_ms for events and hands each to on_exec or on_exit
  // (either may be empty). Returns the number of events; 0 on timeout. An
  // exception from a callback stops the drain and leaves Poll; the events
  // after it stay queued for the next Poll. One thread at a time.
  int Poll(int timeout_ms, const std::function<void(const ExecEvent&)>& on_exec,
           const std::function<void(const ExitEvent&)>& on_exit);

  // Stop every process that execs this file (resolved now: a file replaced
  // later at the same path is a different file). Before or after Start.
  // Executables only: a script's exec runs its interpreter, which is not it.
  // Throws Error if the path cannot be read or the table (64 files) is full.
  void StopOnExec(const std::string& path);
  // Undoes StopOnExec(path); no-op if it was not registered.
  void ForgetStopOnExec(const std::string& path);

  // Events the BPF side could not submit (ring buffer full).
  uint64_t lost() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace goscope
