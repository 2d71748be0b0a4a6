// Chrome trace event JSON (opens in Perfetto and chrome://tracing): each
// goroutine's life as a span, on one track per creation site.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/goroutine_lifecycle.h"
#include "output/atomic_file.h"

namespace goscope {

// Writes the document ({"traceEvents": [...], ...}) to out an event at a
// time (a run can see hundreds of thousands of goroutines), then `more`
// events (other tracks: GC) at the end of traceEvents.
// site_name(g): the track a goroutine belongs on ("created by F at file:line");
// func_name(g): the span's name (the goroutine's function).
void WriteTimelineJson(AtomicFileWriter& out, int pid, const GoroutineLifecycle& lifecycle, uint64_t end_ns,
                       const std::function<std::string(const TrackedGoroutine&)>& site_name,
                       const std::function<std::string(const TrackedGoroutine&)>& func_name,
                       const nlohmann::json& more);

}  // namespace goscope
