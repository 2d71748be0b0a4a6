#include "output/leak_report_format.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "output/output_schema.h"

namespace goscope {
namespace {

nlohmann::json FramesJson(const std::vector<Frame>& frames) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& f : frames) a.push_back({{"function", f.function}, {"file", f.file}, {"line", f.line}});
  return a;
}

}  // namespace

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
