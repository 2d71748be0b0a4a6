// A goroutine snapshot as people and tools read it: Go's own dump formats
// (runtime/pprof's goroutine profile at debug=2 and debug=1), JSON, and a
// pprof goroutine profile that `go tool pprof` reads.
#pragma once
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "model/goroutine.h"
#include "output/pprof_profile.h"

namespace goscope {

struct GoroutineFormatOptions {
  // Also runtime-internal goroutines and runtime.* frames, as Go shows them
  // with GOTRACEBACK=system. Without it, what runtime/pprof shows: user
  // goroutines only, frames of unexported runtime functions hidden.
  bool all = false;
};

// Where the writers below put their text, piece by piece and in order, so
// that an output bigger than the snapshot need not be held whole.
using TextSink = std::function<void(std::string_view)>;

// Like goroutine?debug=2: one block per goroutine, frames with file:line,
// then "created by". Arguments are not read: every frame prints "(...)".
void WriteGoroutinesText(const Snapshot& snap, const GoroutineFormatOptions& opts, const TextSink& sink);
std::string FormatGoroutinesText(const Snapshot& snap, const GoroutineFormatOptions& opts = {});

// Like goroutine?debug=1: identical stacks collapsed with a count, largest
// first ("N @ pc pc ..." then "#\tpc\tfunc+off\tfile:line").
std::string FormatGoroutinesGrouped(const Snapshot& snap, const GoroutineFormatOptions& opts = {});

// {"pid", "go_version", "goroutines": [{"goid", "state", "wait_reason",
// "wait_seconds", "parent_goid", "created_by", "stack", "system", ...}]}: every
// goroutine (system ones marked), null where the runtime records nothing.
nlohmann::json GoroutinesJson(const Snapshot& snap);
// The same document as text (`goroutines --format json`), written one
// goroutine at a time, each on one line.
void WriteGoroutinesJson(const Snapshot& snap, const TextSink& sink);
std::string GoroutinesJsonText(const Snapshot& snap);

// A goroutine profile (sample type goroutine/count, identical stacks merged)
// with the snapshot's own frames; mappings: where the binary is loaded. Goroutines without a readable stack
// become samples with no frames and the label stack=unavailable.
PprofProfile GoroutinesPprof(const Snapshot& snap, const std::vector<BinaryMapping>& mappings,
                             const GoroutineFormatOptions& opts = {});

// Go's rule for which frames a default traceback shows (runtime.showfuncinfo
// at GOTRACEBACK=single): functions outside package runtime, exported runtime
// functions, and runtime.gopanic below the first frame.
bool GoShowsFrame(const std::string& function, bool first_frame);

}  // namespace goscope
