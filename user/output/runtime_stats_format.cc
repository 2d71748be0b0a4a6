#include "output/runtime_stats_format.h"

#include <ctime>

#include <fmt/format.h>

#include "output/human_units.h"
#include "output/output_schema.h"

namespace goscope {
namespace {

std::string SignedBytes(int64_t d) { return (d < 0 ? "-" : "+") + HumanBytes(static_cast<uint64_t>(d < 0 ? -d : d)); }

std::string Duration(uint64_t ns) {
  if (ns < 10'000) return fmt::format("{} ns", ns);
  if (ns < 10'000'000) return fmt::format("{:.1f} us", ns / 1e3);
  if (ns < 10'000'000'000) return fmt::format("{:.1f} ms", ns / 1e6);
  return fmt::format("{:.2f} s", ns / 1e9);
}

std::string Value(const StatInfo& info, uint64_t v, uint64_t now_ns) {
  switch (info.unit) {
    case StatUnit::kBytes:
      return fmt::format("{:>12}  ({})", HumanBytes(v), v);
    case StatUnit::kCount:
      return fmt::format("{:>12}", v);
    case StatUnit::kNanoseconds:
      return fmt::format("{:>12}  ({} ns)", Duration(v), v);
    case StatUnit::kUnixNanoseconds:
      if (v == 0) return fmt::format("{:>12}", "never");
      return fmt::format("{:>12}  ({}, {} ago)", UtcTime(v), v, now_ns > v ? Duration(now_ns - v) : "0 ns");
  }
  return "";
}

int64_t Delta(const RuntimeStats& a, const RuntimeStats& b, Stat s) {
  if (!a[s] || !b[s]) return 0;
  return static_cast<int64_t>(*b[s]) - static_cast<int64_t>(*a[s]);
}

std::string Or(const std::optional<uint64_t>& v, std::string (*f)(uint64_t)) { return v ? f(*v) : "-"; }

}  // namespace

std::string UtcTime(uint64_t unix_ns) {
  std::time_t t = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FormatRuntimeStatsText(pid_t pid, const RuntimeStats& s) {
  std::string out = fmt::format("process {} ({}), {}\n", pid, s.go_version, UtcTime(s.unix_ns));
  for (const StatInfo& info : RuntimeStatInfo()) {
    const auto& v = s[info.stat];
    out += fmt::format("  {:<14}{}\n", info.name, v ? Value(info, *v, s.unix_ns) : fmt::format("{:>12}", "absent"));
  }
  out += fmt::format("  {:<14}{:>12}\n", "GCCPUFraction",
                     s.gc_cpu_fraction ? fmt::format("{:.6f}", *s.gc_cpu_fraction) : "absent");
  if (!s.recent_pauses_ns.empty()) {
    out += "  last pauses   ";
    for (size_t i = 0; i < std::min<size_t>(s.recent_pauses_ns.size(), 8); i++)
      out += (i ? ", " : "") + Duration(s.recent_pauses_ns[i]);
    out += " (newest first)\n";
  }
  for (const auto& [name, why] : s.absent) out += fmt::format("  {} absent: {}\n", name, why);
  return out;
}

nlohmann::json RuntimeStatsJson(pid_t pid, const RuntimeStats& s) {
  nlohmann::json stats = nlohmann::json::object();
  for (const StatInfo& info : RuntimeStatInfo()) {
    const auto& v = s[info.stat];
    stats[std::string(info.name)] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  }
  stats["GCCPUFraction"] = s.gc_cpu_fraction ? nlohmann::json(*s.gc_cpu_fraction) : nlohmann::json(nullptr);
  nlohmann::json absent = nlohmann::json::object();
  for (const auto& [name, why] : s.absent) absent[name] = why;
  return {{"schema_version", kOutputSchemaVersion},
          {"pid", pid},
          {"go_version", s.go_version},
          {"unix_ns", s.unix_ns},
          {"stats", std::move(stats)},
          {"recent_pauses_ns", s.recent_pauses_ns},
          {"absent", std::move(absent)}};
}

constexpr const char* kWatchColumns = "{:<20} {:>10} {:>11} {:>10} {:>10} {:>12} {:>9} {:>11} {:>9} {:>11} {:>7}\n";

std::string RuntimeStatsWatchHeader() {
  return fmt::format(kWatchColumns, "time (UTC)", "HeapAlloc", "change", "HeapInuse", "Sys", "HeapObjects", "change",
                     "NumGC", "lastPause", "goroutines", "change");
}

std::string RuntimeStatsWatchLine(const RuntimeStats& prev, const RuntimeStats& cur) {
  auto count = [](uint64_t v) { return std::to_string(v); };
  auto change = [&](Stat s) { return cur[s] && prev[s] ? fmt::format("{:+d}", Delta(prev, cur, s)) : "-"; };
  std::string gcs = cur[Stat::kNumGC] ? fmt::format("{} ({})", *cur[Stat::kNumGC], change(Stat::kNumGC)) : "-";
  return fmt::format(kWatchColumns, UtcTime(cur.unix_ns), Or(cur[Stat::kHeapAlloc], HumanBytes),
                     cur[Stat::kHeapAlloc] && prev[Stat::kHeapAlloc] ? SignedBytes(Delta(prev, cur, Stat::kHeapAlloc)) : "-",
                     Or(cur[Stat::kHeapInuse], HumanBytes), Or(cur[Stat::kSys], HumanBytes), Or(cur[Stat::kHeapObjects], +count),
                     change(Stat::kHeapObjects), gcs,
                     cur.recent_pauses_ns.empty() ? "-" : Duration(cur.recent_pauses_ns.front()),
                     Or(cur[Stat::kGoroutines], +count), change(Stat::kGoroutines));
}

}  // namespace goscope
