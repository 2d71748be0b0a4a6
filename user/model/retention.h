// What keeps a process's heap alive: every reachable object counted once,
// under the chain of references that reached it first (a root, the objects on
// the way, the object's own type). Plain data: process/retention_walker
// computes it, output/retention_format writes it (a pprof profile, a summary).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace goscope {

struct RetainedPath {
  // The root first ("main.cache", "main.serve (frame)" then "sp+0x18"), then
  // the type of each object on the way, the retained objects' own type last.
  std::vector<std::string> frames;
  uint64_t bytes = 0;
  uint64_t objects = 0;
};

struct Retention {
  pid_t pid = 0;
  std::string go_version;
  std::vector<RetainedPath> paths;  // bytes descending
  double pause_seconds = 0;
  uint64_t heap_bytes = 0;          // in-use span bytes
  uint64_t heap_objects = 0;        // object slots in them
  uint64_t reachable_bytes = 0;     // sum over paths
  uint64_t reachable_objects = 0;
  uint64_t typed_objects = 0;       // reachable objects whose type the runtime recorded
  uint64_t paths_cut = 0;           // objects counted at a shallower path (depth or path limit)
  size_t stacks_precise = 0, stacks_conservative = 0;
  std::vector<std::string> notes;
};

struct RootTotal {
  std::string root;
  uint64_t bytes = 0, objects = 0;
};
// The bytes and objects each root (a path's first frame) retains, largest first.
std::vector<RootTotal> RetainedByRoot(const Retention& r);

}  // namespace goscope
