#include "model/init_report.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "go_names.h"

namespace goscope {
namespace {

std::string PackageOf(const std::vector<std::string>& names, int64_t fn) {
  if (fn < 0 || static_cast<size_t>(fn) >= names.size()) return "";
  return std::string(FunctionPackage(names[fn]));
}

}  // namespace

InitReport BuildInitReport(const std::vector<InitMark>& marks, const std::vector<std::string>& function_names,
                           const std::vector<HeapExactRecord>& records, const std::vector<GcCycle>& cycles,
                           uint64_t start_ns) {
  InitReport r;
  r.start_ns = start_ns;
  std::map<std::string, size_t> index;
  InitPackage* open = nullptr;
  auto close = [&](uint64_t ts) {
    if (open) open->end_ns = ts;
    open = nullptr;
  };
  for (const InitMark& m : marks) {
    if (r.main_ns) break;
    if (m.mark == HeapInitEvent::kMarkMain) {
      close(m.ts_ns);
      r.main_ns = m.ts_ns;
    } else if (m.mark == HeapInitEvent::kMarkRuntimeInitDone) {
      close(m.ts_ns);
    } else {
      std::string pkg = PackageOf(function_names, m.mark);
      if (open && open->package == pkg) continue;  // the package's next init function
      close(m.ts_ns);
      auto [it, added] = index.try_emplace(pkg, r.packages.size());
      if (added) r.packages.push_back(InitPackage{pkg});
      open = &r.packages[it->second];
      if (added) open->start_ns = m.ts_ns;
    }
  }
  // A program that never reached main.main (init failed, or it exited there):
  // the last package's time is unknown.
  for (const HeapExactRecord& rec : records) {
    if (rec.after_main) continue;
    r.startup_allocs += rec.count;
    r.startup_bytes += rec.bytes;
    auto it = index.find(PackageOf(function_names, rec.init_fn));
    if (rec.init_fn < 0 || it == index.end()) continue;
    InitPackage& p = r.packages[it->second];
    (rec.init_g ? p.allocs : p.background_allocs) += rec.count;
    (rec.init_g ? p.bytes : p.background_bytes) += rec.bytes;
  }
  for (const GcCycle& c : cycles) {
    if (r.main_ns && c.start_ns >= r.main_ns) continue;
    r.startup_gc_cycles++;
    r.startup_gc_pause_ns += c.pause_total_ns;
    for (InitPackage& p : r.packages)
      if (c.start_ns >= p.start_ns && (p.end_ns == 0 || c.start_ns < p.end_ns)) p.gc_cycles++;
  }
  return r;
}

std::vector<HeapRecord> InitHeapRecords(const std::vector<HeapExactRecord>& records,
                                        const std::vector<std::string>& function_names) {
  std::vector<HeapRecord> out;
  for (const HeapExactRecord& e : records) {
    if (e.after_main) continue;
    HeapRecord r;
    r.stack = e.stack;
    r.size = e.size;
    r.alloc_objects = static_cast<int64_t>(e.count);
    r.alloc_bytes = static_cast<int64_t>(e.bytes);
    std::string pkg = PackageOf(function_names, e.init_fn);
    r.labels.emplace_back("package", pkg.empty() ? "(runtime start-up)" : pkg);
    if (!pkg.empty() && !e.init_g) r.labels.emplace_back("goroutine", "background");
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace goscope
