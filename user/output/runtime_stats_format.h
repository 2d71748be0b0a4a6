// Runtime statistics as output: a block for people, a JSON document for
// machines, and `--watch`'s one line per interval with what changed. Knows
// nothing of how the figures were read.
#pragma once
#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

#include "model/runtime_stats.h"

namespace goscope {

// An instant as "2026-12-05T07:15:00Z", as readings are stamped.
std::string UtcTime(uint64_t unix_ns);

// Every stat by its Go name with value and unit, the recent pauses, and why
// any absent stat is absent.
std::string FormatRuntimeStatsText(pid_t pid, const RuntimeStats& s);

// {"schema_version", "pid", "go_version", "unix_ns", "stats": {Go name: value
// or null, ..., "GCCPUFraction"}, "recent_pauses_ns": [...], "absent": {Go name: why}}.
nlohmann::json RuntimeStatsJson(pid_t pid, const RuntimeStats& s);

// --watch: a header naming the columns, then one line per reading with the
// change since the previous reading where a trend shows.
std::string RuntimeStatsWatchHeader();
std::string RuntimeStatsWatchLine(const RuntimeStats& prev, const RuntimeStats& cur);

}  // namespace goscope
