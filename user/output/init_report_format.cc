#include "output/init_report_format.h"

#include <algorithm>

#include <fmt/format.h>

#include "output/output_schema.h"

namespace goscope {

nlohmann::json InitReportJson(const InitReport& r) {
  nlohmann::json packages = nlohmann::json::array();
  uint64_t allocs = 0, bytes = 0;
  double seconds = 0;
  for (const InitPackage& p : r.packages) {
    allocs += p.allocs;
    bytes += p.bytes;
    seconds += p.seconds();
    packages.push_back({{"package", p.package},
                        {"allocs", p.allocs},
                        {"bytes", p.bytes},
                        {"seconds", p.seconds()},
                        {"gc_cycles", p.gc_cycles},
                        {"start_seconds", p.start_ns > r.start_ns ? (p.start_ns - r.start_ns) / 1e9 : 0.0},
                        {"background_allocs", p.background_allocs},
                        {"background_bytes", p.background_bytes}});
  }
  return {
      {"schema_version", kOutputSchemaVersion},
      {"pid", r.pid},
      {"go_version", r.go_version},
      {"complete", r.complete()},
      {"init_total", {{"allocs", allocs}, {"bytes", bytes}, {"seconds", seconds}}},
      {"startup",
       {{"seconds", r.main_ns > r.start_ns ? (r.main_ns - r.start_ns) / 1e9 : 0.0},
        {"allocs", r.startup_allocs},
        {"bytes", r.startup_bytes},
        {"gc_cycles", r.startup_gc_cycles},
        {"gc_pause_seconds", r.startup_gc_pause_ns / 1e9}}},
      {"packages", packages},
  };
}

std::string InitReportText(const InitReport& r) {
  uint64_t allocs = 0, bytes = 0;
  for (const InitPackage& p : r.packages) allocs += p.allocs, bytes += p.bytes;
  std::string out = fmt::format("package init of pid {} ({}): {} packages, {} allocations, {} bytes\n", r.pid,
                                r.go_version, r.packages.size(), allocs, bytes);
  if (r.complete())
    out += fmt::format("start-up until main.main: {:.3f} ms, {} allocations, {} bytes (all goroutines), "
                       "{} GC cycles ({:.3f} ms paused)\n",
                       (r.main_ns - r.start_ns) / 1e6, r.startup_allocs, r.startup_bytes, r.startup_gc_cycles,
                       r.startup_gc_pause_ns / 1e6);
  else
    out += "main.main was never entered: the program ended during init; figures are what ran\n";
  out += "counts are the init goroutine's own, as GODEBUG=inittrace=1 prints them; \"background\" is\n"
         "what other goroutines allocated while the package initialized\n\n";
  std::vector<const InitPackage*> order;
  for (const InitPackage& p : r.packages) order.push_back(&p);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->bytes > b->bytes; });
  out += fmt::format("{:>12} {:>8} {:>10} {:>3}  {}\n", "bytes", "allocs", "ms", "gc", "package");
  for (const InitPackage* p : order) {
    out += fmt::format("{:>12} {:>8} {:>10.3f} {:>3}  {}", p->bytes, p->allocs, p->seconds() * 1e3, p->gc_cycles,
                       p->package);
    if (p->background_allocs)
      out += fmt::format("  (+{} bytes in {} allocations by background goroutines)", p->background_bytes,
                         p->background_allocs);
    out += "\n";
  }
  return out;
}

}  // namespace goscope
