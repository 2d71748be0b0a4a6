// Chrome trace event JSON (opens in Perfetto and chrome://tracing): each
// goroutine's life as a span, on one track per creation site.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/goroutine_lifecycle.h"

namespace goscope {

// site_name(g): the track a goroutine belongs on ("created by F at file:line");
// func_name(g): the span's name (the goroutine's function).
// The document ({"traceEvents": [...]}); other tracks (GC) may be appended to traceEvents.
nlohmann::json TimelineJson(int pid, const GoroutineLifecycle& lifecycle, uint64_t end_ns,
                         const std::function<std::string(const TrackedGoroutine&)>& site_name,
                         const std::function<std::string(const TrackedGoroutine&)>& func_name);

}  // namespace goscope
