// goscope agent: the node agent (user/agent/agent.h): every Go process on the host,
// continuously, for Prometheus and pprof tooling.
#include <signal.h>
#include <sys/resource.h>

#include <atomic>

#include <fmt/format.h>

#include "agent/agent.h"
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "error.h"
#include "probes/uprobe_links.h"

namespace goscope {
namespace {

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop.store(true); }

const std::vector<OptionSpec> kOptions = {
    {"--config", true, "JSON config: include/exclude rules, allow_write, heap_rate, retention, ..."},
    {"--listen", true, "HTTP address (default 127.0.0.1:9464); beyond loopback needs --token-file"},
    {"--token-file", true, "bearer token every HTTP request must carry (file mode 0600)"},
    {"--no-http", false, "serve nothing (profile files only)"},
    {"--profile-dir", true, "write heap and goroutine profiles of every process here each interval"},
    {"--interval", true, "seconds between profile files (default 60, or the config's)"},
    {"--no-write", false, "never write MemProfileRate (processes whose rate is 0 then have no heap profile)"},
    {"-q", false, "quiet: no log lines"},
    {"--help", false, "show this help"},
};

}  // namespace

int RunAgent(int argc, char** argv) {
  CliArgs args("agent", kOptions, argc, argv);
  if (args.has("--help")) {
    fmt::print(
        "usage: goscope agent [--config FILE] [--listen ADDR] [--token-file F] [--profile-dir DIR]\n"
        "                     [--interval S] [--no-write] [--no-http] [-q]\n\n"
        "Watches every Go process on the host, continuously, with no change to any of them:\n"
        "found by a /proc scan at start and by the kernel's exec events after (exits likewise),\n"
        "one set of uprobes per executable file however many processes run it (detached when\n"
        "the last one exits): goroutine creation and exit, Go's own heap sampler, GC cycles.\n"
        "HTTP (127.0.0.1:9464 by default; any other address requires --token-file):\n"
        "  /metrics                       Prometheus: goscope_goroutines, _created_total, _exited_total,\n"
        "                                 goscope_leak_suspect_goroutines, goscope_heap_alloc_bytes_total,\n"
        "                                 goscope_heap_inuse_bytes, goscope_gc_cycles_total,\n"
        "                                 goscope_gc_pause_seconds, and the agent's own health\n"
        "  /debug/pprof/heap?pid=N        heap profile (go tool pprof URL works)\n"
        "  /debug/pprof/goroutine?pid=N   goroutine profile\n"
        "  /leaks?pid=N                   leak suspects (JSON)\n"
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
        "other users' /proc/PID/environ for the opt-out; see deploy/README.md).\n\n{}",
        CliArgs::Usage(kOptions));
    return 0;
  }
  std::string why;
  if (!CanLoadBpf(&why)) throw Error("cannot load BPF: " + why);
  AgentOptions o;
  if (auto path = args.get("--config")) o.config = LoadAgentConfig(*path);
  if (args.has("--no-write")) o.config.allow_write = false;
  o.listen = args.has("--no-http") ? "" : args.get_or("--listen", o.config.listen.empty() ? "127.0.0.1:9464" : o.config.listen);
  std::string token_file = args.get_or("--token-file", o.config.token_file);
  if (!token_file.empty()) o.token = LoadBearerToken(token_file);
  o.profile_dir = args.get_or("--profile-dir", "");
  if (auto iv = args.get_int("--interval")) {
    if (*iv <= 0) throw Error("--interval must be positive");
    o.interval_s = static_cast<double>(*iv);
  } else {
    o.interval_s = o.config.interval_seconds;
  }
  o.quiet = args.has("-q");

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

}  // namespace goscope
