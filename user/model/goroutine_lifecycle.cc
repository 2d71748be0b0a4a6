#include "model/goroutine_lifecycle.h"

#include <unordered_set>

namespace goscope {

void GoroutineLifecycle::OnEvent(const GoroutineEvent& e) {
  if (e.kind == GoroutineEvent::kCreate) {
    // A snapshot taken as the probes went on may have adopted it already.
    auto [it, added] = live_.try_emplace(e.goid);
    if (added) created_++;
    TrackedGoroutine& g = it->second;
    g.goid = e.goid;
    g.created_ns = e.ts_ns;
    g.gopc = e.gopc;
    g.startpc = e.startpc;
    if (e.parent_goid) g.parent_goid = e.parent_goid;
    else if (e.creator_goid) g.parent_goid = e.creator_goid;
    if (e.stack_of_site) {
      auto it = site_stacks_.find(e.gopc);
      g.creation_stack = it == site_stacks_.end() ? nullptr : it->second;
    } else if (!e.creation_stack.empty()) {
      auto stack = std::make_shared<const std::vector<uint64_t>>(e.creation_stack);
      site_stacks_[e.gopc] = stack;
      g.creation_stack = std::move(stack);
    } else {
      g.creation_stack = nullptr;
    }
    return;
  }
  auto it = live_.find(e.goid);
  if (it == live_.end()) {  // created before the attach and not seeded yet
    exited_++;
    exited_preexisting_++;
    return;
  }
  Finish(it, e.ts_ns, false);
}

void GoroutineLifecycle::Finish(std::map<uint64_t, TrackedGoroutine>::iterator it, uint64_t exited_ns,
                                bool inferred) {
  exited_++;
  if (!it->second.created_ns) {
    exited_preexisting_++;
    live_.erase(it);
    return;
  }
  TrackedGoroutine done = std::move(it->second);
  live_.erase(it);
  done.exited_ns = exited_ns;
  done.exit_inferred = inferred;
  if (finished_.size() < max_finished_) finished_.push_back(std::move(done));
  else finished_dropped_++;
}

void GoroutineLifecycle::Reconcile(const std::vector<Goroutine>& snapshot, uint64_t now_ns,
                                   bool count_new_as_created) {
  std::unordered_set<uint64_t> present;
  present.reserve(snapshot.size());
  for (const Goroutine& s : snapshot) {
    present.insert(s.goid);
    if (!count_new_as_created || live_.count(s.goid)) continue;
    created_++;
    Adopt(s).created_ns = now_ns;
  }
  for (auto it = live_.begin(); it != live_.end();) {
    auto next = std::next(it);
    if (!present.count(it->first)) Finish(it, now_ns, true);
    it = next;
  }
}

void GoroutineLifecycle::Seed(const std::vector<Goroutine>& snapshot) {
  for (const Goroutine& s : snapshot) {
    if (live_.count(s.goid)) continue;  // created after the probes went live: the event has more
    Adopt(s);
  }
}

TrackedGoroutine& GoroutineLifecycle::Adopt(const Goroutine& s) {
  TrackedGoroutine& g = live_[s.goid];
  g.goid = s.goid;
  g.gopc = s.gopc;
  g.startpc = s.startpc;
  g.parent_goid = s.parent_goid;
  return g;
}

const TrackedGoroutine* GoroutineLifecycle::Find(uint64_t goid) const {
  auto it = live_.find(goid);
  return it == live_.end() ? nullptr : &it->second;
}

}  // namespace goscope
