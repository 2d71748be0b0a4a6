// When a tracing run ends: at its duration, on SIGINT/SIGTERM, or when the
// target exits. Every command that attaches shares this, so every run ends
// the same way and always writes what it has.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace goscope {

class RunControl {
 public:
  // duration_s <= 0: until a signal or the target's exit. With end_on_signals
  // it installs SIGINT/SIGTERM handlers that end the run; without, signals are
  // someone else's business (`run` forwards them to its child).
  RunControl(pid_t target, double duration_s, bool end_on_signals = true);
  ~RunControl();

  // Sleeps up to ms; returns false once the run should end (why() says why).
  bool Wait(int ms);
  const std::string& why() const { return why_; }
  bool target_exited() const { return target_exited_; }
  double elapsed_seconds() const;

 private:
  pid_t target_;
  double duration_s_;
  bool end_on_signals_;
  uint64_t start_ns_;
  bool target_exited_ = false;
  std::string why_;
};

uint64_t MonotonicNs();
// Whether pid runs: false once it is gone or a zombie (exited, not yet reaped).
bool ProcessAlive(pid_t pid);  // CLOCK_MONOTONIC, the clock of Go's nanotime and bpf_ktime_get_ns

}  // namespace goscope
