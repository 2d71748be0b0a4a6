// Reading /proc: the one place that opens a process's files there and knows
// the format of stat. Every reader says "the process is gone" the same way
// (nullopt) and anything else with an Error naming the file.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace goscope {

// A process's /proc directory, held open: once the process dies, every read
// through it fails (ESRCH), even if a new process has taken the pid.
class ProcDir {
 public:
  // pid 0: the calling process. Nullopt when the process is gone.
  static std::optional<ProcDir> Open(pid_t pid);
  ~ProcDir();
  ProcDir(ProcDir&& o) noexcept : fd_(o.fd_), pid_(o.pid_) { o.fd_ = -1; }
  ProcDir(const ProcDir&) = delete;
  ProcDir& operator=(const ProcDir&) = delete;
  ProcDir& operator=(ProcDir&&) = delete;

  int fd() const { return fd_; }
  // The whole file NAME; nullopt when the process is gone.
  std::optional<std::string> Read(const char* name) const;
  // Where a file is, for messages: "/proc/123/stat".
  std::string PathOf(const char* name) const;

 private:
  ProcDir(int fd, pid_t pid) : fd_(fd), pid_(pid) {}
  int fd_;
  pid_t pid_;
};

// The whole /proc/PID/NAME (pid 0: the calling process); nullopt when the process is gone.
std::optional<std::string> ReadProcFile(pid_t pid, const char* name);

// The fields of /proc/PID/stat goscope uses. comm (field 2) may hold spaces
// and parentheses, so fields are counted after its last ')'.
struct ProcStat {
  char state = '?';
  unsigned flags = 0;        // field 9: PF_* (PF_KTHREAD: a kernel thread)
  uint64_t utime_ticks = 0;  // field 14
  uint64_t stime_ticks = 0;  // field 15
  uint64_t start_ticks = 0;  // field 22: start time since boot, in clock ticks
  bool exited() const { return state == 'Z' || state == 'X'; }  // a zombie, or being reaped
  bool kernel_thread() const { return flags & 0x00200000; }     // PF_KTHREAD (include/linux/sched.h)
};
std::optional<ProcStat> ParseProcStat(std::string_view text);

}  // namespace goscope
