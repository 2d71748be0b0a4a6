// What keeps memory alive, for people and for pprof: the retention chains as a
// profile `go tool pprof` reads (each sample a chain, root at the bottom of the
// stack, the retained objects' type at its top; inuse_space and inuse_objects),
// and a short summary. Knows nothing of how the chains were found.
#pragma once
#include <string>

#include "model/retention.h"
#include "output/pprof_profile.h"

namespace goscope {

PprofProfile RetentionProfile(const Retention& r);

// The reading (pause, heap, what was reached) and the `top` roots that
// retain most; profile_path is named with how to open it.
std::string RetentionSummary(const Retention& r, const std::string& profile_path, size_t top = 10);

}  // namespace goscope
