// The live goroutine table of an attach session, fed by lifecycle events and
// seeded by a snapshot: who exists, since when, created where. Keyed by goid,
// never by g address (the runtime recycles g structs).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "model/goroutine.h"


namespace goscope {

struct TrackedGoroutine {
  uint64_t goid = 0;
  std::optional<uint64_t> created_ns;  // unknown for goroutines that predate the attach
  std::optional<uint64_t> exited_ns;
  uint64_t gopc = 0;     // runtime address of the go statement
  uint64_t startpc = 0;  // runtime address of the goroutine's function
  std::optional<uint64_t> parent_goid;
  std::vector<uint64_t> creation_stack;  // runtime return addresses, innermost first; may be empty
};

class GoroutineLifecycle {
 public:
  explicit GoroutineLifecycle(uint64_t start_ns, size_t max_finished = 50000)
      : start_ns_(start_ns), max_finished_(max_finished) {}

  void OnEvent(const GoroutineEvent& e);
  // Goroutines seen in a snapshot that no event has told us about existed before the attach.
  void Seed(const std::vector<Goroutine>& snapshot);

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
  uint64_t start_ns_;
  size_t max_finished_;
  uint64_t created_ = 0, exited_ = 0, exited_preexisting_ = 0, finished_dropped_ = 0;
  std::map<uint64_t, TrackedGoroutine> live_;
  std::vector<TrackedGoroutine> finished_;
};

}  // namespace goscope
