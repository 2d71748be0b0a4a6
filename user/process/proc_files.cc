#include "process/proc_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

// errno values that mean "the process is not there (any more)": the pid does
// not exist, or the /proc/PID directory we hold belongs to a process that died.
bool ProcessGone(int err) { return err == ENOENT || err == ESRCH; }

std::string ProcPath(pid_t pid) { return pid ? fmt::format("/proc/{}", pid) : std::string("/proc/self"); }

std::string Hint(int err) { return err == EACCES && geteuid() != 0 ? " (run as root)" : ""; }

}  // namespace

std::optional<ProcDir> ProcDir::Open(pid_t pid) {
  const std::string path = ProcPath(pid);
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (ProcessGone(errno)) return std::nullopt;
    throw Error(fmt::format("{}: {}{}", path, std::strerror(errno), Hint(errno)));
  }
  return ProcDir(fd, pid);
}

ProcDir::~ProcDir() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ProcDir::PathOf(const char* name) const { return ProcPath(pid_) + "/" + name; }

std::optional<std::string> ProcDir::Read(const char* name) const {
  int fd = ::openat(fd_, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (ProcessGone(errno)) return std::nullopt;
    throw Error(fmt::format("{}: {}{}", PathOf(name), std::strerror(errno), Hint(errno)));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int err = n < 0 ? errno : 0;
    ::close(fd);
    if (!err) return out;
    if (ProcessGone(err)) return std::nullopt;
    throw Error(fmt::format("{}: {}", PathOf(name), std::strerror(err)));
  }
}

std::optional<std::string> ReadProcFile(pid_t pid, const char* name) {
  auto dir = ProcDir::Open(pid);
  if (!dir) return std::nullopt;
  return dir->Read(name);
}

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
  auto number = [&](size_t field) { return std::strtoull(std::string(fields[field - 3]).c_str(), nullptr, 10); };
  ProcStat st;
  st.state = fields[0][0];
  st.flags = static_cast<unsigned>(number(9));
  st.utime_ticks = number(14);
  st.stime_ticks = number(15);
  st.start_ticks = number(22);
  return st;
}

}  // namespace goscope
