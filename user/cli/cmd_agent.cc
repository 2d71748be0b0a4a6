// goscope agent: the node agent (user/agent/agent.h): every Go process on the host,
// continuously, for Prometheus and pprof tooling.
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <climits>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "agent/agent.h"
#include "cli/commands.h"
#include "error.h"
#include "probes/uprobe_links.h"

namespace goscope {
namespace {

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop.store(true); }

struct AgentArgs {
  std::optional<std::string> config;
  std::optional<std::string> listen;
  std::optional<std::string> token_file;
  bool no_http = false;
  std::string profile_dir;
  std::optional<long long> interval_s;
  bool no_write = false;
  bool quiet = false;
};

constexpr const char* kDetails =
    "Watches every Go process on the host, continuously, with no change to any of them:\n"
    "found by a /proc scan at start and by the kernel's exec events after (exits likewise),\n"
    "one set of uprobes per executable file however many processes run it (detached when\n"
    "the last one exits): GC cycles; goroutines, their counts and leak suspects, and Go's\n"
    "own heap profile from a reading of each process's memory every 2 s, less often for a\n"
    "process whose snapshots take long, so that all snapshots together cost at most 0.5%\n"
    "of a core (shared out cheapest first: one process with 100,000 goroutines among 50\n"
    "small ones is read about every 50 s; goscope_snapshot_interval_seconds says how often).\n"
    "Cost rule: no probe fires per goroutine or per request by default (a probe hit per\n"
    "goroutine costs a busy server more than 1%). Full creation stacks come from a creation\n"
    "probe switched on per binary for a window (config creation_stacks: 30 s) when the leak-\n"
    "suspect goroutines of one of its processes (20 or more) grew at 3 snapshots in a row (at\n"
    "most once per binary per 10 min, so at most 5% of the time), or on /debug/creations;\n"
    "mode always keeps it on, off never. goscope_creation_probes says where it is on.\n"
    "Every 15 s (config runtime_stats.interval_seconds) it reads each process's own runtime\n"
    "statistics from its memory, no probe: goscope_go_* on /metrics, client_golang's Go-\n"
    "collector names with goscope_ in front (as goscope stats; README maps dashboards).\n"
    "HTTP (127.0.0.1:9464 by default; any other address requires --token-file):\n"
    "  /metrics                       Prometheus: goscope_goroutines, _created_total, _exited_total,\n"
    "                                 goscope_leak_suspect_goroutines, goscope_creation_probes,\n"
    "                                 goscope_heap_alloc_bytes_total, goscope_heap_inuse_bytes,\n"
    "                                 goscope_gc_cycles_total, goscope_gc_pause_seconds,\n"
    "                                 goscope_go_memstats_*, goscope_go_goroutines, goscope_go_threads,\n"
    "                                 goscope_go_gc_duration_seconds, and the agent's own health\n"
    "  /debug/pprof/heap?pid=N        heap profile (go tool pprof URL works)\n"
    "  /debug/pprof/goroutine?pid=N   goroutine profile\n"
    "  /leaks?pid=N                   leak suspects (JSON); &prove=1 adds which goroutines are\n"
    "                                 proven leaked (goscope leaks: stops the process about half a\n"
    "                                 ms per MiB of heap; at most once a minute per process, else 429)\n"
    "  /debug/creations?pid=N[&seconds=S]   creation probes on for that process's binary for\n"
    "                                 S seconds (default: the config's window; at most 600)\n"
    "Labels: pid, exe, go_version, comm, and unit, container_id, pod_uid from the cgroup.\n"
    "A process opts out with GOSCOPE_AGENT=off in its environment.\n"
    "MemProfileRate: where a program runs Go's heap sampler at 0, the agent writes\n"
    "heap_rate (524288) into it, and writes 0 back on SIGTERM/SIGINT (--no-write: never).\n"
    "After kill -9 of the agent the probes vanish with it but the rate stays as written\n"
    "until the next goscope or agent on that process restores it (records in /run/lock;\n"
    "sampling costs the program ~nothing meanwhile: one sample per 512 KiB).\n"
    "Only processes the config selects are parsed; of the parsed binaries it keeps those\n"
    "it traces and the 32 most recent others (goscope_agent_cached_binaries).\n"
    "Needs root, or CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (to read\n"
    "other users' /proc/PID/environ for the opt-out; see deploy/README.md).\n";

int RunAgent(const AgentArgs& args) {
  std::string why;
  if (!CanLoadBpf(&why)) throw Error("cannot load BPF: " + why);
  AgentOptions o;
  if (args.config) o.config = LoadAgentConfig(*args.config);
  if (args.no_write) o.config.allow_write = false;
  o.listen = args.no_http ? "" : args.listen.value_or(o.config.listen.empty() ? "127.0.0.1:9464" : o.config.listen);
  std::string token_file = args.token_file.value_or(o.config.token_file);
  if (!token_file.empty()) o.token = LoadBearerToken(token_file);
  o.profile_dir = args.profile_dir.empty() ? o.config.profile_dir : args.profile_dir;
  o.interval_s = args.interval_s ? static_cast<double>(*args.interval_s) : o.config.interval_seconds;
  o.quiet = args.quiet;

  // A descriptor per probe link and ring buffer: a busy host needs more than 1024.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  Agent agent(o);
  if (!o.listen.empty() && !o.quiet) {
    std::string host = o.listen.substr(0, o.listen.rfind(':'));
    fmt::print(stderr, "goscope agent: listening on {}:{}{}\n", host, agent.port(),
               o.token.empty() ? "" : " (bearer token required)");
  }
  agent.Run(g_stop);
  return 0;
}

}  // namespace

Command AddAgentCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(goscope, "agent",
                             "every Go process on the host, continuously: Prometheus /metrics, pprof, leak reports",
                             kDetails);
  auto args = std::make_shared<AgentArgs>();
  cmd->add_option("--config", args->config,
                  "JSON config: include/exclude rules, allow_write, heap_rate, retention, ...")
      ->type_name("FILE");
  cmd->add_option("--listen", args->listen, "HTTP address; beyond loopback needs --token-file")
      ->type_name("ADDR")
      ->default_str("127.0.0.1:9464, or the config's");
  cmd->add_option("--token-file", args->token_file, "bearer token every HTTP request must carry (file mode 0600)")
      ->type_name("FILE");
  cmd->add_flag("--no-http", args->no_http, "serve nothing (profile files only)");
  cmd->add_option("--profile-dir", args->profile_dir,
                  "write heap and goroutine profiles of every process here each interval, and diagnosis "
                  "bundles (DIR/bundles) when a process starts to grow")
      ->default_str("the config's profile_dir; none without")
      ->type_name("DIR");
  AddNumberOption(*cmd, "--interval", args->interval_s, "S", "seconds between profile files")
      ->default_str("60, or the config's")
      ->check(NumberInRange(1, LLONG_MAX, "must be positive"));
  AddNoWriteFlag(*cmd, args->no_write,
                 "never write MemProfileRate (processes whose rate is 0 then have no heap profile)");
  AddQuietFlag(*cmd, args->quiet, "quiet: no log lines");
  return {cmd, [args] { return RunAgent(*args); }};
}

}  // namespace goscope
