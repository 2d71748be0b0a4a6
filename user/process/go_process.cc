#include "process/go_process.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

constexpr unsigned kPfKthread = 0x00200000;  // include/linux/sched.h

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

// errno values that mean "the process is not there (any more)": the pid does
// not exist, or the /proc/PID directory we hold belongs to a process that died.
bool ProcessGone(int err) { return err == ENOENT || err == ESRCH; }

// Reads a whole /proc file relative to dirfd. nullopt if the process is gone;
// throws Error for anything else.
std::optional<std::string> ReadProcFile(int dirfd, const char* name, pid_t pid) {
  Fd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) {
    if (ProcessGone(errno)) return std::nullopt;
    throw Error(fmt::format("/proc/{}/{}: {}{}", pid, name, std::strerror(errno),
                            errno == EACCES && geteuid() != 0 ? " (run as root)" : ""));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      return out;
    } else if (errno != EINTR) {
      if (ProcessGone(errno)) return std::nullopt;
      throw Error(fmt::format("/proc/{}/{}: {}", pid, name, std::strerror(errno)));
    }
  }
}

// The fields of /proc/PID/stat that discovery needs. comm (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
struct ProcStat {
  char state = '?';
  unsigned flags = 0;
  uint64_t start_ticks = 0;
};

std::optional<ProcStat> ParseProcStat(std::string_view text) {
  size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  size_t i = close + 1;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n') ++j;
    if (j > i) fields.push_back(text.substr(i, j - i));
    if (j < text.size() && text[j] == '\n') break;
    i = j;
  }
  if (fields.size() < 20) return std::nullopt;
  ProcStat st;
  st.state = fields[0][0];
  st.flags = static_cast<unsigned>(std::strtoul(std::string(fields[6]).c_str(), nullptr, 10));  // field 9
  st.start_ticks = std::strtoull(std::string(fields[19]).c_str(), nullptr, 10);                 // field 22
  return st;
}

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
  Fd dir(::open(fmt::format("/proc/{}", pid).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.ok()) {
    if (ProcessGone(errno)) return std::nullopt;
    throw Error(fmt::format("/proc/{}: {}", pid, std::strerror(errno)));
  }
  auto stat_text = ReadProcFile(dir.get(), "stat", pid);
  if (!stat_text) return std::nullopt;
  auto ps = ParseProcStat(*stat_text);
  if (!ps) throw Error(fmt::format("/proc/{}/stat: cannot parse '{}'", pid, *stat_text));
  if (ps->flags & kPfKthread) return std::nullopt;                // kernel threads run no executable
  if (ps->state == 'Z' || ps->state == 'X') return std::nullopt;  // exited, not yet reaped

  ProcessExecutable exe;
  exe.pid = pid;
  exe.proc_exe = fmt::format("/proc/{}/exe", pid);
  exe.start_ticks = ps->start_ticks;

  char target[4096];
  ssize_t n = ::readlinkat(dir.get(), "exe", target, sizeof target - 1);
  if (n < 0) {
    if (ProcessGone(errno)) return std::nullopt;  // also a process between exit_mm and zombie
    throw Error(fmt::format("{}: {}{}", exe.proc_exe, std::strerror(errno),
                            errno == EACCES && geteuid() != 0 ? " (run as root)" : ""));
  }
  exe.path.assign(target, static_cast<size_t>(n));

  struct stat st {};
  if (::fstatat(dir.get(), "exe", &st, 0) != 0) {  // follows the link to the file itself
    if (ProcessGone(errno)) return std::nullopt;
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

  auto comm = ReadProcFile(dir.get(), "comm", pid);
  if (!comm) return std::nullopt;
  if (!comm->empty() && comm->back() == '\n') comm->pop_back();
  exe.comm = std::move(*comm);
  return exe;
}

bool OptedOut(pid_t pid) {
  Fd dir(::open(fmt::format("/proc/{}", pid).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.ok()) {
    if (ProcessGone(errno)) return false;
    throw Error(fmt::format("/proc/{}: {}", pid, std::strerror(errno)));
  }
  auto env = ReadProcFile(dir.get(), "environ", pid);
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

ElfGoHint ProbeElfFd(int fd, const std::string& path) {
  auto read_at = [&](void* buf, size_t len, uint64_t off) {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(off));
    if (n < 0) throw Error(fmt::format("{}: read: {}", path, std::strerror(errno)));
    return static_cast<size_t>(n) == len;
  };

  Elf64_Ehdr eh{};
  if (!read_at(&eh, sizeof eh, 0)) return ElfGoHint::kNotElf;
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return ElfGoHint::kNotElf;
  if (eh.e_shoff == 0 || eh.e_shentsize != sizeof(Elf64_Shdr)) return ElfGoHint::kNoSectionHeaders;

  // Past 0xff00 sections the real count and string-table index live in section 0.
  uint64_t shnum = eh.e_shnum;
  uint64_t shstrndx = eh.e_shstrndx;
  if (shnum == 0 || shstrndx == SHN_XINDEX) {
    Elf64_Shdr first{};
    if (!read_at(&first, sizeof first, eh.e_shoff)) return ElfGoHint::kNoSectionHeaders;
    if (shnum == 0) shnum = first.sh_size;
    if (shstrndx == SHN_XINDEX) shstrndx = first.sh_link;
  }
  if (shnum == 0 || shnum > 1 << 16 || shstrndx >= shnum) return ElfGoHint::kNoSectionHeaders;

  std::vector<Elf64_Shdr> sh(shnum);
  if (!read_at(sh.data(), shnum * sizeof(Elf64_Shdr), eh.e_shoff)) return ElfGoHint::kNoSectionHeaders;
  const Elf64_Shdr& strtab = sh[shstrndx];
  if (strtab.sh_size == 0 || strtab.sh_size > 1 << 20) return ElfGoHint::kNoSectionHeaders;
  std::string names(strtab.sh_size, '\0');
  if (!read_at(names.data(), names.size(), strtab.sh_offset)) return ElfGoHint::kNoSectionHeaders;

  // .gopclntab moves into .data.rel.ro in PIE builds; .go.buildinfo and the
  // Go build-id note survive external linking (cgo) and `-s -w`.
  static constexpr std::string_view kGoSections[] = {".gopclntab", ".data.rel.ro.gopclntab", ".go.buildinfo",
                                                     ".note.go.buildid"};
  for (const auto& s : sh) {
    if (s.sh_name >= names.size()) continue;
    std::string_view name(names.c_str() + s.sh_name);
    if (std::find(std::begin(kGoSections), std::end(kGoSections), name) != std::end(kGoSections))
      return ElfGoHint::kGoSections;
  }
  return ElfGoHint::kNoGoSections;
}

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

ElfGoHint ProbeElfForGo(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) throw Error(fmt::format("{}: {}", path, std::strerror(errno)));
  return ProbeElfFd(fd.get(), path);
}

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
    hint = ProbeElfFd(fd.get(), path);
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
