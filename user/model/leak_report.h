// Leak suspects: goroutines with the same creation site and the same blocked
// stack, parked in a wait that only another goroutine can end (channel,
// select, mutex, semaphore, cond; not IO or sleep), ranked by how fast the
// group grew during the window, then by size and age.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/goroutine.h"
#include "model/goroutine_lifecycle.h"
#include "model/leak_proof.h"

namespace goscope {

struct LeakSuspect {
  size_t count = 0;
  double growth_per_minute = 0;  // members created during the window and still blocked at its end
  std::string wait_reason;
  std::optional<double> oldest_age_seconds;
  bool age_is_lower_bound = false;  // some members predate the attach: at least this old
  std::vector<Frame> creation_stack;  // the go statement's stack (full when traced, else its frame)
  std::vector<Frame> blocked_stack;
  std::vector<uint64_t> goids;  // a few members, for the reader to look up
  // Members proven leaked (same blocked stack and creation site), when a
  // proof was run: a suspect whose count equals it is a leak, not a pool.
  std::optional<size_t> proven;
};

struct LeakReport {
  int pid = 0;
  std::string go_version;
  size_t live_goroutines = 0;
  double window_seconds = 0;
  std::vector<LeakSuspect> suspects;  // best suspect first
  std::optional<LeakProof> proof;     // when one was asked for
  std::vector<ProvenLeakGroup> proven_groups;
};

// Whether a wait reason is one a leaked goroutine sits in.
bool IsBlockingWait(const std::string& wait_reason);

// snapshot: the goroutines at the end of the window (user goroutines only are considered).
// creation_stack_of(goid): symbolized full creation stack if the lifecycle saw it created.
LeakReport FindLeakSuspects(const std::vector<Goroutine>& snapshot, const GoroutineLifecycle& lifecycle,
                            uint64_t end_ns, const std::function<std::vector<Frame>(const TrackedGoroutine&)>& creation_stack_of);

// Adds a proof to the report and counts, for each suspect, its members
// proven leaked.
void AddProof(LeakReport& report, LeakProof proof, std::vector<ProvenLeakGroup> groups);

}  // namespace goscope
