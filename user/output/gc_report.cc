#include "output/gc_report.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace goscope {
namespace {

// Go's itoaDiv (runtime/mgc.go): val / 10^dec with exactly dec decimals.
std::string ItoaDiv(uint64_t val, int dec) {
  char buf[32];
  int i = sizeof(buf) - 1;
  int idec = i - dec;
  while (val >= 10 || i >= idec) {
    buf[i--] = static_cast<char>('0' + val % 10);
    if (i == idec) buf[i--] = '.';
    val /= 10;
  }
  buf[i] = static_cast<char>('0' + val);
  return std::string(buf + i, buf + sizeof(buf));
}

uint64_t Quantile(const std::vector<uint64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest value with at least q of the values at or below it.
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

std::string FormatNsAsMs(uint64_t ns) {
  if (ns >= 10'000'000) return ItoaDiv(ns / 1'000'000, 0);
  uint64_t x = ns / 1000;
  if (x == 0) return "0";
  int dec = 3;
  while (x >= 100) {
    x /= 10;
    dec--;
  }
  return ItoaDiv(x, dec);
}

std::string GcCycleLine(const GcCycle& c) {
  std::string at = c.since_start_ns ? fmt::format(" @{}s", ItoaDiv(*c.since_start_ns / 1'000'000, 3)) : "";
  return fmt::format("gc {}{}: {}+{}+{} ms clock, {}->{}->{} MB, trigger {}{}", c.n, at,
                     FormatNsAsMs(c.mark_ns - c.start_ns), FormatNsAsMs(c.mark_term_ns - c.mark_ns),
                     FormatNsAsMs(c.end_ns - c.mark_term_ns), c.heap_start >> 20, c.heap_end >> 20,
                     c.heap_marked >> 20, GcTriggerName(c.trigger), c.forced ? " (forced)" : "");
}

nlohmann::json GcCycleJson(const GcCycle& c) {
  using nlohmann::json;
  json pauses = json::array();
  for (const auto& p : c.pauses) pauses.push_back(p.duration_ns);
  return {
      {"n", c.n},
      {"start_ns", c.start_ns},
      {"since_start_ns", c.since_start_ns ? json(*c.since_start_ns) : json(nullptr)},
      {"trigger", c.trigger == GcTrigger::kUnknown ? json(nullptr) : json(GcTriggerName(c.trigger))},
      {"forced", c.forced},
      {"clock_ns",
       {{"sweep_termination", c.mark_ns - c.start_ns},
        {"concurrent_mark", c.mark_term_ns - c.mark_ns},
        {"mark_termination", c.end_ns - c.mark_term_ns}}},
      {"pauses_ns", pauses},
      {"pause_total_ns", c.pause_total_ns},
      {"duration_ns", c.end_ns - c.start_ns},
      {"heap_start_bytes", c.heap_start},
      {"heap_end_bytes", c.heap_end},
      {"heap_marked_bytes", c.heap_marked},
  };
}

nlohmann::json GcPauseQuantiles(const std::vector<GcCycle>& cycles) {
  std::vector<uint64_t> d;
  uint64_t total = 0;
  for (const auto& c : cycles)
    for (const auto& p : c.pauses) d.push_back(p.duration_ns), total += p.duration_ns;
  std::sort(d.begin(), d.end());
  return {{"count", d.size()},
          {"p50", Quantile(d, 0.50)},
          {"p90", Quantile(d, 0.90)},
          {"p99", Quantile(d, 0.99)},
          {"max", d.empty() ? 0 : d.back()},
          {"total", total}};
}

nlohmann::json GcSummaryJson(const std::vector<GcCycle>& cycles) {
  std::vector<const GcCycle*> sorted;
  for (const auto& c : cycles) sorted.push_back(&c);
  std::stable_sort(sorted.begin(), sorted.end(), [](const GcCycle* a, const GcCycle* b) { return a->n < b->n; });
  nlohmann::json list = nlohmann::json::array();
  std::map<std::string, uint64_t> triggers;
  uint64_t forced = 0;
  for (const GcCycle* c : sorted) {
    list.push_back(GcCycleJson(*c));
    triggers[std::string(GcTriggerName(c->trigger))]++;
    if (c->forced) forced++;
  }
  return {{"gc_cycles", cycles.size()},
          {"gc_forced_cycles", forced},
          {"gc_pause_ns", GcPauseQuantiles(cycles)},
          {"gc_triggers", triggers},
          {"gc_cycle_list", list}};
}

nlohmann::json GcTraceEvents(int pid, int tid, uint64_t origin_ns, const std::vector<GcCycle>& cycles,
                             const std::vector<StwPause>& stw) {
  using nlohmann::json;
  json events = json::array();
  events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", tid},
                    {"args", {{"name", "garbage collector"}}}});
  auto us = [&](uint64_t ns) { return ns > origin_ns ? static_cast<double>(ns - origin_ns) / 1000.0 : 0.0; };
  auto slice = [&](const std::string& name, const char* cat, uint64_t start, uint64_t end, json args) {
    double dur = end > start ? static_cast<double>(end - start) / 1000.0 : 0.0;
    events.push_back({{"ph", "X"}, {"cat", cat}, {"name", name}, {"pid", pid}, {"tid", tid}, {"ts", us(start)},
                      {"dur", dur}, {"args", std::move(args)}});
  };
  for (const auto& c : cycles) {
    json args = {{"n", c.n},
                 {"trigger", GcTriggerName(c.trigger)},
                 {"forced", c.forced},
                 {"heap_start_bytes", c.heap_start},
                 {"heap_end_bytes", c.heap_end},
                 {"heap_marked_bytes", c.heap_marked},
                 {"pause_total_ns", c.pause_total_ns}};
    slice(fmt::format("GC {}", c.n), "gc", c.start_ns, c.end_ns, args);
    for (const auto& p : c.pauses)
      slice(p.mark_termination ? "STW mark termination" : "STW sweep termination", "gc,stw", p.start_ns,
            p.start_ns + p.duration_ns, {{"n", c.n}, {"duration_ns", p.duration_ns}});
  }
  // Pauses of other reasons. The probes also time the GC's own pauses: skip
  // those (by reason from go1.21, by overlap with a cycle's pause before).
  auto in_gc_pause = [&](const StwPause& s) {
    if (s.reason == 1 || s.reason == 2) return true;  // stwGCMarkTerm, stwGCSweepTerm
    if (s.reason >= 0) return false;
    for (const auto& c : cycles)
      for (const auto& p : c.pauses)
        if (s.start_ns < p.start_ns + p.duration_ns && s.end_ns > p.start_ns) return true;
    return false;
  };
  for (const auto& s : stw) {
    if (in_gc_pause(s)) continue;
    std::string name = s.reason_name.empty() ? std::string("STW") : "STW " + s.reason_name;
    json args = {{"duration_ns", s.end_ns - s.start_ns}};
    if (s.reason >= 0) args["reason"] = s.reason;
    if (s.goid) args["goid"] = s.goid;
    slice(name, "stw", s.start_ns, s.end_ns, args);
  }
  return events;
}

}  // namespace goscope
