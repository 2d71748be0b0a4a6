#include "output/timeline.h"

#include <map>

#include <nlohmann/json.hpp>

namespace goscope {

void WriteTimelineJson(AtomicFileWriter& out, int pid, const GoroutineLifecycle& lifecycle, uint64_t end_ns,
                       const std::function<std::string(const TrackedGoroutine&)>& site_name,
                       const std::function<std::string(const TrackedGoroutine&)>& func_name,
                       const nlohmann::json& more) {
  using nlohmann::json;
  bool first = true;
  auto emit = [&](const json& ev) {
    out.Write(first ? "\n" : ",\n");
    out.Write(ev.dump());
    first = false;
  };
  out.Write("{\"displayTimeUnit\":\"ms\",");
  if (lifecycle.finished_dropped())
    out.Write("\"otherData\":{\"spans_dropped\":" + std::to_string(lifecycle.finished_dropped()) + "},");
  out.Write("\"traceEvents\":[");
  std::map<std::string, int> tracks;  // creation site -> tid
  auto track = [&](const TrackedGoroutine& g) {
    auto [it, added] = tracks.emplace(site_name(g), static_cast<int>(tracks.size()) + 1);
    if (added)
      emit({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", it->second}, {"args", {{"name", it->first}}}});
    return it->second;
  };
  auto us = [&](uint64_t ns) { return ns > lifecycle.start_ns() ? (ns - lifecycle.start_ns()) / 1000.0 : 0.0; };
  auto span = [&](const TrackedGoroutine& g, bool live) {
    double start = g.created_ns ? us(*g.created_ns) : 0;
    double end = us(g.exited_ns.value_or(end_ns));
    json args = {{"goid", g.goid}};
    if (!g.created_ns) args["created"] = "before attach";
    if (live) args["live_at_end"] = true;
    // Not probed: the span ends at the snapshot that found it gone (attach --exit-times probes exits).
    if (g.exit_inferred) args["exit"] = "not probed: ended after the previous snapshot, before this end";
    const int tid = track(g);  // its track's name comes first
    emit({{"ph", "X"}, {"cat", "goroutine"}, {"name", func_name(g)}, {"pid", pid}, {"tid", tid},
          {"ts", start}, {"dur", std::max(0.0, end - start)}, {"args", args}});
  };
  emit({{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"args", {{"name", "goroutines"}}}});
  for (const auto& g : lifecycle.finished()) span(g, false);
  for (const auto& [goid, g] : lifecycle.live()) span(g, true);
  for (const json& ev : more) emit(ev);
  out.Write("\n]}\n");
}

}  // namespace goscope
