#include "process/run_control.h"

#include <signal.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <string>

#include <fmt/format.h>

#include "error.h"
#include "process/proc_files.h"

namespace goscope {
namespace {

std::atomic<int> g_signal{0};

void OnSignal(int sig) { g_signal.store(sig); }

}  // namespace

// A zombie has exited even though its pid still answers.
bool ProcessAlive(pid_t pid) {
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  try {
    auto text = ReadProcFile(pid, "stat");
    auto stat = text ? ParseProcStat(*text) : std::nullopt;
    return stat && !stat->exited();
  } catch (const Error&) {
    return false;  // unreadable: not ours to trace either way
  }
}

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

RunControl::RunControl(pid_t target, double duration_s, bool end_on_signals)
    : target_(target), duration_s_(duration_s), end_on_signals_(end_on_signals), start_ns_(MonotonicNs()) {
  if (!end_on_signals_) return;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;  // no SA_RESTART: a signal cuts the sleep short
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

RunControl::~RunControl() {
  if (!end_on_signals_) return;
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
}

double RunControl::elapsed_seconds() const { return (MonotonicNs() - start_ns_) / 1e9; }

bool RunControl::Wait(int ms) {
  if (!why_.empty()) return false;
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr);
  if (int sig = end_on_signals_ ? g_signal.load() : 0) {
    why_ = fmt::format("interrupted by {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
  } else if (!ProcessAlive(target_)) {
    target_exited_ = true;
    why_ = fmt::format("process {} exited", target_);
  } else if (duration_s_ > 0 && elapsed_seconds() >= duration_s_) {
    why_ = fmt::format("{}s duration reached", duration_s_);
  }
  return why_.empty();
}

}  // namespace goscope
