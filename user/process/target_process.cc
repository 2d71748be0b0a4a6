#include "process/target_process.h"

#include <fcntl.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "binary_cache.h"
#include "error.h"
#include "process/proc_files.h"
#include "process/proc_maps.h"

namespace goscope {
namespace {

std::string Comm(pid_t pid) {
  try {
    std::string s = ReadProcFile(pid, "comm").value_or("");
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  } catch (const Error&) {
    return "";  // only for a message
  }
}

}  // namespace

TargetProcess TargetProcess::Find(pid_t pid, BinaryCache* cache) {
  if (pid <= 0) throw Error(fmt::format("invalid pid {}", pid));
  std::string proc = fmt::format("/proc/{}", pid);
  struct stat st {};
  if (stat(proc.c_str(), &st) != 0) throw Error(fmt::format("process {} not found", pid));
  TargetProcess t;
  t.pid = pid;
  t.exe_path = proc + "/exe";
  // With the effective credentials and capabilities (access(2) would use the
  // real uid and ignore CAP_SYS_PTRACE of a non-root goscope).
  if (faccessat(AT_FDCWD, t.exe_path.c_str(), R_OK, AT_EACCESS) != 0)
    throw Error(fmt::format("process {} ({}): cannot read {}: {}{}", pid, Comm(pid), t.exe_path, std::strerror(errno),
                            geteuid() != 0 ? " (needs root or CAP_SYS_PTRACE)" : ""));
  try {
    t.binary = cache ? cache->Get(t.exe_path) : GoBinary::Open(t.exe_path);
  } catch (const Error& e) {
    throw Error(fmt::format("process {} ({}): {}", pid, Comm(pid), e.what()));
  }
  if (stat(t.exe_path.c_str(), &st) != 0)
    throw Error(fmt::format("process {}: {}: {}", pid, t.exe_path, std::strerror(errno)));
  t.exe_dev = st.st_dev;
  t.exe_inode = st.st_ino;
  auto bias = LoadBias(ReadMaps(pid), t.binary->elf(), t.exe_inode);
  if (!bias) throw Error(fmt::format("process {}: its executable is not mapped (exited?)", pid));
  t.load_bias = *bias;
  return t;
}

bool TargetProcess::RunsAnotherFile() const {
  struct stat st {};
  return stat(exe_path.c_str(), &st) == 0 && (st.st_dev != exe_dev || st.st_ino != exe_inode);
}

void TargetProcess::CheckSameProgram() const {
  std::optional<uint64_t> bias;
  try {
    if (!RunsAnotherFile()) bias = LoadBias(ReadMaps(pid), binary->elf(), exe_inode);
  } catch (const Error&) {
    // gone: said below
  }
  if (bias != load_bias)
    throw Error(fmt::format("process {} ({}) runs another program than when goscope found it (it exec'd, or exited); "
                            "nothing was concluded",
                            pid, Comm(pid)));
}

std::vector<BinaryMapping> TargetProcess::ExecutableMappings() const {
  char exe[4096];
  ssize_t n = ::readlink(exe_path.c_str(), exe, sizeof exe - 1);
  return symbolizer().Mappings(n > 0 ? std::string(exe, static_cast<size_t>(n)) : exe_path);
}

}  // namespace goscope
