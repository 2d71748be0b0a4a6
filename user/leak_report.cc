#include "leak_report.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "output_schema.h"

namespace goscope {
namespace {

std::string StackKey(const std::vector<GoFrame>& stack) {
  std::string k;
  for (const auto& f : stack) k += fmt::format("{}:{};", f.function, f.line);
  return k;
}

nlohmann::json FramesJson(const std::vector<GoFrame>& frames) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& f : frames) a.push_back({{"function", f.function}, {"file", f.file}, {"line", f.line}});
  return a;
}

}  // namespace

bool IsBlockingWait(const std::string& r) {
  for (const char* word : {"chan", "select", "semacquire", "Mutex", "Cond", "WaitGroup", "sync."})
    if (r.find(word) != std::string::npos) return true;
  return false;
}

LeakReport FindLeakSuspects(const std::vector<Goroutine>& snapshot, const GoroutineLifecycle& lifecycle,
                            uint64_t end_ns,
                            const std::function<std::vector<GoFrame>(const TrackedGoroutine&)>& creation_stack_of) {
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

std::string LeakReportJson(const LeakReport& r) {
  nlohmann::json j = {{"schema_version", kOutputSchemaVersion},
                      {"pid", r.pid},
                      {"go_version", r.go_version},
                      {"live_goroutines", r.live_goroutines},
                      {"window_seconds", r.window_seconds}};
  nlohmann::json suspects = nlohmann::json::array();
  for (const auto& s : r.suspects) {
    suspects.push_back({{"count", s.count},
                        {"growth_per_minute", s.growth_per_minute},
                        {"wait_reason", s.wait_reason},
                        {"oldest_age_seconds", s.oldest_age_seconds ? nlohmann::json(*s.oldest_age_seconds)
                                                                    : nlohmann::json(nullptr)},
                        {"oldest_age_is_lower_bound", s.age_is_lower_bound},
                        {"creation_stack", FramesJson(s.creation_stack)},
                        {"blocked_stack", FramesJson(s.blocked_stack)},
                        {"example_goids", s.goids}});
  }
  j["suspects"] = suspects;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string LeakReportText(const LeakReport& r) {
  std::string out = fmt::format("goroutine leak suspects in pid {} ({}), {} live goroutines, {:.1f}s window\n",
                                r.pid, r.go_version, r.live_goroutines, r.window_seconds);
  if (r.suspects.empty()) out += "\nno goroutines are parked in a blocking wait: no suspects.\n";
  int rank = 0;
  for (const auto& s : r.suspects) {
    out += fmt::format("\n#{}  {} goroutines [{}], growing {:.1f}/min, oldest {}{}\n", ++rank, s.count,
                       s.wait_reason, s.growth_per_minute,
                       s.oldest_age_seconds ? fmt::format("{:.0f}s", *s.oldest_age_seconds) : "unknown",
                       s.age_is_lower_bound ? " or more" : "");
    out += "  blocked in:\n";
    for (const auto& f : s.blocked_stack) out += fmt::format("    {}\n        {}:{}\n", f.function, f.file, f.line);
    out += "  created at:\n";
    for (const auto& f : s.creation_stack) out += fmt::format("    {}\n        {}:{}\n", f.function, f.file, f.line);
  }
  return out;
}

}  // namespace goscope
