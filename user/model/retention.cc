#include "model/retention.h"

#include <algorithm>
#include <map>

namespace goscope {

std::vector<RootTotal> RetainedByRoot(const Retention& r) {
  std::map<std::string, RootTotal> by_root;
  for (const RetainedPath& p : r.paths) {
    if (p.frames.empty()) continue;
    RootTotal& t = by_root[p.frames.front()];
    t.root = p.frames.front();
    t.bytes += p.bytes;
    t.objects += p.objects;
  }
  std::vector<RootTotal> out;
  for (auto& [root, t] : by_root) out.push_back(std::move(t));
  std::stable_sort(out.begin(), out.end(), [](const RootTotal& a, const RootTotal& b) { return a.bytes > b.bytes; });
  return out;
}

}  // namespace goscope
