// Goroutines proven leaked: blocked on something nothing that can run still
// reaches, so nothing can ever wake them (the rule of Go 1.26's goroutineleak
// profile, computed from outside). Plain data: process/leak_prover computes
// it, output/leak_proof_format prints it.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/goroutine.h"

namespace goscope {

struct ProvenLeak {
  uint64_t goid = 0;
  std::string wait_reason;
  // What it waits on (channels; the semaphore word of a mutex, WaitGroup or
  // Cond), none for a nil channel or an empty select.
  std::vector<uint64_t> blocking;
  bool runtime_found = false;  // the runtime had already marked it leaked (_Gleaked)
  // What those are where goscope can tell ("chan main.job", from the channel's
  // element type), one per blocking address; "" where it cannot.
  std::vector<std::string> blocking_types;
};

struct LeakProof {
  pid_t pid = 0;
  std::string go_version;
  std::vector<ProvenLeak> leaked;  // by goid
  size_t goroutines = 0;           // user goroutines judged
  size_t blocked = 0;              // of those, blocked in a wait only another goroutine can end
  // Blocked goroutines goscope could not judge and so counted as able to run
  // (a reason each, e.g. sync.Cond waits before go1.26).
  std::vector<std::string> notes;
  // The reading: how long the process was stopped and what was read meanwhile.
  double pause_seconds = 0;
  uint64_t heap_bytes = 0;      // in-use span bytes
  uint64_t heap_objects = 0;    // object slots in them
  uint64_t bytes_scanned = 0;   // roots and reached objects read
  uint64_t objects_marked = 0;  // reached
  int rounds = 0;               // marking rounds until no blocked goroutine could run
  // Stacks of goroutines that can run, marked by the stack maps, and every
  // word (running, or a frame without a map): the second can hide leaks.
  size_t stacks_precise = 0;
  size_t stacks_conservative = 0;
  // Threads' system stacks (idle or scheduling Ms) whose frames beyond the
  // innermost two were marked by the stack maps, and those read word by word.
  size_t system_stacks_precise = 0;
  size_t system_stacks_conservative = 0;
};

// Proven-leaked goroutines that share a creation site and a blocked stack.
struct ProvenLeakGroup {
  size_t count = 0;
  std::string wait_reason;
  std::optional<Frame> created_by;
  std::vector<Frame> blocked_stack;
  std::vector<uint64_t> goids;  // all members, ascending
  size_t runtime_found = 0;     // members the runtime itself had marked leaked
};

// Groups proof.leaked using the goroutines of a snapshot taken after the
// proof (a leaked goroutine never runs again, so its stack is the same).
// Leaked goroutines missing from the snapshot (none should be) are left out.
std::vector<ProvenLeakGroup> GroupProvenLeaks(const LeakProof& proof, const std::vector<Goroutine>& snapshot);

}  // namespace goscope
