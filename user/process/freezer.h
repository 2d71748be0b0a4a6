// Stops every thread of a live process for a consistent view of its memory,
// and lets it go again on every path out.
//
// PTRACE_SEIZE + PTRACE_INTERRUPT each thread (listing /proc/PID/task again
// until a pass finds no new thread), PTRACE_DETACH each at Thaw or in the
// destructor. A signal that arrives while a thread stops is handed back at
// detach. If goscope itself dies, the kernel detaches its tracees and they run
// on: a crash cannot leave the target stopped. Nothing is written to the
// target.
#pragma once
#include <sys/types.h>
#include <sys/user.h>

#include <chrono>
#include <map>
#include <optional>
#include <vector>

#include "error.h"

namespace goscope {

class Freezer {
 public:
  // Throws Error: "process N not found", or why a thread could not be stopped
  // (everything stopped so far is let go first).
  explicit Freezer(pid_t pid);
  ~Freezer() { Thaw(); }
  Freezer(const Freezer&) = delete;
  Freezer& operator=(const Freezer&) = delete;

  // Lets every thread go; returns how long the process was stopped. Idempotent.
  double Thaw();

  // The stopped threads.
  std::vector<pid_t> threads() const;
  // A stopped thread's registers; nullopt if it is gone or not stopped.
  std::optional<user_regs_struct> Registers(pid_t tid) const;
  // Seconds since the first thread was stopped.
  double stopped_seconds() const;
  // Throws Error once the process has been stopped longer than max_seconds
  // (a reader's --max-pause: the caller's unwinding lets the process go).
  void CheckStoppedWithin(double max_seconds) const;
  // Throws Error if the process died while stopped (a SIGKILL still kills a
  // stopped process): what was read of it is then partial and means nothing.
  // After a failed read, grace_ms gives a dying process time to show it.
  void CheckAlive(int grace_ms = 0) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Thread {
    bool stopped = false;
    int signal = 0;  // to re-inject at detach
  };

  void StopAll();
  std::vector<pid_t> Tasks() const;
  void WaitStopped(pid_t tid);
  bool Reap(pid_t tid);
  bool ThreadGone(pid_t tid) const;  // exited (a zombie, or not there)
  static constexpr int kQuickSpins = 500;  // 20 us apart: about 10 ms

  pid_t pid_;
  std::map<pid_t, Thread> attached_;
  Clock::time_point start_;
  double stopped_ = 0;
  bool thawed_ = false;
};

// Calls read(freezer) with every thread of pid stopped; an Error it throws
// becomes "exited while it was being read" when that is what happened (the
// reads fail then, with messages that would mislead).
template <class Read>
auto WhileStopped(pid_t pid, Read read) {
  Freezer freezer(pid);
  try {
    return read(freezer);
  } catch (const Error&) {
    freezer.CheckAlive(200);
    throw;
  }
}

}  // namespace goscope
