#include "memprofilerate.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "error.h"
#include "go_process.h"
#include "process_memory.h"

namespace goscope {
namespace {

// The one write: 8 bytes at addr. process_vm_writev, or /proc/PID/mem where
// the system call is unavailable (ENOSYS, seccomp). Returns 0 or an errno.
int WriteWord(pid_t pid, uint64_t addr, int64_t value) {
  iovec local{&value, sizeof(value)};
  iovec remote{reinterpret_cast<void*>(addr), sizeof(value)};
  ssize_t n = ::process_vm_writev(pid, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(sizeof(value))) return 0;
  if (n >= 0) return EFAULT;
  if (errno != ENOSYS && errno != EPERM) return errno;
  int fd = ::open(fmt::format("/proc/{}/mem", pid).c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  n = ::pwrite(fd, &value, sizeof(value), static_cast<off_t>(addr));
  int err = n == static_cast<ssize_t>(sizeof(value)) ? 0 : (n < 0 ? errno : EFAULT);
  ::close(fd);
  return err;
}

bool Alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

}  // namespace

uint64_t MemProfileRateAddress(const TargetProcess& target, const RuntimeLayout& layout) {
  Sourced v = layout.get("runtime.MemProfileRate");
  if (!v.known())
    throw Error("runtime.MemProfileRate not found (no DWARF, no symbol table, and the disassembly recipe did not match)");
  return v.value + target.load_bias;
}

std::optional<int64_t> ReadMemProfileRate(pid_t pid, uint64_t address) {
  ProcessMemory mem(pid);
  auto v = mem.ReadU64(address);
  if (!v) return std::nullopt;
  return static_cast<int64_t>(*v);
}

namespace {

// "dev:ino:starttime" of the program a pid runs: it changes when the process
// execs another program and when the pid is reused. A write into a process is
// made only while this is what it was when the address was worked out; the
// address means nothing in another image.
std::string ProcessImage(pid_t pid) {
  try {
    auto exe = IdentifyExecutable(pid);
    return exe ? fmt::format("{}:{}:{}", exe->dev, exe->ino, exe->start_ticks) : "";
  } catch (const Error&) {
    return "";  // unreadable: treated as gone, nothing is written
  }
}

}  // namespace

MemProfileRateOverride::MemProfileRateOverride(pid_t pid, uint64_t address, int64_t rate, bool allow_write)
    : pid_(pid), address_(address), rate_(rate), image_(ProcessImage(pid)) {
  auto v = ReadMemProfileRate(pid, address);
  if (!v) throw Error(fmt::format("cannot read runtime.MemProfileRate at {:#x} in process {}", address, pid));
  original_ = *v;
  if (original_ != 0 || rate <= 0 || !allow_write) return;
  if (int err = WriteWord(pid, address, rate))
    throw Error(fmt::format("cannot write runtime.MemProfileRate at {:#x} in process {}: {}", address, pid,
                            std::strerror(err)));
  written_ = true;  // from here on the destructor restores, whatever happens next
  auto back = ReadMemProfileRate(pid, address);
  if (!back || *back != rate) {
    Restore();
    throw Error(fmt::format("runtime.MemProfileRate at {:#x} in process {} did not read back as {} after writing it",
                            address, pid, rate));
  }
}

MemProfileRateOverride::~MemProfileRateOverride() { Restore(); }

bool MemProfileRateOverride::Restore(std::string* why) {
  if (!written_) return true;
  if (!restored_) {
    restored_ = true;
    auto fail = [&](std::string reason) {
      restore_ok_ = false;
      restore_why_ = std::move(reason);
    };
    const std::string image = ProcessImage(pid_);
    auto now = ReadMemProfileRate(pid_, address_);
    if (image.empty() || !Alive(pid_)) {
      fail(fmt::format("process {} exited", pid_));
    } else if (image != image_) {
      fail(fmt::format("process {} now runs another program (exec or pid reuse); nothing written", pid_));
    } else if (!now) {
      fail("cannot read runtime.MemProfileRate back");
    } else if (*now != rate_) {
      // The program set its own rate meanwhile: its choice stands.
      fail(fmt::format("the program changed runtime.MemProfileRate to {} meanwhile; left as it is", *now));
    } else if (int err = WriteWord(pid_, address_, original_)) {
      fail(fmt::format("writing runtime.MemProfileRate back: {}", std::strerror(err)));
    } else if (auto back = ReadMemProfileRate(pid_, address_); !back || *back != original_) {
      fail(back ? fmt::format("runtime.MemProfileRate reads {} after restoring {}", *back, original_)
                : std::string("cannot read runtime.MemProfileRate back after restoring it"));
    } else {
      restore_ok_ = true;
    }
  }
  if (!restore_ok_ && why) *why = restore_why_;
  return restore_ok_;
}

}  // namespace goscope
