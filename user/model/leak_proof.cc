#include "model/leak_proof.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace goscope {

std::vector<ProvenLeakGroup> GroupProvenLeaks(const LeakProof& proof, const std::vector<Goroutine>& snapshot) {
  std::unordered_map<uint64_t, const Goroutine*> by_goid;
  for (const Goroutine& g : snapshot) by_goid[g.goid] = &g;
  std::map<std::string, ProvenLeakGroup> groups;
  for (const ProvenLeak& l : proof.leaked) {
    auto it = by_goid.find(l.goid);
    if (it == by_goid.end()) continue;
    const Goroutine& g = *it->second;
    std::string key = l.wait_reason + "\n";
    if (g.created_by) key += g.created_by->function + ":" + std::to_string(g.created_by->line);
    for (const Frame& f : g.stack.frames()) key += "\n" + f.function + ":" + std::to_string(f.line);
    ProvenLeakGroup& grp = groups[key];
    if (grp.count == 0) {
      grp.wait_reason = l.wait_reason;
      if (g.created_by) grp.created_by = *g.created_by;
      grp.blocked_stack = g.stack.frames();
    }
    grp.count++;
    grp.goids.push_back(l.goid);
    if (l.runtime_found) grp.runtime_found++;
  }
  std::vector<ProvenLeakGroup> out;
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  std::stable_sort(out.begin(), out.end(),
                   [](const ProvenLeakGroup& a, const ProvenLeakGroup& b) { return a.count > b.count; });
  return out;
}

}  // namespace goscope
