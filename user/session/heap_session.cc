#include "session/heap_session.h"

#include <elf.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>

#include "process/run_control.h"

namespace goscope {
namespace {

int64_t WallNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

HeapSession::HeapSession(const TargetProcess& target, const RuntimeLayout& layout, const HeapOptions& opts)
    : target_(target), opts_(opts), memory_(target.pid) {
  if (opts_.mode == AllocMode::kExact) {
    tracer_ = std::make_unique<HeapTracer>(target, layout, HeapMode::kExact);
    return;
  }
  buckets_.emplace(layout, target.load_bias);
  rate_address_ = MemProfileRateAddress(target, layout);
  auto now = ReadMemProfileRate(target.pid, rate_address_);
  if (!now) throw Error(fmt::format("cannot read runtime.MemProfileRate of process {}", target.pid));
  if (*now == 0 && !opts_.allow_write)
    throw HeapUnavailable(fmt::format(
        "process {} runs with runtime.MemProfileRate = 0 (it does not use runtime/pprof), so Go's sampler takes "
        "no samples; sampled heap profiling needs goscope to set the rate (drop --no-write), or use "
        "--alloc-mode exact",
        target.pid));
}

HeapSession::~HeapSession() {
  try {
    Stop();
  } catch (const std::exception&) {
  }
}

void HeapSession::Start(const std::vector<ProbeSite>& sites) {
  if (tracer_) {
    tracer_->Attach(sites);
  } else {
    // Read first: a profile goscope cannot read leaves no rate written. (While
    // the rate is 0 nothing is sampled, so nothing falls between the two.)
    before_ = buckets_->Read(memory_);
    rate_ = std::make_unique<MemProfileRateOverride>(target_.pid, rate_address_, opts_.rate, opts_.allow_write);
    wrote_ = rate_->written();
  }
  start_wall_ns_ = WallNs();
  start_ns_ = MonotonicNs();
  started_ = true;
}

void HeapSession::Poll() {
  constexpr uint64_t kRereadNs = 2'000'000'000;
  const uint64_t now = MonotonicNs();
  if (!buckets_ || !started_ || stopped_ || now - std::max(last_try_ns_, start_ns_) < kRereadNs) return;
  last_try_ns_ = now;
  try {
    after_ = buckets_->Read(memory_);
    read_after_ = true;
    after_ns_ = now;
  } catch (const Error&) {
    // Gone, or mid-change: the last reading stands, and Stop says which.
  }
}

void HeapSession::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  end_ns_ = MonotonicNs();
  if (tracer_) {
    tracer_->Detach();
    return;
  }
  try {
    after_ = buckets_->Read(memory_);
    read_after_ = true;
    after_ns_ = end_ns_;
  } catch (const Error& e) {
    // Exited (or exec'd) before the end: what it sampled since the last read is gone with it.
    std::string why = ProcessAlive(target_.pid) ? e.what() : "the process exited before the end of the window";
    if (!read_after_)
      read_error_ = why;
    else
      read_note_ = fmt::format("read {:.1f} s before the end ({})", (end_ns_ - after_ns_) / 1e9, why);
  }
  if (rate_ && wrote_) {
    std::string why;
    restored_ = rate_->Restore(&why);
    if (restored_) {
      restore_message_ = rate_->outcome();
    } else {
      bool alive = ProcessAlive(target_.pid);
      restore_message_ = alive ? fmt::format("runtime.MemProfileRate NOT restored: {}", why)
                               : "runtime.MemProfileRate not restored: the process has exited";
      // The program's own new rate, or a program that is no longer there (exec), are not failures.
      restore_failed_ = alive && rate_->restore_left_our_rate();
    }
  }
}

std::string HeapSession::RateNote() const {
  if (!rate_) return "";
  if (!wrote_) return fmt::format(", MemProfileRate {} (the program's own)", rate_->effective());
  if (rate_->shared()) return fmt::format(", MemProfileRate {} (written by another goscope on it; was 0)", rate_->effective());
  if (rate_->inherited())
    return fmt::format(", MemProfileRate {} (left by a goscope that did not restore it; was 0: restored at the end)",
                       rate_->effective());
  return fmt::format(", MemProfileRate {} (written by goscope; was 0)", rate_->effective());
}

std::vector<HeapRecord> HeapSession::Records() const {
  return tracer_ ? ExactHeapRecords(tracer_->ReadExact()) : HeapRecordsBetween(before_, after_);
}

HeapProfileInfo HeapSession::Info() const {
  HeapProfileInfo info;
  info.exact = opts_.mode == AllocMode::kExact;
  info.rate = info.exact || !rate_ ? 1 : rate_->effective();
  info.time_ns = start_wall_ns_;
  info.duration_ns = static_cast<int64_t>(end_ns_ - start_ns_);
  if (info.exact) {
    info.comments.push_back(fmt::format("goscope --alloc-mode exact: {} allocations; exact mode sees no frees",
                                        tracer_->exact_stats().calls));
  } else {
    info.comments.push_back(fmt::format("goscope: sampled at MemProfileRate {}{}", info.rate,
                                        wrote_ ? " (set by goscope for the window)" : ""));
    info.comments.push_back("alloc_*: sampled during the window; inuse_*: every sampled object not yet freed");
    if (!read_error_.empty()) info.comments.push_back("no samples: " + read_error_);
    if (!read_note_.empty()) info.comments.push_back("Go's profile " + read_note_);
  }
  info.mappings = target_.ExecutableMappings();
  return info;
}

FrameLookup HeapSession::Symbolizer() const { return target_.symbolizer().ReturnAddressLookup(); }

nlohmann::json HeapSession::SummaryJson() const {
  bool exact = opts_.mode == AllocMode::kExact;
  nlohmann::json j = {
      {"alloc_mode", exact ? "exact" : "sampled"},
      {"heap_rate", exact ? nlohmann::json(nullptr) : nlohmann::json(Info().rate)},
      {"memprofilerate_written", wrote_},
      {"memprofilerate_restored", wrote_ ? restored_ : false},
  };
  // Shared with another goscope, or taken over from one that was killed.
  if (rate_ && rate_->shared()) j["memprofilerate_shared"] = true;
  if (rate_ && rate_->inherited()) j["memprofilerate_inherited"] = true;
  if (exact) {
    HeapExactStats st = tracer_->exact_stats();
    j["alloc_samples"] = st.calls;
    j["free_samples"] = nullptr;  // exact mode sees no frees
    j["heap_note"] = "exact mode: every allocation counted; no frees, so no inuse values";
  } else {
    const WindowSamples w = Window();
    j["alloc_samples"] = w.allocs;
    j["free_samples"] = w.frees;
    j["heap_note"] = read_error_.empty() ? "Go's own heap profile, read from the process: alloc values sampled in "
                                           "the window, inuse values every sampled object not yet freed"
                                         : "no samples: " + read_error_;
  }
  if (!restore_message_.empty()) j["memprofilerate_restore"] = restore_message_;
  return j;
}

HeapSession::WindowSamples HeapSession::Window() const {
  if (!read_error_.empty()) return {};
  const HeapBucketTotals a = Totals(before_), b = Totals(after_);
  return {b.allocs > a.allocs ? b.allocs - a.allocs : 0, b.frees > a.frees ? b.frees - a.frees : 0,
          b.allocs > b.frees ? b.allocs - b.frees : 0};
}

std::string HeapSession::Outcome() const {
  if (opts_.mode == AllocMode::kExact) {
    HeapExactStats st = tracer_->exact_stats();
    std::string warn = st.counts_full || st.stacks_full
                           ? fmt::format(" (WARNING: maps full: {} allocations not counted, {} without a stack)",
                                         st.counts_full, st.stacks_full)
                           : "";
    return fmt::format("{} allocations counted exactly{}", st.calls, warn);
  }
  const WindowSamples w = Window();
  std::string what = read_error_.empty()
                          ? fmt::format("{} sampled allocations and {} frees of sampled objects in the window, {} "
                                        "sampled objects in use",
                                        w.allocs, w.frees, w.inuse)
                          : "no samples: " + read_error_;
  if (!read_note_.empty()) what += " (" + read_note_ + ")";
  return what + (restore_message_.empty() ? "" : "; " + restore_message_);
}

}  // namespace goscope
