// A program goscope starts itself, so that none of its instructions runs
// before the probes are in place: fork, PTRACE_TRACEME, exec. The kernel stops
// the child at the exec with the new image mapped (nothing of it has run);
// goscope attaches, then Resume() detaches ptrace and the program starts.
// Its stdin, stdout and stderr are goscope's; it stays in goscope's process
// group, so the terminal's signals (Ctrl-C, Ctrl-\) reach it directly.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "error.h"

namespace goscope {

// A program that cannot be started, with the status a shell gives for it:
// 127 when it is not found, 126 when it is not an executable file.
class NotRunnable : public Error {
 public:
  NotRunnable(const std::string& what, int shell_status) : Error(what), shell_status_(shell_status) {}
  int shell_status() const { return shell_status_; }

 private:
  int shell_status_;
};

class ChildProcess {
 public:
  // Finds argv[0] as execvp would (PATH unless it has a slash). Throws
  // NotRunnable("PROG: command not found", 127) and the like.
  static std::string Resolve(const std::string& program);

  // Starts path with argv, stopped at its first instruction. Throws Error if it cannot be started.
  ChildProcess(const std::string& path, const std::vector<std::string>& argv);
  // A child still running is left to run (detached); goscope only waits for it in Wait().
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Lets the program run (detaches ptrace). Idempotent.
  void Resume();
  // From now until ~ChildProcess, signals sent to goscope with kill(2)
  // (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2) are passed on to the
  // child instead of acting on goscope; the terminal's go to both already and
  // are not sent twice.
  void ForwardSignals();
  // Before Resume: kills and reaps the child, none of whose instructions ran. No-op after.
  void KillIfNeverRan();
  // Blocks until the child ends; returns its wait status.
  int Wait();

 private:
  pid_t pid_ = -1;
  bool resumed_ = false;
  bool reaped_ = false;
  int status_ = 0;
};

// Ends goscope the way the child ended: exit with its code, or die of its
// signal (no core dump of goscope). Does not return for a signal.
int ExitLikeChild(int wait_status);
// "exited with status 3", "killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int wait_status);

}  // namespace goscope
