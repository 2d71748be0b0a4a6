#include "output/retention_format.h"

#include <algorithm>

#include <fmt/format.h>

#include "output/human_units.h"

namespace goscope {

PprofProfile RetentionProfile(const Retention& r) {
  PprofProfile p({{"inuse_objects", "count"}, {"inuse_space", "bytes"}});
  p.set_default_sample_type("inuse_space");
  p.add_comment(fmt::format("goscope retain: process {} ({}), reachable heap by the chain that keeps it, "
                            "root at the bottom",
                            r.pid, r.go_version));
  for (const RetainedPath& path : r.paths) {
    std::vector<std::string> leaf_first(path.frames.rbegin(), path.frames.rend());
    p.add_named_sample(leaf_first, {static_cast<int64_t>(path.objects), static_cast<int64_t>(path.bytes)});
  }
  return p;
}

std::string RetentionSummary(const Retention& r, const std::string& profile_path, size_t top) {
  std::string out = fmt::format("process {} ({}): stopped {:.1f} ms\n", r.pid, r.go_version, r.pause_seconds * 1000);
  out += fmt::format("heap: {} in spans ({} object slots); reachable: {} in {} objects ({} typed by the runtime)\n",
                     HumanBytes(r.heap_bytes), r.heap_objects, HumanBytes(r.reachable_bytes), r.reachable_objects,
                     r.typed_objects);
  out += fmt::format("goroutine stacks: {} by their stack maps, {} read conservatively\n", r.stacks_precise,
                     r.stacks_conservative);
  if (r.paths_cut) out += fmt::format("{} objects counted at a shallower chain (depth or chain limit)\n", r.paths_cut);
  for (const std::string& note : r.notes) out += "note: " + note + "\n";
  std::vector<RootTotal> roots = RetainedByRoot(r);
  out += fmt::format("\nroots retaining most ({} of {}):\n", std::min(top, roots.size()), roots.size());
  for (size_t i = 0; i < roots.size() && i < top; i++)
    out += fmt::format("  {:>10}  {:>9} objects  {}\n", HumanBytes(roots[i].bytes), roots[i].objects, roots[i].root);
  out += fmt::format("\nprofile: {}   (go tool pprof -top {}; -http=: for a graph)\n", profile_path, profile_path);
  return out;
}

}  // namespace goscope
