// One set of probes for every process that runs one executable file: the
// node agent's unit of attachment. Uprobes live on the file's inode, so a
// binary run by 100 processes costs one set of probes and one parse; the
// events carry their pid and the agent sorts them per process. GC cycles
// always; goroutine creation only while the agent asks (a probe hit per
// goroutine is the one cost a busy server notices). The heap needs no probe:
// each process's own sampler records are read from its memory.
#pragma once
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "probe_sites.h"
#include "probes/gc_tracer.h"
#include "probes/goroutine_tracer.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

class BinaryWatch {
 public:
  // Attaches to the file one process runs, through a descriptor opened on
  // /proc/PID/exe: it reaches binaries inside containers and deleted ones, and
  // stays valid when that process exits (short-lived processes are the rule
  // on a build host). The uprobes live on the inode. Throws Error if the
  // binary cannot be traced or the probes cannot be attached.
  BinaryWatch(pid_t first_pid, std::shared_ptr<const GoBinary> binary);
  ~BinaryWatch();

  const GoBinary& binary() const { return *target_.binary; }
  const RuntimeLayout& layout() const { return layout_; }
  size_t probes() const;
  // Creation probes on or off (the loaded program stays: switching is cheap).
  // Throws Error if they cannot be attached.
  void SetCreationProbes(bool on);
  bool creation_probes() const { return goroutines_->attached(); }
  // GC cycles are reported for added processes only (runtime.work moves with a PIE's bias).
  void AddProcess(pid_t pid, uint64_t load_bias);
  void RemoveProcess(pid_t pid);

  struct Sinks {
    std::function<void(const GoroutineEvent&)> goroutine;
    std::function<void(const GcCycle&)> gc;
  };
  // Drains every ring buffer; returns the number of events.
  int Drain(const Sinks& sinks);
  uint64_t lost() const;
  // GC could not be set up (the goroutine part could): why.
  const std::vector<std::string>& degraded() const { return degraded_; }

 private:
  int fd_ = -1;           // O_PATH descriptor of the file; target_.exe_path is /proc/self/fd/N
  TargetProcess target_;  // pid -1: every process of the file
  RuntimeLayout layout_;
  std::vector<ProbeSite> sites_;
  std::unique_ptr<GoroutineTracer> goroutines_;
  std::unique_ptr<GcTracer> gc_;
  std::vector<std::string> degraded_;
};

}  // namespace goscope
