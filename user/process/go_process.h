// Which processes on this host are Go programs, and what runs in them: the
// node agent's discovery. Everything here reads /proc and races with processes
// that come and go; a process that is gone (or a kernel thread, which has no
// executable) is an answer, nullopt or false, never an exception.
//
// Containers: a process's executable is reached through /proc/PID/exe, which
// the kernel resolves to the file itself whatever mount namespace the process
// lives in, so a binary inside a container is read, stat()ed and parsed from
// the host without entering the container. Its path (readlink) is the path
// inside the container's mount namespace, useful as a label but not openable
// from the host. Identity is the file's device and inode as the host sees them.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "binary_cache.h"
#include "elf_probe.h"

namespace goscope {

// Every process (thread-group) id in /proc, ascending. Threads are not listed.
std::vector<pid_t> ScanProcesses();

// The executable of one live process.
struct ProcessExecutable {
  pid_t pid = 0;
  std::string proc_exe;  // "/proc/PID/exe": open and stat through this, never through path
  std::string path;      // the link's target, without " (deleted)": the path in the process's mount namespace
  bool deleted = false;  // the file was unlinked or replaced since exec (e.g. a package upgrade)
  uint64_t dev = 0;      // st_dev of the file (user-space encoding)
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;      // st_mtim as ns since the epoch
  std::string comm;          // /proc/PID/comm (15 bytes at most; the thread-group leader's name)
  uint64_t start_ticks = 0;  // /proc/PID/stat starttime: with pid, names this process instance (pids are reused)

  // dev:ino:size:mtime: equal for every process running the same unmodified file.
  std::string file_key() const;
};

// nullopt if the process is gone, is a zombie, or is a kernel thread. Every
// field comes from the same process even if the pid is reused meanwhile (all
// reads go through one open /proc/PID directory). Throws Error only for what
// the caller must hear about: EACCES when not root, or a process even root may
// not inspect (another user namespace, an LSM). A scan catches it per process.
std::optional<ProcessExecutable> IdentifyExecutable(pid_t pid);

// Whether the process asked not to be traced: GOSCOPE_AGENT=off in its
// environment. /proc/PID/environ is the environment the program was exec'd
// with; a later setenv() inside the program is not seen. A process that is
// gone is not opted out (false).
bool OptedOut(pid_t pid);


// Answers "is this executable a Go program" once per file (dev, inode, size,
// mtime), however many processes run it. Non-Go files are rejected from their
// section headers without parsing; Go files are parsed through the shared
// BinaryCache, so the tracers later find them parsed. Thread-safe. The memo
// holds at most kMaxVerdicts files and starts over when full (a build host
// execs a new test binary per `go test`); answers stay right, only cost moves.
class GoExecutableDetector {
 public:
  static constexpr size_t kMaxVerdicts = 8192;

  explicit GoExecutableDetector(BinaryCache& binaries) : binaries_(binaries) {}

  // why (optional) gets a one-line reason when the answer is false.
  bool IsGoExecutable(const ProcessExecutable& exe, std::string* why = nullptr);
  // A file by path (stat()ed for its identity). Throws Error if it cannot be stat()ed.
  bool IsGoExecutable(const std::string& path, std::string* why = nullptr);

  // The parsed binary of a file IsGoExecutable said yes to (from the cache, or
  // parsed again if the cache let it go), else nullptr.
  std::shared_ptr<const GoBinary> Binary(const ProcessExecutable& exe);

  struct Stats {
    uint64_t verdicts_cached = 0;  // answers served from the per-file memo
    uint64_t header_rejects = 0;   // files turned down from their ELF headers alone
    uint64_t full_parses = 0;      // files handed to the Go reader (through BinaryCache)
  };
  Stats stats() const;

 private:
  struct Verdict {
    bool is_go = false;
    bool parsed = false;      // went to the Go reader
    bool conclusive = false;  // about the file itself, not a read that raced its process
    std::string why;  // the binary itself stays in the BinaryCache, which bounds what it keeps
  };
  Verdict Decide(const std::string& path, const std::string& key);
  bool Answer(const std::string& key, const std::string& path, std::string* why);

  BinaryCache& binaries_;
  mutable std::mutex mu_;
  std::map<std::string, Verdict> verdicts_;  // by file_key
  Stats stats_;
};

}  // namespace goscope
