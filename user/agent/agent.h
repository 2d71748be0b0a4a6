// goscope agent: every Go process on the host, continuously. Discovers Go
// processes (a /proc scan at start, then the kernel's exec and exit events),
// attaches one BinaryWatch per executable file and keeps an AgentProcess per
// traced process; reads each one's runtime statistics and writes a diagnosis
// bundle when one starts to grow; serves /metrics, pprof, leak reports and
// bundles over HTTP; writes profiles every interval into a bounded directory. Stop() restores every
// MemProfileRate it wrote.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "agent/agent_config.h"
#include "agent/agent_process.h"
#include "binary_cache.h"
#include "agent/binary_watch.h"
#include "agent/bundle_store.h"
#include "process/go_process.h"
#include "agent/http_server.h"
#include "probes/process_events.h"
#include "agent/profile_store.h"

namespace goscope {

struct AgentOptions {
  AgentConfig config;           // selection rules, allow_write, heap_rate, retention
  std::string listen;           // "" = no HTTP endpoint
  std::string token;            // bearer token ("" = none; required off loopback)
  std::string profile_dir;      // "" = no profile files
  double interval_s = 60;       // profile files period
  double refresh_s = 2;         // goroutine snapshots, leak reports, MemProfileRate switch
  bool quiet = false;
};

class Agent {
 public:
  explicit Agent(AgentOptions options);  // throws Error (BPF, listen address, profile dir)
  ~Agent();

  // Runs until stop is set; then Stop().
  void Run(const std::atomic<bool>& stop);
  // Restores every MemProfileRate the agent wrote, writes final profiles,
  // detaches. Idempotent.
  void Stop();
  uint16_t port() const;

  std::string MetricsText();

 private:
  void Log(const std::string& line) const;
  void Consider(pid_t pid);
  // After an exec event's Consider: a process of a Go file the agent has
  // traced before that is gone untraced counts as missed.
  void CountIfMissed(const ExecEvent& e);
  void ConsiderOrThrow(pid_t pid);
  void Forget(pid_t pid, const char* why);
  void DrainAll();
  void RetireWatches(bool all);
  void RefreshAll();
  void PlanRefreshes();
  // Reads every traced process's runtime statistics (every stats interval).
  void ReadStatsAll();
  // After a stats reading: baselines for processes that do not grow, and a
  // diagnosis bundle for one whose growth fires a rule (per-process cooldown).
  void WatchGrowth();
  void WriteProfiles();
  HttpResponse ServeMetrics(const HttpRequest&);
  HttpResponse ServePprof(const HttpRequest&, bool heap);
  HttpResponse ServeLeaks(const HttpRequest&);
  HttpResponse ServeCreations(const HttpRequest&);
  HttpResponse ServeBundles(const HttpRequest&);
  // Creation probes on for one binary's processes for a while (extended if
  // already on); false with *error if they could not be attached.
  bool OpenCreationWindow(const std::string& key, double seconds, const std::string& why, std::string* error);
  void CloseExpiredCreationWindows();
  void OpenWindowsOnGrowth();
  AgentProcess* Lookup(const HttpRequest& r, HttpResponse* error);

  AgentOptions opts_;
  std::mutex mu_;  // the HTTP thread and the main loop share everything below
  BinaryCache cache_;
  GoExecutableDetector detector_{cache_};
  ProcessEvents events_;
  std::map<std::string, std::shared_ptr<BinaryWatch>> watches_;  // by file key (dev:ino:size:mtime)
  // Watches whose last process exited, kept a few seconds (file key -> when):
  // a binary started in a loop is not re-attached each time.
  std::map<std::string, double> retiring_;
  std::set<std::string> failed_binaries_;  // file keys whose probes could not be attached
  // (st_dev, inode) of the Go files the agent selected and traced: an exec of
  // one is a process it must not miss. Bounded (cleared when full).
  std::set<std::pair<uint64_t, uint64_t>> go_files_;
  std::map<pid_t, std::unique_ptr<AgentProcess>> procs_;
  std::map<pid_t, std::string> watch_of_;  // pid -> file key
  struct CreationWindow {
    double until = 0;       // creation probes on until then (seconds on the monotonic clock)
    double opened = -1e18;  // when the latest window opened, for the cooldown
  };
  std::map<std::string, CreationWindow> windows_;  // by file key
  std::unique_ptr<ProfileStore> store_;
  std::unique_ptr<BundleStore> bundles_;  // in the profile directory, when bundles are enabled
  std::unique_ptr<HttpServer> http_;
  uint64_t events_read_ = 0, lost_retired_ = 0, attach_failures_ = 0, processes_traced_total_ = 0;
  uint64_t processes_missed_ = 0;
  uint64_t profiles_written_ = 0, profiles_pruned_ = 0, creation_windows_ = 0;
  uint64_t bundles_written_ = 0, bundle_failures_ = 0;
  uint64_t stats_reads_ = 0;
  double stats_cpu_s_ = 0;  // the main thread's CPU in ReadStatsAll
  bool stopped_ = false;
};

}  // namespace goscope
