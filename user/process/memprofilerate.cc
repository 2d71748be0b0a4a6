#include "process/memprofilerate.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string_view>

#include <fmt/format.h>

#include "error.h"
#include "process/go_process.h"
#include "process/proc_files.h"
#include "process/process_memory.h"

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

// What a record holds: the rate goscope wrote, and the program's own before.
struct RateRecord {
  int64_t written = 0, original = 0;
};

// Who relies on a rate goscope wrote into a process. Each goscope (attach,
// heap, run, agent) that samples through it holds a shared flock on
// /run/lock/goscope-memprofilerate-PID-STARTTICKS for as long as it does; the
// file records the value written and the program's original. Whoever finds
// the lock free is alone: it may write, or take over a record left by a
// goscope that was killed before it could restore; the last holder to leave
// restores the original and removes the file. The record is the only way a
// later goscope can tell a rate goscope left behind from the program's own.
class RateLedger {
 public:
  explicit RateLedger(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    // /run/lock is writable by everyone: a record someone else made could
    // make us "restore" a rate into the program. Only our own counts.
    struct stat st {};
    if (fd_ >= 0 && (::fstat(fd_, &st) != 0 || st.st_uid != ::geteuid() || (st.st_mode & 077) || !S_ISREG(st.st_mode))) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RateLedger() {
    if (fd_ >= 0) ::close(fd_);
  }
  RateLedger(const RateLedger&) = delete;
  RateLedger& operator=(const RateLedger&) = delete;

  bool ok() const { return fd_ >= 0; }
  // True when no other goscope holds the ledger (this one then holds it alone).
  bool TryAlone() { return ::flock(fd_, LOCK_EX | LOCK_NB) == 0; }
  void Share() { (void)::flock(fd_, LOCK_SH); }

  std::optional<RateRecord> Read() const {
    char buf[64] = {};
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    RateRecord r;
    if (n <= 0 || std::sscanf(buf, "%lld %lld", reinterpret_cast<long long*>(&r.written),
                              reinterpret_cast<long long*>(&r.original)) != 2)
      return std::nullopt;
    return r;
  }
  void Write(const RateRecord& r) {
    std::string line = fmt::format("{} {}\n", r.written, r.original);
    if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, line.data(), line.size(), 0);
  }
  void Remove() { ::unlink(path_.c_str()); }

 private:
  std::string path_;
  int fd_ = -1;
};

namespace {

constexpr const char* kLedgerDir = "/run/lock";
constexpr std::string_view kLedgerPrefix = "goscope-memprofilerate-";

std::string LedgerPath(pid_t pid, uint64_t start_ticks) {
  return fmt::format("{}/{}{}-{}", kLedgerDir, kLedgerPrefix, pid, start_ticks);
}

// Whether the process instance a record names (pid and start time) still runs.
bool InstanceRuns(pid_t pid, uint64_t start_ticks) {
  try {
    auto text = ReadProcFile(pid, "stat");
    auto st = text ? ParseProcStat(*text) : std::nullopt;
    return st && !st->exited() && st->start_ticks == start_ticks;
  } catch (const Error&) {
    return true;  // cannot tell: leave the record
  }
}

}  // namespace

void SweepStaleRateRecords() {
  DIR* dir = ::opendir(kLedgerDir);
  if (!dir) return;
  while (dirent* d = ::readdir(dir)) {
    std::string_view name = d->d_name;
    if (!name.starts_with(kLedgerPrefix)) continue;
    long long pid = 0;
    unsigned long long ticks = 0;
    if (std::sscanf(d->d_name + kLedgerPrefix.size(), "%lld-%llu", &pid, &ticks) != 2 || pid <= 0) continue;
    if (InstanceRuns(static_cast<pid_t>(pid), ticks)) continue;
    // The process is gone, so no goscope can still sample it; a record only
    // goes if it is ours (as RateLedger trusts only its own) and nobody holds it.
    const std::string path = LedgerPath(static_cast<pid_t>(pid), ticks);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_uid == ::geteuid() && S_ISREG(st.st_mode) &&
        ::flock(fd, LOCK_EX | LOCK_NB) == 0)
      ::unlink(path.c_str());
    ::close(fd);
  }
  ::closedir(dir);
}

// A write into a process is made only while it runs the image it ran when the
// address was worked out; the address means nothing in another.
std::optional<MemProfileRateOverride::Image> MemProfileRateOverride::ImageOf(pid_t pid) {
  try {
    auto exe = IdentifyExecutable(pid);
    if (exe) return Image{exe->dev, exe->ino, exe->start_ticks};
  } catch (const Error&) {
  }
  return std::nullopt;  // gone or unreadable: nothing is written
}

MemProfileRateOverride::MemProfileRateOverride(pid_t pid, uint64_t address, int64_t rate, bool allow_write)
    : pid_(pid), address_(address), rate_(rate), image_(ImageOf(pid)) {
  auto v = ReadMemProfileRate(pid, address);
  if (!v) throw Error(fmt::format("cannot read runtime.MemProfileRate at {:#x} in process {}", address, pid));
  original_ = *v;
  if (rate <= 0 || !allow_write) return;
  // One record per process instance: a reused pid never reads an old one.
  if (image_) {
    // Records of processes that died while a goscope was killed go first, once per goscope.
    static std::once_flag swept;
    std::call_once(swept, SweepStaleRateRecords);
    ledger_ = std::make_unique<RateLedger>(LedgerPath(pid, image_->start_ticks));
  }
  if (!ledger_ || !ledger_->ok()) {
    // No ledger (no /run/lock): write only a 0, as before, and say nothing to later goscopes.
    ledger_.reset();
    if (original_ == 0) Write();
    return;
  }
  if (ledger_->TryAlone()) {
    auto rec = ledger_->Read();
    if (rec && original_ != 0 && Adopt(*rec)) {
      inherited_ = true;  // left by a goscope that never restored (killed): ours to restore now
    } else if (original_ == 0) {
      Write();
      ledger_->Write({rate_, original_});
    } else {
      // The program's own rate: nothing to share or restore.
      ledger_->Remove();
      ledger_.reset();
      return;
    }
    ledger_->Share();
    return;
  }
  // Another goscope is sampling this process right now.
  ledger_->Share();
  auto rec = ledger_->Read();
  if (rec && Adopt(*rec)) {
    shared_ = true;  // sample at its rate: one rate per process
  } else {
    ledger_.reset();  // it samples at the program's own rate: nothing of ours to restore
  }
}

// A record describes the rate in the process (goscope wrote it over a 0):
// take it as ours to sample at and, last, to restore.
bool MemProfileRateOverride::Adopt(const RateRecord& rec) {
  if (rec.written != original_ || rec.original != 0) return false;
  rate_ = rec.written;
  original_ = rec.original;
  written_ = true;
  return true;
}

void MemProfileRateOverride::Write() {
  if (int err = WriteWord(pid_, address_, rate_))
    throw Error(fmt::format("cannot write runtime.MemProfileRate at {:#x} in process {}: {}", address_, pid_,
                            std::strerror(err)));
  written_ = true;  // from here on the destructor restores, whatever happens next
  auto back = ReadMemProfileRate(pid_, address_);
  if (!back || *back != rate_) {
    Restore();
    throw Error(fmt::format("runtime.MemProfileRate at {:#x} in process {} did not read back as {} after writing it",
                            address_, pid_, rate_));
  }
}

MemProfileRateOverride::~MemProfileRateOverride() { Restore(); }

bool MemProfileRateOverride::Restore(std::string* why) {
  if (!written_) return true;
  if (!restored_) {
    restored_ = true;
    auto fail = [&](std::string reason, bool still_ours = false) {
      restore_ok_ = false;
      restore_why_ = std::move(reason);
      still_ours_ = still_ours;
    };
    if (ledger_ && !ledger_->TryAlone()) {
      // Another goscope still samples at this rate: the last one restores.
      restore_ok_ = true;
      outcome_ = fmt::format("runtime.MemProfileRate left at {} for another goscope still sampling process {}",
                             rate_, pid_);
      ledger_.reset();
      return true;
    }
    const auto image = ImageOf(pid_);
    auto now = ReadMemProfileRate(pid_, address_);
    if (!image || !Alive(pid_)) {
      fail(fmt::format("process {} exited", pid_));
    } else if (image != image_) {
      fail(fmt::format("process {} now runs another program (exec or pid reuse); nothing written", pid_));
    } else if (!now) {
      fail("cannot read runtime.MemProfileRate back", true);
    } else if (*now != rate_) {
      // The program set its own rate meanwhile: its choice stands.
      fail(fmt::format("the program changed runtime.MemProfileRate to {} meanwhile; left as it is", *now));
    } else if (int err = WriteWord(pid_, address_, original_)) {
      fail(fmt::format("writing runtime.MemProfileRate back: {}", std::strerror(err)), true);
    } else if (auto back = ReadMemProfileRate(pid_, address_); !back || *back != original_) {
      fail(back ? fmt::format("runtime.MemProfileRate reads {} after restoring {}", *back, original_)
                : std::string("cannot read runtime.MemProfileRate back after restoring it"),
           true);
    } else {
      restore_ok_ = true;
      outcome_ = fmt::format("runtime.MemProfileRate restored to {}", original_);
    }
    // Alone and done (restored, or nothing left to restore): the record goes.
    if (ledger_) ledger_->Remove();
    ledger_.reset();
  }
  if (!restore_ok_ && why) *why = restore_why_;
  return restore_ok_;
}

}  // namespace goscope
