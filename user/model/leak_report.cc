#include "model/leak_report.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>


namespace goscope {
namespace {

std::string StackKey(const std::vector<Frame>& stack) {
  std::string k;
  for (const auto& f : stack) k += fmt::format("{}:{};", f.function, f.line);
  return k;
}

}  // namespace

bool IsBlockingWait(const std::string& r) {
  for (const char* word : {"chan", "select", "semacquire", "Mutex", "Cond", "WaitGroup", "sync."})
    if (r.find(word) != std::string::npos) return true;
  return false;
}

LeakReport FindLeakSuspects(const std::vector<Goroutine>& snapshot, const GoroutineLifecycle& lifecycle,
                            uint64_t end_ns,
                            const std::function<std::vector<Frame>(const TrackedGoroutine&)>& creation_stack_of) {
  LeakReport r;
  double window_min = std::max(1e-9, (end_ns - lifecycle.start_ns()) / 60e9);
  r.window_seconds = window_min * 60;
  std::map<std::string, LeakSuspect> groups;
  for (const Goroutine& g : snapshot) {
    if (g.system) continue;
    r.live_goroutines++;
    if (g.state != "waiting" || !IsBlockingWait(g.wait_reason) || g.stack_quality == StackQuality::kUnavailable)
      continue;
    std::string key = fmt::format("{:x}|{}|{}", g.gopc, g.wait_reason, StackKey(g.stack));
    LeakSuspect& s = groups[key];
    if (s.count == 0) {
      s.wait_reason = g.wait_reason;
      s.blocked_stack = g.stack;
      if (g.created_by) s.creation_stack = {*g.created_by};
    }
    s.count++;
    if (s.goids.size() < 10) s.goids.push_back(g.goid);
    const TrackedGoroutine* t = lifecycle.Find(g.goid);
    std::optional<double> age;
    if (t && t->created_ns) {
      s.growth_per_minute += 1 / window_min;
      age = (end_ns - *t->created_ns) / 1e9;
      // A traced creation stack is the whole story; prefer it to the one-line "created by".
      if (s.creation_stack.size() <= 1) {
        auto full = creation_stack_of(*t);
        if (full.size() > 1) s.creation_stack = std::move(full);
      }
    } else {
      age = std::max(r.window_seconds, g.wait_seconds.value_or(0));
      s.age_is_lower_bound = true;
    }
    if (age && (!s.oldest_age_seconds || *age > *s.oldest_age_seconds)) s.oldest_age_seconds = age;
  }
  for (auto& [k, s] : groups) r.suspects.push_back(std::move(s));
  std::sort(r.suspects.begin(), r.suspects.end(), [](const LeakSuspect& a, const LeakSuspect& b) {
    if (a.growth_per_minute != b.growth_per_minute) return a.growth_per_minute > b.growth_per_minute;
    if (a.count != b.count) return a.count > b.count;
    return a.oldest_age_seconds.value_or(0) > b.oldest_age_seconds.value_or(0);
  });
  return r;
}

void AddProof(LeakReport& report, LeakProof proof, std::vector<ProvenLeakGroup> groups) {
  // A suspect and a proven group are the same goroutines when their blocked
  // stacks and the line of their go statement agree (the line, not the
  // function: a traced creation stack names inlined frames as such).
  auto line = [](const Frame& f) { return fmt::format("{}:{}", f.file, f.line); };
  std::map<std::string, size_t> proven;
  for (const auto& g : groups)
    proven[StackKey(g.blocked_stack) + "|" + (g.created_by ? line(*g.created_by) : "")] += g.count;
  for (auto& s : report.suspects) {
    std::string creator = s.creation_stack.empty() ? "" : line(s.creation_stack.front());
    auto it = proven.find(StackKey(s.blocked_stack) + "|" + creator);
    s.proven = it == proven.end() ? 0 : it->second;
  }
  report.proof = std::move(proof);
  report.proven_groups = std::move(groups);
}

}  // namespace goscope
