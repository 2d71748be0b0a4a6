#include "agent/binary_watch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "binary_info.h"
#include "error.h"

namespace goscope {

namespace {
// Far smaller than attach's: an agent holds a set per binary, and the kernel
// maps each ring buffer's pages into the agent whole (twice, for wrap-around),
// so they count in its resident memory: (256 + 64 KiB) x 2 per binary with
// these, where attach's are 16 MiB + 1 MiB. The agent drains every 10-100 ms; a burst beyond them
// is dropped and counted (goscope_agent_events_lost_total).
constexpr uint32_t kGoroutineRingBytes = 256u << 10;  // ~780 creation events
constexpr uint32_t kGcRingBytes = 64u << 10;
}  // namespace

BinaryWatch::BinaryWatch(pid_t first_pid, std::shared_ptr<const GoBinary> binary) {
  fd_ = open(fmt::format("/proc/{}/exe", first_pid).c_str(), O_PATH | O_CLOEXEC);
  if (fd_ < 0) throw Error(fmt::format("/proc/{}/exe: {}", first_pid, std::strerror(errno)));
  try {
    target_.pid = -1;
    target_.exe_path = fmt::format("/proc/self/fd/{}", fd_);
    target_.binary = std::move(binary);
    BinaryInfo info = PrepareBinary(target_.binary);
    if (!info.verdict.traceable) {
      std::string why;  // one line: the agent logs it
      for (const auto& p : info.verdict.problems) why += (why.empty() ? "" : "; ") + p;
      throw Error(fmt::format("{} cannot be traced: {}", target_.binary->go_version(), why));
    }
    layout_ = std::move(info.layout);
    sites_ = std::move(info.sites);
    goroutines_ = std::make_unique<GoroutineTracer>(target_, layout_, kGoroutineRingBytes);
    try {
      gc_ = std::make_unique<GcTracer>(target_, layout_, kGcRingBytes);
      gc_->Attach(sites_);
    } catch (const Error& e) {
      gc_.reset();
      degraded_.push_back(fmt::format("GC: {}", e.what()));
    }
  } catch (...) {
    goroutines_.reset();
    gc_.reset();
    close(fd_);
    throw;
  }
}

BinaryWatch::~BinaryWatch() {
  // Probes first, then the descriptor they were attached through.
  gc_.reset();
  goroutines_.reset();
  if (fd_ >= 0) close(fd_);
}

size_t BinaryWatch::probes() const {
  return goroutines_->probes() + (gc_ ? gc_->probes() : 0);
}

void BinaryWatch::SetCreationProbes(bool on) {
  if (on == creation_probes()) return;
  if (on) goroutines_->Attach(sites_, /*exits=*/false);
  else goroutines_->Detach();
}

void BinaryWatch::AddProcess(pid_t pid, uint64_t load_bias) {
  if (gc_) gc_->AddProcess(pid, load_bias);
}

void BinaryWatch::RemoveProcess(pid_t pid) {
  if (gc_) gc_->RemoveProcess(pid);
}

int BinaryWatch::Drain(const Sinks& sinks) {
  int n = goroutines_->Drain(sinks.goroutine);
  if (gc_) n += gc_->Drain(sinks.gc);
  return n;
}

uint64_t BinaryWatch::lost() const {
  return goroutines_->lost() + (gc_ ? gc_->lost() : 0);
}

}  // namespace goscope
