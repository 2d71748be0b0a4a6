#include "agent/agent.h"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/diagnosis_bundle.h"
#include "error.h"
#include "output/prometheus_text.h"
#include "process/proc_files.h"
#include "process/run_control.h"

namespace goscope {
namespace {

// The agent's own CPU seconds and resident bytes, from /proc/self.
std::pair<double, double> OwnUsage() {
  auto text = ReadProcFile(0, "stat");
  auto stat = text ? ParseProcStat(*text) : std::nullopt;
  double cpu = stat ? static_cast<double>(stat->utime_ticks + stat->stime_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK)) : 0;
  unsigned long long size = 0, resident = 0;
  std::istringstream statm(ReadProcFile(0, "statm").value_or(""));
  statm >> size >> resident;
  return {cpu, static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE))};
}

double Seconds() { return MonotonicNs() / 1e9; }

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// How long a binary's probes outlive its last process.
constexpr double kRetireGraceSeconds = 5;

// The main loop wakes every 10-100 ms: a process due a little after the
// refresh is taken with it, not one round later.
constexpr double kRefreshSlack = 0.2;

// The longest window /debug/creations opens.
constexpr double kMaxRequestedWindow = 600;
// /leaks?prove=1 proves a process at most this often (seconds).
constexpr double kLeakProofInterval = 60;

// Go files remembered for counting missed processes.
constexpr size_t kMaxKnownGoFiles = 4096;

// Stats readings kept per process: enough for every growth rule to look back
// over_seconds and count its readings in a row.
size_t StatsToKeep(const AgentConfig& c) {
  double need = 4;
  for (const GrowthRule& r : c.bundles.rules)
    need = std::max(need, std::ceil(r.over_seconds / c.stats_interval_seconds) + r.readings + 2);
  return static_cast<size_t>(std::min(need, 2000.0));
}

// A pid query parameter: 1-9 digits, above 0 (nothing a pid_t cannot hold).
std::optional<pid_t> ParsePid(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const long v = std::stol(s);
  return v > 0 ? std::optional<pid_t>(static_cast<pid_t>(v)) : std::nullopt;
}

}  // namespace

Agent::Agent(AgentOptions options) : opts_(std::move(options)) {
  if (!opts_.profile_dir.empty()) store_ = std::make_unique<ProfileStore>(opts_.profile_dir, opts_.config.retention);
  if (store_ && opts_.config.bundles.enabled)
    bundles_ = std::make_unique<BundleStore>(opts_.profile_dir + "/bundles", opts_.config.bundles.max_bytes);
  events_.Start();
  if (!opts_.listen.empty()) {
    HttpServerOptions ho;
    ho.listen = opts_.listen;
    ho.bearer_token = opts_.token;
    ho.log = [this](const std::string& line) { Log("http: " + line); };
    http_ = std::make_unique<HttpServer>(ho);
    http_->Handle("/metrics", [this](const HttpRequest& r) { return ServeMetrics(r); });
    http_->Handle("/debug/pprof/heap", [this](const HttpRequest& r) { return ServePprof(r, true); });
    http_->Handle("/debug/pprof/goroutine", [this](const HttpRequest& r) { return ServePprof(r, false); });
    http_->Handle("/leaks", [this](const HttpRequest& r) { return ServeLeaks(r); });
    http_->Handle("/debug/creations", [this](const HttpRequest& r) { return ServeCreations(r); });
    http_->Handle("/bundles", [this](const HttpRequest& r) { return ServeBundles(r); });
    http_->Handle("/", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain; charset=utf-8",
                          "goscope agent\n  /metrics\n  /debug/pprof/heap?pid=N\n  /debug/pprof/goroutine?pid=N\n"
                          "  /leaks?pid=N[&prove=1]\n  /debug/creations?pid=N[&seconds=S]\n",
                          {}};
    });
    http_->Start();
  }
}

Agent::~Agent() { Stop(); }

uint16_t Agent::port() const { return http_ ? http_->port() : 0; }

void Agent::Log(const std::string& line) const {
  if (!opts_.quiet) fmt::print(stderr, "goscope agent: {}\n", line);
}

void Agent::Consider(pid_t pid) {
  // One process's trouble (gone mid-read, unreadable, odd binary) never stops the agent.
  try {
    ConsiderOrThrow(pid);
  } catch (const Error& e) {
    Log(fmt::format("pid {}: not traced: {}", pid, e.what()));
  }
}

void Agent::ConsiderOrThrow(pid_t pid) {
  if (procs_.count(pid)) return;
  std::optional<ProcessExecutable> exe;
  try {
    exe = IdentifyExecutable(pid);
  } catch (const Error&) {
    return;  // unreadable (another pid namespace's init, a kernel thread): not ours to trace
  }
  if (!exe) return;
  // The config first: telling a Go binary for sure parses it, and the parse
  // stays cached; a process the config leaves out must cost neither.
  CgroupLabels cgroup = ReadCgroupLabels(pid).value_or(CgroupLabels{});
  Selection sel = Selects(opts_.config, ProcessInfo{exe->path, exe->comm, cgroup.cgroup});
  if (!sel.selected || !detector_.IsGoExecutable(*exe) || OptedOut(pid)) return;
  const std::string key = exe->file_key();
  std::shared_ptr<BinaryWatch> watch;
  if (auto it = watches_.find(key); it != watches_.end()) {
    watch = it->second;
    retiring_.erase(key);
  } else {
    try {
      std::shared_ptr<const GoBinary> binary = detector_.Binary(*exe);
      if (!binary) return;
      watch = std::make_shared<BinaryWatch>(pid, binary);
    } catch (const Error& e) {
      if (failed_binaries_.insert(key).second) {  // counted and told once per binary
        attach_failures_++;
        Log(fmt::format("pid {} ({}): not traced: {}", pid, exe->path, e.what()));
      }
      return;
    }
    watches_[key] = watch;
    if (opts_.config.creation_stacks.mode == CreationStackPolicy::Mode::kAlways) {
      try {
        watch->SetCreationProbes(true);
      } catch (const Error& e) {
        Log(fmt::format("{}: creation probes: {}", exe->path, e.what()));
      }
    }
    // Reading a binary's DWARF and pclntab leaves tens of MB of freed heap that
    // glibc keeps; a long-lived agent gives it back.
    malloc_trim(0);
    Log(fmt::format("attached {} probes to {} ({}){}", watch->probes(), exe->path, watch->binary().go_version(),
                    watch->degraded().empty() ? "" : "; degraded: " + watch->degraded()[0]));
  }
  try {
    TargetProcess target = TargetProcess::Find(pid, &cache_);
    watch->AddProcess(pid, target.load_bias);
    procs_[pid] = std::make_unique<AgentProcess>(std::move(target), watch, *exe, cgroup);
    watch_of_[pid] = key;
    processes_traced_total_++;
    if (go_files_.size() >= kMaxKnownGoFiles) go_files_.clear();
    go_files_.insert({exe->dev, exe->ino});
  } catch (const Error& e) {
    Log(fmt::format("pid {}: {}", pid, e.what()));
  }
  if (!watch_of_.count(pid)) {  // the watch was made for a process that is already gone
    bool used = false;
    for (const auto& [p, k] : watch_of_) used |= k == key;
    if (!used) retiring_.emplace(key, Seconds());
  }
}

void Agent::CountIfMissed(const ExecEvent& e) {
  if (procs_.count(e.pid) || !go_files_.count({e.dev, e.ino}) || ProcessAlive(e.pid)) return;
  processes_missed_++;
}

void Agent::Forget(pid_t pid, const char* why) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  it->second->watch().RemoveProcess(pid);
  procs_.erase(it);
  std::string key = watch_of_[pid];
  watch_of_.erase(pid);
  Log(fmt::format("pid {} {}", pid, why));
  for (const auto& [p, k] : watch_of_)
    if (k == key) return;
  // The last process of the binary: its probes go after the grace period.
  retiring_.emplace(key, Seconds());
}

void Agent::RetireWatches(bool all) {
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    if (!all && Seconds() - it->second < kRetireGraceSeconds) {
      ++it;
      continue;
    }
    if (auto w = watches_.find(it->first); w != watches_.end()) {
      lost_retired_ += w->second->lost();
      watches_.erase(w);  // the kernel drops the probes with the links
    }
    windows_.erase(it->first);
    it = retiring_.erase(it);
  }
}

void Agent::DrainAll() {
  BinaryWatch::Sinks sinks;
  sinks.goroutine = [this](const GoroutineEvent& e) {
    if (auto it = procs_.find(e.pid); it != procs_.end()) it->second->OnGoroutine(e);
  };
  sinks.gc = [this](const GcCycle& c) {
    if (auto it = procs_.find(c.pid); it != procs_.end()) it->second->OnGc(c);
  };
  for (auto& [key, watch] : watches_) events_read_ += static_cast<uint64_t>(watch->Drain(sinks));
}

void Agent::RefreshAll() {
  std::vector<pid_t> gone;
  for (auto& [pid, proc] : procs_) {
    const double start = Seconds();
    if (start < proc->next_refresh) continue;
    try {
      proc->Refresh(opts_.config.allow_write, opts_.config.heap_rate);
    } catch (const Error&) {
      if (!ProcessAlive(pid)) gone.push_back(pid);  // an exit event lost or not yet read
    }
    proc->last_refresh = start;
    proc->snapshot_seconds = Seconds() - start;
  }
  for (pid_t pid : gone) Forget(pid, "exited");
  PlanRefreshes();
  CloseExpiredCreationWindows();
  OpenWindowsOnGrowth();
}

// A process with many goroutines takes long to read (0.2 s at 100,000):
// the budget of ProcessTrace::kSnapshotCpuShare is shared out cheapest first, each process
// taking what a snapshot every refresh_s costs it, or an equal part of what
// is left if that is less; it is then read just often enough to stay in its
// part. Every process of a host of small ones keeps refresh_s; the one with
// 100,000 goroutines among 50 is read about every 50 s.
void Agent::PlanRefreshes() {
  std::vector<AgentProcess*> by_cost;
  for (auto& [pid, proc] : procs_) by_cost.push_back(proc.get());
  std::sort(by_cost.begin(), by_cost.end(),
            [](const AgentProcess* a, const AgentProcess* b) { return a->snapshot_seconds < b->snapshot_seconds; });
  double left = ProcessTrace::kSnapshotCpuShare;
  for (size_t i = 0; i < by_cost.size(); i++) {
    AgentProcess& p = *by_cost[i];
    const double share = std::min(p.snapshot_seconds / opts_.refresh_s, left / static_cast<double>(by_cost.size() - i));
    left -= share;
    p.refresh_interval = share > 0 ? std::max(opts_.refresh_s, p.snapshot_seconds / share) : opts_.refresh_s;
    p.next_refresh = p.last_refresh + p.refresh_interval - kRefreshSlack;
  }
}

bool Agent::OpenCreationWindow(const std::string& key, double seconds, const std::string& why, std::string* error) {
  auto w = watches_.find(key);
  if (w == watches_.end()) {
    *error = "the binary is no longer traced";
    return false;
  }
  const bool was_on = w->second->creation_probes();
  try {
    w->second->SetCreationProbes(true);
  } catch (const Error& e) {
    *error = e.what();
    return false;
  }
  CreationWindow& win = windows_[key];
  const double now = Seconds();
  win.until = std::max(win.until, now + seconds);
  if (!was_on) {
    win.opened = now;
    creation_windows_++;
    Log(fmt::format("creation probes on for {} for {:.0f}s: {}", w->second->binary().path(), seconds, why));
  }
  return true;
}

void Agent::CloseExpiredCreationWindows() {
  if (opts_.config.creation_stacks.mode == CreationStackPolicy::Mode::kAlways) return;
  const double now = Seconds();
  for (auto& [key, win] : windows_) {
    auto w = watches_.find(key);
    if (win.until > now || w == watches_.end() || !w->second->creation_probes()) continue;
    w->second->SetCreationProbes(false);
    Log(fmt::format("creation probes off for {}: window over", w->second->binary().path()));
  }
}

void Agent::OpenWindowsOnGrowth() {
  const CreationStackPolicy& policy = opts_.config.creation_stacks;
  if (policy.mode != CreationStackPolicy::Mode::kOnDemand) return;
  const double now = Seconds();
  for (const auto& [pid, proc] : procs_) {
    if (!proc->leaks_grow() || proc->creation_probes()) continue;
    const std::string& key = watch_of_.at(pid);
    if (now - windows_[key].opened < policy.cooldown_seconds) continue;
    std::string error;
    std::string why = fmt::format("pid {}: {}", pid, proc->growth_note());
    if (!OpenCreationWindow(key, policy.window_seconds, why, &error)) {
      windows_[key].opened = now;  // not again before the cooldown
      Log(fmt::format("pid {}: creation probes: {}", pid, error));
    }
  }
}

void Agent::ReadStatsAll() {
  const double cpu0 = ThreadCpuSeconds();
  const size_t keep = StatsToKeep(opts_.config);
  for (auto& [pid, proc] : procs_) {
    if (!proc->ready()) continue;
    try {
      proc->ReadStats(keep);
      stats_reads_++;
    } catch (const Error& e) {
      if (ProcessAlive(pid)) Log(fmt::format("pid {}: runtime stats: {}", pid, e.what()));
    }
  }
  stats_cpu_s_ += ThreadCpuSeconds() - cpu0;
}

void Agent::WatchGrowth() {
  const BundlePolicy& policy = opts_.config.bundles;
  if (!bundles_) return;
  double baseline_every = 0;
  for (const GrowthRule& r : policy.rules) baseline_every = std::max(baseline_every, r.over_seconds);
  const double now = Seconds();
  for (auto& [pid, proc] : procs_) {
    const std::deque<RuntimeStats>& series = proc->stats();
    if (series.empty()) continue;
    const GrowthRule* fired = nullptr;
    GrowthVerdict verdict;
    bool growing = false;
    for (const GrowthRule& rule : policy.rules) {
      growing = growing || IsGrowing(rule, series);
      if (!fired && (verdict = EvaluateGrowth(rule, series)).fires) fired = &rule;
    }
    const auto& base = proc->baseline();
    if (!growing && (!base || series.back().unix_ns - base->unix_ns >= baseline_every * 1e9)) proc->KeepBaseline();
    if (!fired || now - proc->last_bundle() < policy.cooldown_seconds) continue;
    try {
      proc->Refresh(opts_.config.allow_write, opts_.config.heap_rate);  // the goroutines as they are now
    } catch (const Error&) {
      if (!ProcessAlive(pid)) continue;  // exiting: nothing to diagnose; else the last snapshot serves
    }
    try {
      const std::string name = bundles_->Write(pid, proc->comm(), DiagnosisBundle(*proc, *fired, verdict));
      proc->BundleTried(now, true);
      bundles_written_++;
      Log(fmt::format("pid {}: diagnosis bundle {}: {}", pid, name, verdict.why));
    } catch (const Error& e) {
      proc->BundleTried(now, false);  // not again before the cooldown
      bundle_failures_++;
      Log(fmt::format("pid {}: diagnosis bundle not written: {}", pid, e.what()));
    }
  }
}

void Agent::WriteProfiles() {
  if (!store_) return;
  for (auto& [pid, proc] : procs_) {
    if (!proc->ready()) continue;
    try {
      store_->Write(pid, proc->comm(), "heap", proc->HeapProfile().SerializeGzipped());
      store_->Write(pid, proc->comm(), "goroutine", proc->GoroutineProfile().SerializeGzipped());
      profiles_written_ += 2;
    } catch (const Error& e) {
      Log(fmt::format("profiles of pid {}: {}", pid, e.what()));
    }
  }
  profiles_pruned_ += store_->Prune();
}

void Agent::Run(const std::atomic<bool>& stop) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (pid_t pid : ScanProcesses()) Consider(pid);
    RefreshAll();
    ReadStatsAll();
    WatchGrowth();
    Log(fmt::format("tracing {} Go processes of {} binaries{}", procs_.size(), watches_.size(),
                    http_ ? fmt::format("; serving /metrics on port {}", port()) : ""));
  }
  double next_refresh = Seconds() + opts_.refresh_s, next_profiles = Seconds() + opts_.interval_s;
  double next_stats = Seconds() + opts_.config.stats_interval_seconds;
  std::vector<ExecEvent> execs;
  std::vector<pid_t> exits;
  uint64_t last_events = 0;
  while (!stop.load()) {
    execs.clear();
    exits.clear();
    // Drain every 10 ms while events pour in (the rings are small), else every 100 ms.
    const int wait_ms = events_read_ - last_events > 200 ? 10 : 100;
    last_events = events_read_;
    try {
      events_.Poll(wait_ms, [&](const ExecEvent& e) { execs.push_back(e); },
                   [&](const ExitEvent& e) { exits.push_back(e.pid); });
    } catch (const Error& e) {
      Log(std::string("process events: ") + e.what());
    }
    std::lock_guard<std::mutex> lock(mu_);
    DrainAll();  // events of processes that just exited still count
    for (pid_t pid : exits) Forget(pid, "exited");
    for (const ExecEvent& e : execs) {
      Forget(e.pid, "exec'd another program");
      Consider(e.pid);
      CountIfMissed(e);
    }
    if (Seconds() >= next_refresh) {
      RefreshAll();
      RetireWatches(false);
      next_refresh = Seconds() + opts_.refresh_s;
    }
    if (Seconds() >= next_stats) {
      ReadStatsAll();
      WatchGrowth();
      next_stats = Seconds() + opts_.config.stats_interval_seconds;
    }
    if (Seconds() >= next_profiles) {
      WriteProfiles();
      next_profiles = Seconds() + opts_.interval_s;
    }
  }
  Stop();
}

void Agent::Stop() {
  if (http_) http_->Stop();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  stopped_ = true;
  DrainAll();
  WriteProfiles();
  size_t restored = 0;
  for (auto& [pid, proc] : procs_) {
    bool wrote = proc->wrote_rate();
    std::string why = proc->RestoreRate();
    if (!why.empty()) Log(fmt::format("pid {}: MemProfileRate not restored: {}", pid, why));
    else if (wrote) restored++;
  }
  Log(fmt::format("stopped: restored MemProfileRate in {} processes; detaching from {} binaries", restored,
                  watches_.size()));
  procs_.clear();
  watch_of_.clear();
  retiring_.clear();
  watches_.clear();
}

std::string Agent::MetricsText() {
  std::lock_guard<std::mutex> lock(mu_);
  PrometheusTextWriter w;
  std::vector<const AgentProcess*> ready;
  for (const auto& [pid, p] : procs_)
    if (p->ready()) ready.push_back(p.get());
  auto family = [&](const char* name, MetricType type, const char* help, auto value) {
    w.Family(name, type, help);
    for (const AgentProcess* p : ready) w.Sample(p->labels(), static_cast<double>(value(*p)));
  };
  family("goscope_goroutines", MetricType::kGauge, "Live goroutines, as runtime.NumGoroutine() counts them.",
         [](const AgentProcess& p) { return p.goroutines(); });
  family("goscope_goroutines_created_total", MetricType::kCounter,
         "Goroutines created since the process started, from the goids in its memory (low by at most 16 per P).",
         [](const AgentProcess& p) { return p.goroutines_created(); });
  family("goscope_goroutines_exited_total", MetricType::kCounter,
         "Goroutines exited since the process started: created less live, system goroutines included.",
         [](const AgentProcess& p) { return p.goroutines_exited(); });
  family("goscope_creation_probes", MetricType::kGauge,
         "1 while goroutine creation is probed in this process (full creation stacks; a probe hit per goroutine).",
         [](const AgentProcess& p) { return p.creation_probes() ? 1 : 0; });
  family("goscope_snapshot_interval_seconds", MetricType::kGauge,
         "Seconds between goroutine snapshots of this process: 2, or more so that all snapshots together "
         "take at most 0.5% of a core.",
         [](const AgentProcess& p) { return p.refresh_interval; });
  family("goscope_leak_suspect_goroutines", MetricType::kGauge,
         "Goroutines in leak-suspect groups (one creation site, one blocked stack, blocking wait).",
         [](const AgentProcess& p) { return p.leak_suspect_goroutines(); });
  family("goscope_heap_alloc_bytes_total", MetricType::kCounter,
         "Heap bytes allocated since Go's heap sampler ran in the process, estimated from its samples "
         "(read from its memory).",
         [](const AgentProcess& p) { return p.heap_alloc_bytes(); });
  family("goscope_heap_inuse_bytes", MetricType::kGauge,
         "Heap bytes live (not yet swept), estimated from Go's heap samples (read from its memory).",
         [](const AgentProcess& p) { return p.heap_inuse_bytes(); });
  family("goscope_memprofilerate_written", MetricType::kGauge,
         "1 while the agent holds runtime.MemProfileRate at its own value (it was 0).",
         [](const AgentProcess& p) { return p.wrote_rate() ? 1 : 0; });
  family("goscope_gc_cycles_total", MetricType::kCounter, "GC cycles completed since the agent attached.",
         [](const AgentProcess& p) { return p.gc_cycles(); });
  w.Family("goscope_gc_pause_seconds", MetricType::kHistogram,
           "Stop-the-world pauses of GC cycles (sweep and mark termination).");
  for (const AgentProcess* p : ready)
    w.Histogram(p->labels(), HistogramSample{kGcPauseBuckets, p->gc_pause_counts(), p->gc_pause_sum()});
  // The runtime's own statistics under client_golang's Go-collector names.
  for (const StatInfo& info : RuntimeStatInfo()) {
    if (info.metric.empty()) continue;
    const std::string name = "goscope_" + std::string(info.metric);
    w.Family(name, name.ends_with("_total") ? MetricType::kCounter : MetricType::kGauge,
             fmt::format("{} (runtime {}, read from memory every {} s)", info.help, info.name,
                         opts_.config.stats_interval_seconds));
    for (const AgentProcess* p : ready) {
      const RuntimeStats* s = p->latest_stats();
      if (!s || !(*s)[info.stat]) continue;
      const double v = static_cast<double>(*(*s)[info.stat]);
      w.Sample(p->labels(), info.unit == StatUnit::kUnixNanoseconds ? v / 1e9 : v);
    }
  }
  family("goscope_bundles_total", MetricType::kCounter,
         "Diagnosis bundles written for this process (a growth rule fired; /bundles?pid=N lists them).",
         [](const AgentProcess& p) { return p.bundles(); });
  w.Family("goscope_go_memstats_gc_cpu_fraction", MetricType::kGauge,
           "Fraction of the program's CPU time used by the GC since it started (runtime GCCPUFraction).");
  for (const AgentProcess* p : ready)
    if (const RuntimeStats* s = p->latest_stats(); s && s->gc_cpu_fraction) w.Sample(p->labels(), *s->gc_cpu_fraction);
  w.Family("goscope_go_gc_duration_seconds", MetricType::kSummary,
           "Stop-the-world pauses of GC cycles: quantiles of the last 256 (as debug.ReadGCStats), total and count "
           "since the program started.");
  for (const AgentProcess* p : ready) {
    const RuntimeStats* s = p->latest_stats();
    if (!s || !(*s)[Stat::kNumGC] || !(*s)[Stat::kPauseTotalNs]) continue;
    SummarySample summary{{}, *(*s)[Stat::kPauseTotalNs] / 1e9, *(*s)[Stat::kNumGC]};
    const std::vector<uint64_t> q = PauseQuantiles(*s, 5);
    for (size_t i = 0; i < q.size(); i++) summary.quantiles.push_back({i / 4.0, q[i] / 1e9});
    w.Summary(p->labels(), summary);
  }
  uint64_t lost = lost_retired_;
  size_t probes = 0;
  for (const auto& [k, watch] : watches_) lost += watch->lost(), probes += watch->probes();
  auto [cpu, rss] = OwnUsage();
  auto own = [&](const char* name, MetricType type, const char* help, double v) {
    w.Family(name, type, help);
    w.Sample({}, v);
  };
  own("goscope_agent_events_total", MetricType::kCounter, "Events read from the kernel.", static_cast<double>(events_read_));
  own("goscope_agent_events_lost_total", MetricType::kCounter,
      "Events the kernel side dropped (ring buffer full), counted in BPF.", static_cast<double>(lost));
  own("goscope_agent_attached_binaries", MetricType::kGauge, "Executables with probes attached.",
      static_cast<double>(watches_.size()));
  own("goscope_agent_cached_binaries", MetricType::kGauge,
      "Parsed executables kept: those traced, plus the most recently seen others (bounded).",
      static_cast<double>(cache_.size()));
  own("goscope_agent_traced_processes", MetricType::kGauge, "Go processes traced.", static_cast<double>(procs_.size()));
  own("goscope_agent_processes_traced_total", MetricType::kCounter, "Go processes traced since the agent started.",
      static_cast<double>(processes_traced_total_));
  own("goscope_agent_processes_missed_total", MetricType::kCounter,
      "Processes of Go executables the agent traces elsewhere that exited before it could trace them "
      "(an executable it never traced is not known to be Go and not counted).",
      static_cast<double>(processes_missed_));
  own("goscope_agent_probes", MetricType::kGauge, "Uprobes attached.", static_cast<double>(probes));
  own("goscope_agent_creation_windows_total", MetricType::kCounter,
      "Times creation probes were switched on for a binary (growth or /debug/creations).",
      static_cast<double>(creation_windows_));
  own("goscope_agent_probe_attach_failures_total", MetricType::kCounter,
      "Binaries whose probes could not be attached.", static_cast<double>(attach_failures_));
  own("goscope_agent_profiles_written_total", MetricType::kCounter, "Profile files written.",
      static_cast<double>(profiles_written_));
  own("goscope_agent_bundles_written_total", MetricType::kCounter, "Diagnosis bundles written.",
      static_cast<double>(bundles_written_));
  own("goscope_agent_bundle_failures_total", MetricType::kCounter,
      "Diagnosis bundles that could not be written (directory unwritable or full, bundle over max_bytes).",
      static_cast<double>(bundle_failures_));
  own("goscope_agent_bundle_bytes", MetricType::kGauge, "Bytes of the diagnosis bundles kept (bounded by max_bytes).",
      bundles_ ? static_cast<double>(bundles_->bytes()) : 0.0);
  own("goscope_agent_runtime_stats_reads_total", MetricType::kCounter,
      "Readings of a process's runtime statistics (every runtime_stats.interval_seconds per process).",
      static_cast<double>(stats_reads_));
  own("goscope_agent_runtime_stats_cpu_seconds_total", MetricType::kCounter,
      "CPU time the agent spent reading runtime statistics.", stats_cpu_s_);
  own("goscope_agent_cpu_seconds_total", MetricType::kCounter, "CPU time the agent used.", cpu);
  own("goscope_agent_resident_memory_bytes", MetricType::kGauge, "The agent's resident memory.", rss);
  return w.text();
}

HttpResponse Agent::ServeMetrics(const HttpRequest&) {
  return HttpResponse{200, std::string(kPrometheusContentType), MetricsText(), {}};
}

AgentProcess* Agent::Lookup(const HttpRequest& r, HttpResponse* error) {
  auto it = r.query.find("pid");
  std::optional<pid_t> pid = it == r.query.end() ? std::nullopt : ParsePid(it->second);
  if (!pid) {
    *error = HttpResponse{400, "text/plain; charset=utf-8", "?pid=N is required (a traced process id)\n", {}};
    return nullptr;
  }
  auto p = procs_.find(*pid);
  if (p == procs_.end() || !p->second->ready()) {
    *error = HttpResponse{404, "text/plain; charset=utf-8", fmt::format("pid {} is not traced\n", *pid), {}};
    return nullptr;
  }
  return p->second.get();
}

HttpResponse Agent::ServePprof(const HttpRequest& r, bool heap) {
  std::lock_guard<std::mutex> lock(mu_);
  HttpResponse error;
  AgentProcess* p = Lookup(r, &error);
  if (!p) return error;
  PprofProfile prof = heap ? p->HeapProfile() : p->GoroutineProfile();
  return HttpResponse{200, "application/octet-stream", prof.SerializeGzipped(),
                      {{"Content-Disposition", heap ? "attachment; filename=\"heap.pb.gz\""
                                                    : "attachment; filename=\"goroutine.pb.gz\""}}};
}

HttpResponse Agent::ServeCreations(const HttpRequest& r) {
  std::lock_guard<std::mutex> lock(mu_);
  HttpResponse error;
  AgentProcess* p = Lookup(r, &error);
  if (!p) return error;
  auto text = [](int code, std::string body) { return HttpResponse{code, "text/plain; charset=utf-8", std::move(body), {}}; };
  const CreationStackPolicy& policy = opts_.config.creation_stacks;
  if (policy.mode == CreationStackPolicy::Mode::kOff)
    return text(403, "creation stacks are off in the agent's config (creation_stacks.mode)\n");
  double seconds = policy.window_seconds;
  if (auto it = r.query.find("seconds"); it != r.query.end()) {
    char* end = nullptr;
    seconds = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end || !(seconds > 0) || !(seconds <= kMaxRequestedWindow))
      return text(400, fmt::format("seconds must be a number above 0, at most {}\n", kMaxRequestedWindow));
  }
  std::string why;
  const std::string& key = watch_of_.at(p->pid());
  if (!OpenCreationWindow(key, seconds, fmt::format("requested over HTTP for pid {}", p->pid()), &why))
    return text(503, fmt::format("creation probes could not be attached: {}\n", why));
  nlohmann::json body = {{"pid", p->pid()},
                         {"exe", p->watch().binary().path()},
                         {"creation_probes", true},
                         {"seconds_left", windows_[key].until - Seconds()}};
  return HttpResponse{200, "application/json", body.dump() + "\n", {}};
}

HttpResponse Agent::ServeLeaks(const HttpRequest& r) {
  std::lock_guard<std::mutex> lock(mu_);
  HttpResponse error;
  AgentProcess* p = Lookup(r, &error);
  if (!p) return error;
  auto prove = r.query.find("prove");
  if (prove == r.query.end() || prove->second == "0") return HttpResponse{200, "application/json", p->LeaksJson(), {}};
  auto text = [](int code, std::string body) { return HttpResponse{code, "text/plain; charset=utf-8", std::move(body), {}}; };
  if (prove->second != "1") return text(400, "prove must be 0 or 1\n");
  // A proof stops the process (about half a millisecond per MiB of heap): on
  // request only, and at most once per process per kLeakProofInterval.
  const double now = Seconds(), wait = p->last_proof() + kLeakProofInterval - now;
  if (wait > 0) {
    HttpResponse busy = text(429, fmt::format("pid {} was proven {:.0f} s ago; at most one proof per {:.0f} s\n",
                                              p->pid(), now - p->last_proof(), kLeakProofInterval));
    busy.headers.emplace_back("Retry-After", fmt::format("{:.0f}", std::ceil(wait)));
    return busy;
  }
  try {
    std::string body = p->ProvenLeaksJson(now);
    Log(fmt::format("leak proof of pid {} on request", p->pid()));
    return HttpResponse{200, "application/json", std::move(body), {}};
  } catch (const Error& e) {
    return text(503, fmt::format("no leak proof: {}\n", e.what()));
  }
}

// The filesystem is the store's only state (a bundle appears by one rename),
// so this runs without the agent's lock.
HttpResponse Agent::ServeBundles(const HttpRequest& r) {
  auto text = [](int code, std::string body) { return HttpResponse{code, "text/plain; charset=utf-8", std::move(body), {}}; };
  if (!bundles_) return text(404, "diagnosis bundles are off (no --profile-dir, or bundles.enabled is false)\n");
  auto param = [&](const char* k) -> std::optional<std::string> {
    auto it = r.query.find(k);
    return it == r.query.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto name = param("name"), file = param("file");
  if (name && file) {
    auto data = bundles_->Read(*name, *file);
    if (!data) return text(404, fmt::format("no file {} in bundle {}\n", *file, *name));
    const char* type = file->ends_with(".json") ? "application/json"
                       : file->ends_with(".txt") ? "text/plain; charset=utf-8"
                                                 : "application/octet-stream";
    return HttpResponse{200, type, std::move(*data), {}};
  }
  if (file) return text(400, "file needs name\n");
  std::optional<pid_t> pid;
  if (auto p = param("pid")) {
    pid = ParsePid(*p);
    if (!pid) return text(400, "pid must be a positive number\n");
  }
  nlohmann::json list = nlohmann::json::array();
  for (const BundleInfo& b : bundles_->List()) {
    if ((pid && b.pid != *pid) || (name && b.name != *name)) continue;
    list.push_back({{"name", b.name}, {"pid", b.pid}, {"unix_seconds", b.unix_seconds}, {"bytes", b.bytes},
                    {"files", b.files}});
  }
  if (name && list.empty()) return text(404, fmt::format("no bundle {}\n", *name));
  return HttpResponse{200, "application/json", nlohmann::json{{"bundles", std::move(list)}}.dump(1) + "\n", {}};
}

}  // namespace goscope
