#include "agent/diagnosis_bundle.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "output/goroutine_format.h"
#include "output/output_schema.h"
#include "output/runtime_stats_format.h"

namespace goscope {
namespace {

std::string Label(const AgentProcess& p, const std::string& name) {
  for (const auto& [k, v] : p.labels())
    if (k == name) return v;
  return "";
}

}  // namespace

std::vector<BundleFile> DiagnosisBundle(const AgentProcess& p, const GrowthRule& rule, const GrowthVerdict& verdict) {
  const std::deque<RuntimeStats>& series = p.stats();
  const uint64_t now_ns = series.empty() ? 0 : series.back().unix_ns;
  std::vector<BundleFile> files = {
      {"goroutines.txt", FormatGoroutinesText(p.snapshot())},
      {"goroutines.pb.gz", p.GoroutineProfile().SerializeGzipped()},
      {"heap.pb.gz", p.HeapProfile().SerializeGzipped()},
      {"leaks.json", p.LeaksJson()},
  };
  nlohmann::json readings = nlohmann::json::array();
  for (const RuntimeStats& s : series) readings.push_back(RuntimeStatsJson(p.pid(), s));
  files.push_back({"stats.json", nlohmann::json{{"schema_version", kOutputSchemaVersion},
                                                {"pid", p.pid()},
                                                {"readings", std::move(readings)}}
                                     .dump(1) +
                                     "\n"});
  const auto& before = p.baseline();
  if (before) {
    files.push_back({"goroutines-before.pb.gz", before->goroutines});
    files.push_back({"heap-before.pb.gz", before->heap});
  }

  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [k, v] : p.labels()) labels[k] = v;
  nlohmann::json names = nlohmann::json::array();
  for (const BundleFile& f : files) names.push_back(f.name);
  names.push_back("summary.txt");
  names.push_back("summary.json");
  nlohmann::json summary = {
      {"schema_version", kOutputSchemaVersion},
      {"pid", p.pid()},
      {"exe", Label(p, "exe")},
      {"comm", p.comm()},
      {"go_version", Label(p, "go_version")},
      {"labels", std::move(labels)},
      {"unix_ns", now_ns},
      {"rule", rule.Describe()},
      {"why", verdict.why},
      {"baseline_unix_ns", before ? nlohmann::json(before->unix_ns) : nlohmann::json(nullptr)},
      {"heap_sampling_rate", p.heap_rate()},
      {"files", std::move(names)},
  };

  std::string text = fmt::format(
      "goscope diagnosis bundle\n\n"
      "process   {} ({}, {}, {})\n"
      "at        {}\n"
      "rule      {}\n"
      "fired     {}\n\n"
      "goroutines.txt     every goroutine, as goroutine?debug=2\n"
      "goroutines.pb.gz   goroutine profile     go tool pprof goroutines.pb.gz\n"
      "heap.pb.gz         heap profile: Go's own, since its sampler ran (as heap?debug=0)\n{}"
      "leaks.json         leak-suspect groups: creation site, blocked stack, count\n"
      "stats.json         the runtime-stats readings the rule looked at, oldest first\n",
      p.pid(), p.comm(), Label(p, "exe"), Label(p, "go_version"), UtcTime(now_ns), rule.Describe(), verdict.why,
      p.heap_rate() > 0 ? ""
                        : "                   empty: the program's heap sampler is off (MemProfileRate 0)\n"
                          "                   and the agent may not switch it on (allow_write false, --no-write)\n");
  if (before)
    text += fmt::format(
        "goroutines-before.pb.gz, heap-before.pb.gz   the same at {}, before the growth:\n"
        "                   go tool pprof -base heap-before.pb.gz heap.pb.gz shows what grew\n",
        UtcTime(before->unix_ns));
  else
    text += "(no profiles from before the growth: the process grew from the agent's first look at it)\n";
  files.push_back({"summary.txt", std::move(text)});
  files.push_back({"summary.json", summary.dump(1) + "\n"});
  return files;
}

}  // namespace goscope
