#include "model/goroutine_lifecycle.h"

namespace goscope {

void GoroutineLifecycle::OnEvent(const GoroutineEvent& e) {
  if (e.kind == GoroutineEvent::kCreate) {
    created_++;
    TrackedGoroutine& g = live_[e.goid];
    g.goid = e.goid;
    g.created_ns = e.ts_ns;
    g.gopc = e.gopc;
    g.startpc = e.startpc;
    if (e.parent_goid) g.parent_goid = e.parent_goid;
    else if (e.creator_goid) g.parent_goid = e.creator_goid;
    g.creation_stack = e.creation_stack;
    return;
  }
  exited_++;
  auto it = live_.find(e.goid);
  if (it == live_.end() || !it->second.created_ns) {
    exited_preexisting_++;
    if (it != live_.end()) live_.erase(it);
    return;
  }
  TrackedGoroutine done = std::move(it->second);
  live_.erase(it);
  done.exited_ns = e.ts_ns;
  if (finished_.size() < max_finished_) finished_.push_back(std::move(done));
  else finished_dropped_++;
}

void GoroutineLifecycle::Seed(const std::vector<Goroutine>& snapshot) {
  for (const Goroutine& s : snapshot) {
    if (live_.count(s.goid)) continue;  // created after the probes went live: the event has more
    TrackedGoroutine& g = live_[s.goid];
    g.goid = s.goid;
    g.gopc = s.gopc;
    g.startpc = s.startpc;
    g.parent_goid = s.parent_goid;
  }
}

const TrackedGoroutine* GoroutineLifecycle::Find(uint64_t goid) const {
  auto it = live_.find(goid);
  return it == live_.end() ? nullptr : &it->second;
}

}  // namespace goscope
