#include "process/process_memory.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

// process_vm_readv takes at most IOV_MAX ranges per call.
constexpr size_t kMaxIov = IOV_MAX > 1024 ? 1024 : IOV_MAX;

// A Go slice of pointers read, or the step that failed.
struct PointerSlice {
  enum class Failed { kNone, kHeader, kImplausible, kArray } failed = Failed::kNone;
  int header_errno = 0;  // kHeader: why
  uint64_t ptr = 0, len = 0, cap = 0;
  std::vector<uint64_t> elems;
};

PointerSlice ReadSlice(const ProcessMemory& mem, uint64_t addr, size_t max_len) {
  PointerSlice s;
  uint64_t hdr[3];
  if (!mem.Read(addr, hdr, sizeof hdr)) {
    s.failed = PointerSlice::Failed::kHeader;
    s.header_errno = errno;
    return s;
  }
  s.ptr = hdr[0], s.len = hdr[1], s.cap = hdr[2];
  if (s.len > s.cap || s.len > max_len || (s.len && !s.ptr)) {
    s.failed = PointerSlice::Failed::kImplausible;
    return s;
  }
  s.elems.resize(s.len);
  if (s.len && !mem.Read(s.ptr, s.elems.data(), s.len * 8)) s.failed = PointerSlice::Failed::kArray;
  return s;
}

}  // namespace

ProcessMemory::ProcessMemory(pid_t pid) : pid_(pid) {}

ProcessMemory::~ProcessMemory() {
  if (mem_fd_ >= 0) ::close(mem_fd_);
}

bool ProcessMemory::ReadProcMem(uint64_t addr, void* out, size_t len) const {
  if (mem_fd_ < 0) {
    std::string path = "/proc/" + std::to_string(pid_) + "/mem";
    mem_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (mem_fd_ < 0) return false;
  }
  auto* p = static_cast<char*>(out);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(mem_fd_, p + done, len - done, static_cast<off_t>(addr + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool ProcessMemory::Read(uint64_t addr, void* out, size_t len) const {
  if (len == 0) return true;
  if (addr + len < addr) return false;  // wraps
  if (!use_proc_mem_) {
    iovec local{out, len};
    iovec remote{reinterpret_cast<void*>(addr), len};
    ssize_t n = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    if (n == static_cast<ssize_t>(len)) return true;
    // EFAULT (or a short read): the range is not mapped; /proc/PID/mem would
    // say the same. ESRCH: the process is gone. Anything else (ENOSYS, EPERM
    // under some seccomp profiles): fall back to /proc/PID/mem for good.
    if (n >= 0 || errno == EFAULT || errno == ESRCH) return false;
    use_proc_mem_ = true;
  }
  return ReadProcMem(addr, out, len);
}

size_t ProcessMemory::ReadMany(std::span<Piece> pieces) const {
  for (auto& p : pieces) p.ok = false;
  std::vector<iovec> local, remote;
  size_t i = 0;
  while (i < pieces.size()) {
    // One call for up to kMaxIov consecutive pieces (1 GiB at most).
    local.clear(), remote.clear();
    size_t end = i;
    size_t want = 0;
    while (!use_proc_mem_ && end < pieces.size() && local.size() < kMaxIov) {
      const Piece& p = pieces[end];
      if (p.len == 0 || p.addr + p.len < p.addr || want + p.len > (size_t{1} << 30)) break;
      local.push_back({p.out, p.len});
      remote.push_back({reinterpret_cast<void*>(p.addr), p.len});
      want += p.len;
      ++end;
    }
    size_t got = 0;
    if (end > i) {
      ssize_t n = ::process_vm_readv(pid_, local.data(), local.size(), remote.data(), remote.size(), 0);
      if (n < 0 && errno == ESRCH) return 0;
      got = n > 0 ? static_cast<size_t>(n) : 0;
    }
    // The kernel stops at the first range it cannot read: every piece before
    // it is complete. The piece it stopped in is settled alone by Read (which
    // also switches to /proc/PID/mem if process_vm_readv is refused).
    while (i < end && got >= pieces[i].len) {
      got -= pieces[i].len;
      pieces[i++].ok = true;
    }
    if (i < pieces.size()) {
      pieces[i].ok = Read(pieces[i].addr, pieces[i].out, pieces[i].len);
      ++i;
    }
  }
  size_t ok = 0;
  for (const auto& p : pieces) ok += p.ok;
  return ok;
}

std::optional<uint64_t> ProcessMemory::ReadU64(uint64_t addr) const {
  uint64_t v;
  if (!Read(addr, &v, sizeof v)) return std::nullopt;
  return v;
}

std::optional<uint32_t> ProcessMemory::ReadU32(uint64_t addr) const {
  uint32_t v;
  if (!Read(addr, &v, sizeof v)) return std::nullopt;
  return v;
}

std::optional<uint8_t> ProcessMemory::ReadU8(uint64_t addr) const {
  uint8_t v;
  if (!Read(addr, &v, sizeof v)) return std::nullopt;
  return v;
}

std::optional<std::vector<uint64_t>> ProcessMemory::ReadPointerSlice(uint64_t addr, size_t max_len) const {
  PointerSlice s = ReadSlice(*this, addr, max_len);
  if (s.failed != PointerSlice::Failed::kNone) return std::nullopt;
  return std::move(s.elems);
}

std::optional<std::string> ProcessMemory::ReadGoString(uint64_t addr, size_t max_len) const {
  uint64_t hdr[2];
  if (!Read(addr, hdr, sizeof hdr)) return std::nullopt;
  if (hdr[1] > max_len) return std::nullopt;
  std::string s(hdr[1], '\0');
  if (hdr[1] == 0) return s;
  if (!Read(hdr[0], s.data(), s.size())) return std::nullopt;
  return s;
}

std::vector<uint64_t> ReadRuntimePointerSlice(const ProcessMemory& mem, uint64_t addr, size_t max_len,
                                              std::string_view what) {
  const pid_t pid = mem.pid();
  PointerSlice s = ReadSlice(mem, addr, max_len);
  switch (s.failed) {
    case PointerSlice::Failed::kNone:
      return std::move(s.elems);
    case PointerSlice::Failed::kHeader:
      if (::kill(pid, 0) != 0 && errno == ESRCH) throw Error(fmt::format("process {} not found", pid));
      throw Error(fmt::format("process {}: cannot read {} at {:#x}: {}", pid, what, addr, std::strerror(s.header_errno)));
    case PointerSlice::Failed::kImplausible:
      throw Error(fmt::format("process {}: {} at {:#x} is not a plausible slice (ptr {:#x} len {} cap {})", pid, what,
                              addr, s.ptr, s.len, s.cap));
    case PointerSlice::Failed::kArray:
      break;
  }
  throw Error(fmt::format("process {}: cannot read the {} pointers of {} at {:#x}", pid, s.len, what, s.ptr));
}

}  // namespace goscope
