#include "process/freezer.h"

#include <dirent.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "error.h"
#include "process/proc_files.h"
#include "process/run_control.h"

namespace goscope {

Freezer::Freezer(pid_t pid) : pid_(pid) {
  start_ = Clock::now();
  try {
    StopAll();
  } catch (...) {
    Thaw();  // a constructor that throws gets no destructor call
    throw;
  }
}

double Freezer::Thaw() {
  if (!thawed_) {
    // PTRACE_DETACH needs a stopped tracee: a thread seized but not yet
    // seen stopped (an error cut the freeze short) is waited for first.
    std::vector<pid_t> pending;
    for (const auto& [tid, t] : attached_)
      if (!t.stopped) pending.push_back(tid);
    for (pid_t tid : pending) {
      ::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      WaitStopped(tid);
    }
    for (const auto& [tid, t] : attached_)
      ::ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<uintptr_t>(t.signal)));
    attached_.clear();
    stopped_ = stopped_seconds();
    thawed_ = true;
  }
  return stopped_;
}

double Freezer::stopped_seconds() const {
  if (thawed_) return stopped_;
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

void Freezer::CheckAlive(int grace_ms) const {
  for (int waited = 0; ProcessAlive(pid_); waited += 10) {
    if (waited >= grace_ms) return;
    usleep(10000);
  }
  throw Error(fmt::format("process {} exited while it was being read; nothing was concluded", pid_));
}

void Freezer::CheckStoppedWithin(double max_seconds) const {
  const double s = stopped_seconds();
  if (s > max_seconds)
    throw Error(fmt::format("process {}: gave up after {:.2f} s stopped (the limit is {:g} s); the process runs on, "
                            "nothing was concluded",
                            pid_, s, max_seconds));
}

std::vector<pid_t> Freezer::threads() const {
  std::vector<pid_t> out;
  for (const auto& [tid, t] : attached_)
    if (t.stopped) out.push_back(tid);
  return out;
}

std::optional<user_regs_struct> Freezer::Registers(pid_t tid) const {
  auto it = attached_.find(tid);
  if (it == attached_.end() || !it->second.stopped || thawed_) return std::nullopt;
  user_regs_struct regs{};
  if (::ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) return std::nullopt;
  return regs;
}

void Freezer::StopAll() {
  // Threads can start while we stop the others: list again until a pass
  // over a fully stopped process finds nothing new.
  bool seized_any = false;
  for (int pass = 0; pass < 100; pass++) {
    std::vector<pid_t> fresh;
    for (pid_t tid : Tasks()) {
      if (attached_.count(tid)) continue;
      if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
        if (errno == ESRCH) continue;  // exited meanwhile
        const int err = errno;
        CheckAlive(200);  // a process killed while we stop it refuses the seize too
        errno = err;
        throw Error(fmt::format("process {}: cannot freeze thread {}: ptrace seize: {}{}", pid_, tid,
                                std::strerror(errno), errno == EPERM ? " (already traced, or not root?)" : ""));
      }
      attached_[tid] = {};
      seized_any = true;
      fresh.push_back(tid);
      if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0 && errno != ESRCH)
        throw Error(fmt::format("process {}: cannot freeze thread {}: ptrace interrupt: {}", pid_, tid,
                                std::strerror(errno)));
    }
    if (fresh.empty()) {
      // Every thread we stopped is gone: killed while we stopped it.
      if (attached_.empty() && seized_any) CheckAlive(200);
      if (attached_.empty()) throw Error(fmt::format("process {} not found", pid_));
      return;
    }
    for (pid_t tid : fresh) WaitStopped(tid);
  }
  throw Error(fmt::format("process {}: cannot freeze: threads keep starting", pid_));
}

std::vector<pid_t> Freezer::Tasks() const {
  std::vector<pid_t> out;
  std::string dir = fmt::format("/proc/{}/task", pid_);
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long tid = std::strtol(e->d_name, &end, 10);
    if (tid > 0 && end && *end == '\0') out.push_back(static_cast<pid_t>(tid));
  }
  ::closedir(d);
  return out;
}

// Waits for tid's interrupt stop. A signal that arrives first stops it too;
// that signal is handed back at detach so the program still receives it.
// Polls rather than blocks: when the process is killed meanwhile, its leader
// cannot be waited for until its other threads, traced by us, are reaped.
void Freezer::WaitStopped(pid_t tid) {
  for (int spin = 0;; spin++) {
    auto it = attached_.find(tid);
    if (it == attached_.end() || it->second.stopped) return;
    if (Reap(tid)) continue;
    std::vector<pid_t> others;  // collected first: Reap may erase
    for (const auto& [other, t] : attached_)
      if (other != tid && !t.stopped) others.push_back(other);
    for (pid_t other : others) Reap(other);
    // A thread of a killed process may never report: let a dead one go. A
    // live one is waited for however long it takes (one in uninterruptible
    // sleep stops when its I/O ends): it must be stopped to be let go.
    if (spin >= kQuickSpins && ThreadGone(tid)) {
      attached_.erase(tid);
      return;
    }
    usleep(spin < kQuickSpins ? 20 : 1000);  // stops come within microseconds; a dying process takes longer
  }
}

bool Freezer::ThreadGone(pid_t tid) const {
  try {
    std::optional<std::string> text = ReadProcFile(pid_, fmt::format("task/{}/stat", tid).c_str());
    std::optional<ProcStat> stat = text ? ParseProcStat(*text) : std::nullopt;
    return !text || (stat && stat->exited());
  } catch (const Error&) {
    return false;  // unreadable is not gone: keep waiting (this runs from the destructor too)
  }
}

// One waitpid of tid without blocking: true if it reported (stopped or gone).
bool Freezer::Reap(pid_t tid) {
  int status = 0;
  const pid_t r = ::waitpid(tid, &status, __WALL | WNOHANG);
  if (r == 0) return false;
  if (r < 0) {
    if (errno == EINTR) return false;
    attached_.erase(tid);  // gone
    return true;
  }
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    attached_.erase(tid);
    return true;
  }
  if (!WIFSTOPPED(status)) return false;
  const int event = status >> 16;
  const int sig = WSTOPSIG(status);
  Thread& t = attached_[tid];
  if (event == 0 && sig != SIGTRAP) t.signal = sig;  // signal-delivery stop
  t.stopped = true;
  return true;
}

}  // namespace goscope
