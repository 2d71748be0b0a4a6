// The node agent's configuration file, and its one decision: which Go
// processes on the host to profile.
//
//   {
//     "include": [{"cgroup": "/system.slice/*"}, {"exe": "*/caddy"}],
//     "exclude": [{"comm": "go-build*"}, {"exe": "/usr/lib/go-*/*"}],
//     "allow_write": true,
//     "heap_rate": 524288,
//     "interval_seconds": 60,
//     "profile_dir": "/var/lib/goscope",
//     "retention": {"max_bytes": 1073741824, "max_age_seconds": 604800},
//     "creation_stacks": {"mode": "on_demand", "window_seconds": 30, "cooldown_seconds": 600},
//     "runtime_stats": {"interval_seconds": 15},
//     "bundles": {"enabled": true, "cooldown_seconds": 3600, "max_bytes": 268435456,
//                 "rules": [{"stat": "NumGoroutine", "floor": 5000, "growth_percent": 30,
//                            "over_seconds": 300, "readings": 3}]},
//     "listen": "127.0.0.1:9464",
//     "token_file": "/etc/goscope/token"
//   }
//
// Strict JSON: an unknown or repeated key, a wrong type or an out-of-range
// value is an Error naming the key and its line, so a typo never silently
// turns a rule off. Every key is optional.
//
// Rules are fnmatch(3) globs without FNM_PATHNAME: '*' also matches '/', so
// "*/caddy" is caddy wherever it is installed and "/kubepods.slice/*" is every
// cgroup below that one. A rule matches a process when all the fields it gives
// match; it must give at least one.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/growth_rule.h"

namespace goscope {

struct ProcessRule {
  std::string exe;     // glob over the executable's path ("" = any)
  std::string comm;    // glob over /proc/PID/comm
  std::string cgroup;  // glob over the cgroup path (CgroupLabels::cgroup)

  // "exe=*/caddy comm=caddy", for logs.
  std::string Describe() const;
};

struct RetentionPolicy {
  uint64_t max_bytes = uint64_t{1} << 30;    // profile_dir size cap; 0 = no cap
  uint64_t max_age_seconds = 7 * 24 * 3600;  // delete profiles older than this; 0 = keep
};

// When the agent probes goroutine creation (a uprobe hit per goroutine, which
// a busy server pays on every request) to get full creation stacks. The rest
// of the time goroutines, their counts and leak suspects come from snapshots.
struct CreationStackPolicy {
  enum class Mode {
    kOnDemand,  // a window per binary when a leak-suspect group keeps growing, or on /debug/creations
    kAlways,    // every traced binary, all the time
    kOff,       // never (/debug/creations refuses)
  } mode = Mode::kOnDemand;
  double window_seconds = 30;     // how long a window stays open
  double cooldown_seconds = 600;  // growth reopens a binary's window at most this often
};

// Diagnosis bundles: what the agent writes when a process starts to grow
// (model/growth_rule.h), evaluated at each runtime-stats reading.
struct BundlePolicy {
  bool enabled = true;  // needs a profile directory
  std::vector<GrowthRule> rules = {
      {.stat = Stat::kGoroutines, .floor = 5000},
      {.stat = Stat::kHeapInuse, .floor = uint64_t{256} << 20},
  };
  double cooldown_seconds = 3600;          // per process: at most one bundle this often
  uint64_t max_bytes = uint64_t{256} << 20;  // every bundle together; the oldest go first
};

struct AgentConfig {
  std::vector<ProcessRule> include;  // empty: every Go process
  std::vector<ProcessRule> exclude;  // wins over include
  bool allow_write = true;           // may write runtime.MemProfileRate where it is 0 (README: the one write)
  int64_t heap_rate = 524288;        // bytes per heap sample when goscope writes the rate; >= 1
  double interval_seconds = 60;      // profile period; > 0
  std::string profile_dir;  // profiles and bundles here; "" = none (--profile-dir wins)
  RetentionPolicy retention;
  CreationStackPolicy creation_stacks;
  double stats_interval_seconds = 15;  // runtime statistics of each process (no probe); [1, 3600]
  BundlePolicy bundles;
  std::string listen;      // "HOST:PORT" or "[V6]:PORT" for the HTTP endpoint; "" = none
  std::string token_file;  // bearer token for that endpoint; "" = no token
};

// Parses the text of a config file; source names it in errors
// ("agent config /etc/goscope/agent.json: line 3: ...").
AgentConfig ParseAgentConfig(std::string_view text, std::string_view source = "<config>");

// Reads and parses the file at path. Throws Error if it cannot be read or is invalid.
AgentConfig LoadAgentConfig(const std::string& path);

// What Selects looks at.
struct ProcessInfo {
  std::string exe;  // executable path (ProcessExecutable::path, without " (deleted)")
  std::string comm;
  std::string cgroup;  // CgroupLabels::cgroup
};

struct Selection {
  bool selected = false;
  std::string reason;  // "excluded by exclude[0] (comm=go-build*)", "included by include[1] (exe=*/caddy)", ...
};

// Exclude rules first (the first match excludes), then include rules (an empty
// list includes everything, else the first match includes, else excluded).
Selection Selects(const AgentConfig& config, const ProcessInfo& process);

}  // namespace goscope
