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
    : target_(target), opts_(opts), tracer_(target, layout, opts.mode) {
  if (opts_.mode != HeapMode::kSampled) return;
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
  tracer_.Attach(sites);  // probes first: no sample after the rate write is missed
  if (opts_.mode == HeapMode::kSampled) {
    rate_ = std::make_unique<MemProfileRateOverride>(target_.pid, rate_address_, opts_.rate, opts_.allow_write);
    wrote_ = rate_->written();
  }
  start_wall_ns_ = WallNs();
  start_ns_ = MonotonicNs();
  started_ = true;
}

void HeapSession::Drain() {
  tracer_.Drain([&](const HeapEvent& e) { samples_.Add(e); });
}

void HeapSession::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  tracer_.Detach();
  Drain();
  end_ns_ = MonotonicNs();
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
  return opts_.mode == HeapMode::kExact ? ExactHeapRecords(tracer_.ReadExact()) : samples_.Records();
}

HeapProfileInfo HeapSession::Info() const {
  HeapProfileInfo info;
  info.exact = opts_.mode == HeapMode::kExact;
  info.rate = info.exact || !rate_ ? 1 : rate_->effective();
  info.time_ns = start_wall_ns_;
  info.duration_ns = static_cast<int64_t>(end_ns_ - start_ns_);
  if (info.exact) {
    info.comments.push_back(fmt::format("goscope --alloc-mode exact: {} allocations; exact mode sees no frees",
                                        tracer_.exact_stats().calls));
  } else {
    info.comments.push_back(fmt::format("goscope: sampled at MemProfileRate {}{}", info.rate,
                                        wrote_ ? " (set by goscope for the window)" : ""));
    info.comments.push_back("objects allocated before the window are not in this profile");
  }
  info.mappings = target_.ExecutableMappings();
  return info;
}

FrameLookup HeapSession::Symbolizer() const { return target_.symbolizer().ReturnAddressLookup(); }

nlohmann::json HeapSession::SummaryJson() const {
  bool exact = opts_.mode == HeapMode::kExact;
  nlohmann::json j = {
      {"alloc_mode", exact ? "exact" : "sampled"},
      {"heap_rate", exact ? nlohmann::json(nullptr) : nlohmann::json(Info().rate)},
      {"memprofilerate_written", wrote_},
      {"memprofilerate_restored", wrote_ ? restored_ : false},
      {"heap_events_lost", tracer_.lost()},
  };
  // Shared with another goscope, or taken over from one that was killed.
  if (rate_ && rate_->shared()) j["memprofilerate_shared"] = true;
  if (rate_ && rate_->inherited()) j["memprofilerate_inherited"] = true;
  if (exact) {
    HeapExactStats st = tracer_.exact_stats();
    j["alloc_samples"] = st.calls;
    j["free_samples"] = nullptr;  // exact mode sees no frees
    j["heap_note"] = "exact mode: every allocation counted; no frees, so no inuse values";
  } else {
    j["alloc_samples"] = samples_.allocs();
    j["free_samples"] = samples_.frees_matched() + samples_.frees_unmatched();
    j["heap_note"] = "objects allocated before attach are not in the profile (nor in Go's own)";
  }
  if (!restore_message_.empty()) j["memprofilerate_restore"] = restore_message_;
  return j;
}

std::string HeapSession::Outcome() const {
  if (opts_.mode == HeapMode::kExact) {
    HeapExactStats st = tracer_.exact_stats();
    std::string warn = st.counts_full || st.stacks_full
                           ? fmt::format(" (WARNING: maps full: {} allocations not counted, {} without a stack)",
                                         st.counts_full, st.stacks_full)
                           : "";
    return fmt::format("{} allocations counted exactly{}", st.calls, warn);
  }
  return fmt::format("{} sampled allocations, {} freed in the window ({} frees of objects sampled before it), {} "
                     "events lost{}",
                     samples_.allocs(), samples_.frees_matched(), samples_.frees_unmatched(), tracer_.lost(),
                     restore_message_.empty() ? "" : "; " + restore_message_);
}

}  // namespace goscope
