#include "process/go_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "error.h"
#include "process/proc_files.h"

namespace goscope {
namespace {


// A file descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

bool AllDigits(const char* s) {
  if (!*s) return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

}  // namespace

std::vector<pid_t> ScanProcesses() {
  DIR* dir = ::opendir("/proc");
  if (!dir) throw Error(fmt::format("/proc: {}", std::strerror(errno)));
  std::vector<pid_t> pids;
  while (dirent* d = ::readdir(dir)) {
    if (AllDigits(d->d_name)) pids.push_back(static_cast<pid_t>(std::strtol(d->d_name, nullptr, 10)));
  }
  ::closedir(dir);
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::string ProcessExecutable::file_key() const { return fmt::format("{}:{}:{}:{}", dev, ino, size, mtime_ns); }

std::optional<ProcessExecutable> IdentifyExecutable(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  // Every read below goes through this directory: once the process dies its
  // reads fail with ESRCH, even if a new process has taken the same pid.
  auto dir = ProcDir::Open(pid);
  if (!dir) return std::nullopt;
  auto stat_text = dir->Read("stat");
  if (!stat_text) return std::nullopt;
  auto ps = ParseProcStat(*stat_text);
  if (!ps) throw Error(fmt::format("{}: cannot parse '{}'", dir->PathOf("stat"), *stat_text));
  if (ps->kernel_thread()) return std::nullopt;  // kernel threads run no executable
  if (ps->exited()) return std::nullopt;         // exited, not yet reaped

  ProcessExecutable exe;
  exe.pid = pid;
  exe.proc_exe = fmt::format("/proc/{}/exe", pid);
  exe.start_ticks = ps->start_ticks;

  char target[4096];
  ssize_t n = ::readlinkat(dir->fd(), "exe", target, sizeof target - 1);
  if (n < 0) {
    if (errno == ENOENT || errno == ESRCH) return std::nullopt;  // also a process between exit_mm and zombie
    throw Error(fmt::format("{}: {}{}", exe.proc_exe, std::strerror(errno),
                            errno == EACCES && geteuid() != 0 ? " (run as root)" : ""));
  }
  exe.path.assign(target, static_cast<size_t>(n));

  struct stat st {};
  if (::fstatat(dir->fd(), "exe", &st, 0) != 0) {  // follows the link to the file itself
    if (errno == ENOENT || errno == ESRCH) return std::nullopt;
    throw Error(fmt::format("{}: {}", exe.proc_exe, std::strerror(errno)));
  }
  exe.dev = st.st_dev;
  exe.ino = st.st_ino;
  exe.size = static_cast<uint64_t>(st.st_size);
  exe.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  // The kernel appends " (deleted)" to the path of an unlinked file; a file
  // whose name really ends that way still has links.
  constexpr std::string_view kDeleted = " (deleted)";
  if (st.st_nlink == 0) {
    exe.deleted = true;
    if (exe.path.ends_with(kDeleted)) exe.path.resize(exe.path.size() - kDeleted.size());
  }

  auto comm = dir->Read("comm");
  if (!comm) return std::nullopt;
  if (!comm->empty() && comm->back() == '\n') comm->pop_back();
  exe.comm = std::move(*comm);
  return exe;
}

bool OptedOut(pid_t pid) {
  auto env = ReadProcFile(pid, "environ");
  if (!env) return false;
  constexpr std::string_view kOff = "GOSCOPE_AGENT=off";
  std::string_view rest = *env;
  while (!rest.empty()) {
    size_t end = rest.find('\0');
    std::string_view var = rest.substr(0, end);
    if (var == kOff) return true;
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return false;
}

namespace {

std::string FileKey(const struct stat& st) {
  ProcessExecutable id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id.file_key();
}

// Whether path (still) names the file with this key.
bool StillNames(const std::string& path, const std::string& key) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && FileKey(st) == key;
}

}  // namespace

// The answer is only remembered when it is known to be about the file named
// by key: path is /proc/PID/exe, and the process may exit (or its pid be
// reused by another program) at any point while we read.
GoExecutableDetector::Verdict GoExecutableDetector::Decide(const std::string& path, const std::string& key) {
  Verdict v;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0) {
    v.why = fmt::format("{}: {}", path, std::strerror(errno));
    return v;
  }
  if (FileKey(st) != key) {
    v.why = fmt::format("{}: the file changed while being read", path);
    return v;
  }
  ElfGoHint hint;
  try {
    hint = ProbeElfForGo(fd.get(), path);
  } catch (const Error& e) {
    v.why = e.what();
    return v;
  }
  v.conclusive = true;
  if (hint == ElfGoHint::kNotElf) {
    v.why = fmt::format("{}: not a 64-bit little-endian ELF file", path);
    return v;
  }
  if (hint == ElfGoHint::kNoGoSections) {
    v.why = fmt::format("{}: an ELF file without Go sections", path);
    return v;
  }
  // Go sections, or no section headers at all: only the reader can tell.
  v.parsed = true;
  try {
    binaries_.Get(path);
    v.is_go = true;
  } catch (const Error& e) {
    v.why = e.what();
  }
  v.conclusive = StillNames(path, key);
  return v;
}

bool GoExecutableDetector::Answer(const std::string& key, const std::string& path, std::string* why) {
  {
    std::lock_guard lock(mu_);
    if (auto it = verdicts_.find(key); it != verdicts_.end()) {
      stats_.verdicts_cached++;
      if (why) *why = it->second.why;
      return it->second.is_go;
    }
  }
  Verdict v = Decide(path, key);  // outside the lock: a parse can take a while
  std::lock_guard lock(mu_);
  if (v.parsed)
    stats_.full_parses++;
  else if (v.conclusive)
    stats_.header_rejects++;
  if (why) *why = v.why;
  bool is_go = v.is_go;
  if (v.conclusive) {
    if (verdicts_.size() >= kMaxVerdicts) verdicts_.clear();
    verdicts_.emplace(key, std::move(v));
  }
  return is_go;
}

bool GoExecutableDetector::IsGoExecutable(const ProcessExecutable& exe, std::string* why) {
  return Answer(exe.file_key(), exe.proc_exe, why);
}

bool GoExecutableDetector::IsGoExecutable(const std::string& path, std::string* why) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(fmt::format("{}: {}", path, std::strerror(errno)));
  return Answer(FileKey(st), path, why);
}

std::shared_ptr<const GoBinary> GoExecutableDetector::Binary(const ProcessExecutable& exe) {
  {
    std::lock_guard lock(mu_);
    auto it = verdicts_.find(exe.file_key());
    if (it == verdicts_.end() || !it->second.is_go) return nullptr;
  }
  try {
    return binaries_.Get(exe.proc_exe);
  } catch (const Error&) {
    return nullptr;  // the process is gone, and the file with it
  }
}

GoExecutableDetector::Stats GoExecutableDetector::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace goscope
