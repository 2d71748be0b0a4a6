#include "output/leak_report_format.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "output/human_units.h"
#include "output/output_schema.h"

namespace goscope {
namespace {

nlohmann::json FramesJson(const std::vector<Frame>& frames) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& f : frames) a.push_back({{"function", f.function}, {"file", f.file}, {"line", f.line}});
  return a;
}

std::string FramesText(const std::vector<Frame>& frames) {
  std::string out;
  for (const auto& f : frames) out += fmt::format("    {}\n        {}:{}\n", f.function, f.file, f.line);
  return out;
}

// The kinds of thing a group's goroutines wait on, where known ("chan int").
std::set<std::string> BlockingTypes(const LeakProof& p, const ProvenLeakGroup& g) {
  std::set<std::string> out;
  for (const ProvenLeak& l : p.leaked)
    if (std::binary_search(g.goids.begin(), g.goids.end(), l.goid))
      for (const std::string& t : l.blocking_types)
        if (!t.empty()) out.insert(t);
  return out;
}

nlohmann::json ProofJson(const LeakProof& p, const std::vector<ProvenLeakGroup>& groups) {
  size_t leaked = 0;
  for (const auto& g : groups) leaked += g.count;
  nlohmann::json j = {{"schema_version", kOutputSchemaVersion},
                      {"pid", p.pid},
                      {"go_version", p.go_version},
                      {"goroutines", p.goroutines},
                      {"blocked", p.blocked},
                      {"leaked", leaked},
                      {"notes", p.notes},
                      {"pause_seconds", p.pause_seconds},
                      {"heap_bytes", p.heap_bytes},
                      {"heap_objects", p.heap_objects},
                      {"bytes_scanned", p.bytes_scanned},
                      {"objects_marked", p.objects_marked},
                      {"rounds", p.rounds},
                      {"stacks_precise", p.stacks_precise},
                      {"stacks_conservative", p.stacks_conservative},
                      {"system_stacks_precise", p.system_stacks_precise},
                      {"system_stacks_conservative", p.system_stacks_conservative}};
  std::map<uint64_t, const ProvenLeak*> by_goid;
  for (const auto& l : p.leaked) by_goid[l.goid] = &l;
  nlohmann::json a = nlohmann::json::array();
  for (const auto& g : groups) {
    nlohmann::json blocking = nlohmann::json::array();
    for (uint64_t goid : g.goids)
      if (auto it = by_goid.find(goid); it != by_goid.end())
        for (uint64_t b : it->second->blocking) blocking.push_back(fmt::format("{:#x}", b));
    a.push_back({{"count", g.count},
                 {"wait_reason", g.wait_reason},
                 {"created_by", g.created_by ? FramesJson({*g.created_by})[0] : nlohmann::json(nullptr)},
                 {"blocked_stack", FramesJson(g.blocked_stack)},
                 {"goids", g.goids},
                 {"blocking_objects", blocking},
                 {"blocking_types", BlockingTypes(p, g)},
                 {"runtime_found", g.runtime_found}});
  }
  j["groups"] = a;
  return j;
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
                        {"example_goids", s.goids},
                        {"proven", s.proven ? nlohmann::json(*s.proven) : nlohmann::json(nullptr)}});
  }
  j["suspects"] = suspects;
  j["proof"] = nullptr;
  if (r.proof) {
    j["proof"] = ProofJson(*r.proof, r.proven_groups);
    for (const char* k : {"schema_version", "pid", "go_version"}) j["proof"].erase(k);  // the report's own
  }
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string LeakReportText(const LeakReport& r) {
  std::string out = fmt::format("goroutine leak suspects in pid {} ({}), {} live goroutines, {:.1f}s window\n",
                                r.pid, r.go_version, r.live_goroutines, r.window_seconds);
  if (r.suspects.empty()) out += "\nno goroutines are parked in a blocking wait: no suspects.\n";
  int rank = 0;
  for (const auto& s : r.suspects) {
    out += fmt::format("\n#{}  {} goroutines [{}], growing {:.1f}/min, oldest {}{}{}\n", ++rank, s.count,
                       s.wait_reason, s.growth_per_minute,
                       s.oldest_age_seconds ? fmt::format("{:.0f}s", *s.oldest_age_seconds) : "unknown",
                       s.age_is_lower_bound ? " or more" : "",
                       !s.proven ? "" : *s.proven == 0 ? ", none proven leaked" : fmt::format(", {} proven leaked", *s.proven));
    out += "  blocked in:\n" + FramesText(s.blocked_stack);
    out += "  created at:\n" + FramesText(s.creation_stack);
  }
  if (r.proof) out += "\n" + LeakProofText(*r.proof, r.proven_groups);
  return out;
}

std::string LeakProofJson(const LeakProof& p, const std::vector<ProvenLeakGroup>& groups) {
  return ProofJson(p, groups).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string LeakProofText(const LeakProof& p, const std::vector<ProvenLeakGroup>& groups) {
  size_t leaked = 0;
  for (const auto& g : groups) leaked += g.count;
  std::string out = fmt::format(
      "goroutines proven leaked in pid {} ({}): {} in {} group{}, of {} goroutines ({} blocked on another goroutine)\n"
      "process stopped {:.1f} ms: {} of heap in use, {} read, {} objects reached, {} round{}\n",
      p.pid, p.go_version, leaked, groups.size(), groups.size() == 1 ? "" : "s", p.goroutines, p.blocked,
      p.pause_seconds * 1000, HumanBytes(p.heap_bytes), HumanBytes(p.bytes_scanned), p.objects_marked, p.rounds,
      p.rounds == 1 ? "" : "s");
  if (p.stacks_conservative)
    out += fmt::format("{} stack{} of goroutines that can run read word by word (running, or without stack maps): "
                       "a stale word there may hide a leak\n",
                       p.stacks_conservative, p.stacks_conservative == 1 ? "" : "s");
  if (groups.empty()) out += "\nno goroutine is proven leaked.\n";
  for (const auto& g : groups) {
    out += fmt::format("\n{} goroutine{} [{}]: can never run again{}\n", g.count, g.count == 1 ? "" : "s",
                       g.wait_reason,
                       g.runtime_found ? fmt::format(" ({} already found by the runtime)", g.runtime_found) : "");
    out += "  blocked in:\n" + FramesText(g.blocked_stack);
    if (std::set<std::string> types = BlockingTypes(p, g); !types.empty()) {
      std::string list;
      for (const std::string& t : types) list += (list.empty() ? "" : ", ") + t;
      out += "  waiting on: " + list + "\n";
    }
    if (g.created_by) out += "  created by:\n" + FramesText({*g.created_by});
    std::string ids;
    for (size_t i = 0; i < g.goids.size() && i < 10; i++) ids += fmt::format("{}{}", i ? " " : "", g.goids[i]);
    if (g.goids.size() > 10) ids += fmt::format(" ... ({} more)", g.goids.size() - 10);
    out += "  goroutines: " + ids + "\n";
  }
  for (const auto& n : p.notes) out += "\nnote: " + n + "\n";
  return out;
}

}  // namespace goscope
