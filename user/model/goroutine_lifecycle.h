// The live goroutine table of a traced process, fed by creation (and, when
// probed, exit) events and reconciled with snapshots: who exists, since when,
// created where. Keyed by goid, never by g address (the runtime recycles g
// structs). Goids are never reused, so a goroutine missing from a complete
// snapshot has exited: exits need no probe, only their time does.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "model/goroutine.h"


namespace goscope {

struct TrackedGoroutine {
  uint64_t goid = 0;
  std::optional<uint64_t> created_ns;  // unknown for goroutines that predate the attach
  std::optional<uint64_t> exited_ns;
  // The exit was not probed but found by a snapshot: it happened after the
  // previous snapshot and before exited_ns.
  bool exit_inferred = false;
  uint64_t gopc = 0;     // runtime address of the go statement
  uint64_t startpc = 0;  // runtime address of the goroutine's function
  std::optional<uint64_t> parent_goid;
  // Runtime return addresses, innermost first; null if none was walked. Shared
  // by the goroutines of one go statement (the probe walks each one once).
  std::shared_ptr<const std::vector<uint64_t>> creation_stack;
};

class GoroutineLifecycle {
 public:
  explicit GoroutineLifecycle(uint64_t start_ns, size_t max_finished = 50000)
      : start_ns_(start_ns), max_finished_(max_finished) {}

  void OnEvent(const GoroutineEvent& e);
  // Goroutines seen in a snapshot that no event has told us about existed before the attach.
  void Seed(const std::vector<Goroutine>& snapshot);
  // A complete snapshot taken at now_ns, after every event up to it was
  // drained: tracked goroutines it lacks have exited (exit_inferred). Without
  // creation probes (count_new_as_created), goroutines it shows for the first
  // time were created since the previous one (created_ns = now_ns); with
  // them, such a goroutine's event is still on its way and will add it.
  void Reconcile(const std::vector<Goroutine>& snapshot, uint64_t now_ns, bool count_new_as_created);

  uint64_t start_ns() const { return start_ns_; }
  uint64_t created() const { return created_; }
  uint64_t exited() const { return exited_; }
  // Exits of goroutines created before the attach (they have no creation event).
  uint64_t exited_preexisting() const { return exited_preexisting_; }
  const std::map<uint64_t, TrackedGoroutine>& live() const { return live_; }
  const TrackedGoroutine* Find(uint64_t goid) const;
  // Goroutines that both started and ended in the window, oldest first, capped.
  const std::vector<TrackedGoroutine>& finished() const { return finished_; }
  uint64_t finished_dropped() const { return finished_dropped_; }

 private:
  // Moves a live goroutine to the finished ones (or counts a pre-existing one).
  void Finish(std::map<uint64_t, TrackedGoroutine>::iterator it, uint64_t exited_ns, bool inferred);
  // Tracks a goroutine a snapshot shows (no creation time: the caller knows).
  TrackedGoroutine& Adopt(const Goroutine& s);

  uint64_t start_ns_;
  size_t max_finished_;
  uint64_t created_ = 0, exited_ = 0, exited_preexisting_ = 0, finished_dropped_ = 0;
  std::map<uint64_t, TrackedGoroutine> live_;
  std::vector<TrackedGoroutine> finished_;
  // The latest creation stack of each go statement (gopc), for the events
  // that carry none.
  std::unordered_map<uint64_t, std::shared_ptr<const std::vector<uint64_t>>> site_stacks_;
};

}  // namespace goscope
