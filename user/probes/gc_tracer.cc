#include "probes/gc_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <set>

#include <fmt/format.h>

#include "error.h"
#include "gc_events.h"  // before the skeleton, which uses its structs
#include "gc.skel.h"
#include "process/process_memory.h"
#include "process/run_control.h"
#include "probes/ring_records.h"
#include "probes/uprobe_links.h"
#include "x86_decoder.h"

namespace goscope {
namespace {

// runtime.workType fields the BPF program reads (all present in 1.19-1.24).
constexpr const char* kWorkFields[] = {"cycles", "userForced", "tSweepTerm", "tMark", "tMarkTerm",
                                       "tEnd",   "pauseNS",    "heap0",      "heap1", "heap2"};

std::string WorkKey(std::string_view field) { return fmt::format("runtime.workType.{}", field); }

// stwReason (runtime/proc.go), the same enumeration in 1.21-1.27 (checked
// against each release's stwReasonStrings); a newer release gets numbers only.
constexpr const char* kStwReasons[] = {
    "unknown",           "GC mark termination",        "GC sweep termination",        "write heap dump",
    "goroutine profile", "goroutine profile cleanup",  "all goroutines stack trace",  "read mem stats",
    "AllThreadsSyscall", "GOMAXPROCS",                 "start trace",                 "stop trace",
    "CountPagesInUse (test)", "ReadMetricsSlow (test)", "ReadMemStatsSlow (test)",
    "PageCachePagesLeaked (test)", "ResetDebugLog (test)",
};

uint64_t Required(const RuntimeLayout& l, const std::string& key) {
  Sourced v = l.get(key);
  if (!v.known()) throw Error(fmt::format("runtime layout: {} unknown; cannot trace garbage collection", key));
  return v.value;
}

}  // namespace

struct GcTracer::Impl {
  const TargetProcess& target;
  gc_bpf* skel = nullptr;
  ring_buffer* rb = nullptr;
  UprobeLinks links;
  std::string work_source;
  int minor = -1;
  uint64_t init_time_address = 0;  // runtime.runtimeInitTime, link-time; 0 if unknown

  // Per process: recent stop events (for the trigger of each cycle), and the stop awaiting its start.
  struct Stop {
    uint64_t ts;
    int64_t trigger;
    uint32_t reason;
    uint64_t goid;
  };
  struct Process {
    std::deque<Stop> recent_stops;
    std::optional<Stop> pending_stop;
    std::optional<int64_t> runtime_init_ns;
  };
  std::map<pid_t, Process> procs;

  const std::function<void(const GcCycle&)>* on_cycle = nullptr;
  const std::function<void(const StwPause&)>* on_stw = nullptr;

  explicit Impl(const TargetProcess& t) : target(t) {}
  ~Impl() {
    links.DetachAll();
    if (rb) ring_buffer__free(rb);
    if (skel) gc_bpf__destroy(skel);
  }

  void OnStop(const GcRecord& e) {
    Process& pr = procs[static_cast<pid_t>(e.pid)];
    Stop s{e.ts_ns, e.trigger_kind, e.reason, e.goid};
    pr.recent_stops.push_back(s);
    if (pr.recent_stops.size() > 64) pr.recent_stops.pop_front();
    pr.pending_stop = s;
  }

  void OnStart(const GcRecord& e) {
    Process& pr = procs[static_cast<pid_t>(e.pid)];
    auto& pending_stop = pr.pending_stop;
    if (!pending_stop) return;  // the stop came before the probes (or a morestack re-entry)
    StwPause p;
    p.pid = static_cast<pid_t>(e.pid);
    p.start_ns = pending_stop->ts;
    p.end_ns = e.ts_ns;
    p.goid = pending_stop->goid;
    if (minor >= 21) {
      p.reason = static_cast<int>(pending_stop->reason);
      if (minor <= 27 && p.reason < static_cast<int>(std::size(kStwReasons))) p.reason_name = kStwReasons[p.reason];
    }
    pending_stop.reset();
    if (on_stw && *on_stw) (*on_stw)(p);
  }

  void OnCycle(const GcRecord& e) {
    Process& pr = procs[static_cast<pid_t>(e.pid)];
    const auto& runtime_init_ns = pr.runtime_init_ns;
    GcCycle c;
    c.pid = static_cast<pid_t>(e.pid);
    c.n = e.cycles;
    c.start_ns = static_cast<uint64_t>(e.t_sweep_term);
    c.mark_ns = static_cast<uint64_t>(e.t_mark);
    c.mark_term_ns = static_cast<uint64_t>(e.t_mark_term);
    c.end_ns = static_cast<uint64_t>(e.t_end);
    if (runtime_init_ns && e.t_sweep_term >= *runtime_init_ns)
      c.since_start_ns = static_cast<uint64_t>(e.t_sweep_term - *runtime_init_ns);
    c.forced = e.user_forced;
    auto span = [](int64_t a, int64_t b) { return b > a ? static_cast<uint64_t>(b - a) : 0; };
    c.pauses = {{c.start_ns, span(e.t_sweep_term, e.t_mark), false},
                {c.mark_term_ns, span(e.t_mark_term, e.t_end), true}};
    c.pause_total_ns = e.pause_ns > 0 ? static_cast<uint64_t>(e.pause_ns) : 0;
    c.heap_start = e.heap0;
    c.heap_end = e.heap1;
    c.heap_marked = e.heap2;
    // The sweep-termination stop lies between tSweepTerm and tMark; its
    // goroutine's gcStart argument is the trigger.
    for (const Stop& s : pr.recent_stops) {
      if (s.ts >= c.start_ns && s.ts <= c.mark_ns && s.trigger >= 0 && s.trigger <= 2) {
        c.trigger = static_cast<GcTrigger>(s.trigger);
        break;
      }
    }
    // userForced is set exactly when trigger.kind == gcTriggerCycle.
    if (c.forced) c.trigger = GcTrigger::kCycle;
    if (on_cycle && *on_cycle) (*on_cycle)(c);
  }

  static int OnSample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    auto r = DecodeGcRecord({static_cast<const uint8_t*>(data), size});
    if (!r) return 0;
    switch (r->kind) {
      case GcRecord::kStopTheWorld: self->OnStop(*r); break;
      case GcRecord::kStartTheWorld: self->OnStart(*r); break;
      case GcRecord::kCycle: self->OnCycle(*r); break;
    }
    return 0;
  }
};

GcTracer::GcTracer(const TargetProcess& target, const RuntimeLayout& layout, uint32_t ring_bytes)
    : impl_(std::make_unique<Impl>(target)) {
  const GoBinary& bin = *target.binary;
  impl_->minor = GoMinorVersion(bin.go_version());

  uint64_t work = 0;
  Sourced w = layout.get("runtime.work");
  if (w.known()) {
    work = w.value;
    impl_->work_source = std::string(SourceName(w.source));
  } else {
    for (const char* f : kWorkFields) Required(layout, WorkKey(f));  // names the missing offset, if any
    throw Error("runtime.work not found (no symbols, and gcStart's code did not reveal it); "
                "cannot trace garbage collection");
  }

  impl_->skel = gc_bpf__open();
  if (!impl_->skel) throw Error(fmt::format("opening the gc BPF program: {}", std::strerror(errno)));
  PrepareUprobeMulti(impl_->skel->obj);
  auto& off = const_cast<gc_offsets&>(impl_->skel->rodata->off);
  off.g_goid = Required(layout, "runtime.g.goid");
  off.g_m = Required(layout, "runtime.g.m");
  off.m_curg = Required(layout, "runtime.m.curg");
  off.work = work;  // each process's load bias is added in BPF (procs map)
  off.w_cycles = Required(layout, WorkKey("cycles"));
  off.w_user_forced = Required(layout, WorkKey("userForced"));
  off.w_t_sweep_term = Required(layout, WorkKey("tSweepTerm"));
  off.w_t_mark = Required(layout, WorkKey("tMark"));
  off.w_t_mark_term = Required(layout, WorkKey("tMarkTerm"));
  off.w_t_end = Required(layout, WorkKey("tEnd"));
  off.w_pause_ns = Required(layout, WorkKey("pauseNS"));
  off.w_heap0 = Required(layout, WorkKey("heap0"));
  off.w_heap1 = Required(layout, WorkKey("heap1"));
  off.w_heap2 = Required(layout, WorkKey("heap2"));
  if (ring_bytes) bpf_map__set_max_entries(impl_->skel->maps.events, ring_bytes);
  if (int err = gc_bpf__load(impl_->skel))
    throw Error(fmt::format("loading the gc BPF program: {}", std::strerror(-err)));
  impl_->rb = ring_buffer__new(bpf_map__fd(impl_->skel->maps.events), &Impl::OnSample, impl_.get(), nullptr);
  if (!impl_->rb) throw Error(fmt::format("ring buffer: {}", std::strerror(errno)));

  // gctrace's "@Ns" counts from runtime.runtimeInitTime (set once, in runtime.main).
  Sourced init = layout.get("runtime.runtimeInitTime");
  if (init.known()) impl_->init_time_address = init.value;
}

void GcTracer::AddProcess(pid_t pid, uint64_t load_bias) {
  Impl::Process& pr = impl_->procs[pid];
  if (impl_->init_time_address) {
    ProcessMemory mem(pid);
    if (auto v = mem.ReadU64(impl_->init_time_address + load_bias); v && *v != 0)
      pr.runtime_init_ns = static_cast<int64_t>(*v);
  }
  uint32_t key = static_cast<uint32_t>(pid);
  gc_proc value{static_cast<int64_t>(MonotonicNs()), load_bias};
  if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.procs), &key, &value, BPF_ANY) != 0)
    throw Error(fmt::format("GC tracing of pid {}: {}", pid, std::strerror(errno)));
}

void GcTracer::RemoveProcess(pid_t pid) {
  impl_->procs.erase(pid);
  uint32_t key = static_cast<uint32_t>(pid);
  bpf_map_delete_elem(bpf_map__fd(impl_->skel->maps.procs), &key);
}

GcTracer::~GcTracer() = default;

void GcTracer::Attach(const std::vector<ProbeSite>& sites) {
  const TargetProcess& t = impl_->target;
  if (t.pid > 0) AddProcess(t.pid, t.load_bias);
  for (const auto& s : sites) {
    bpf_program* prog = nullptr;
    switch (s.purpose) {
      case ProbePurpose::kGcStart: prog = impl_->skel->progs.on_gc_start; break;
      case ProbePurpose::kStopTheWorld: prog = impl_->skel->progs.on_stop_the_world; break;
      case ProbePurpose::kStartTheWorld: prog = impl_->skel->progs.on_start_the_world; break;
      default: continue;
    }
    if (!s.ok()) throw Error(fmt::format("probe site {}: {}", PurposeName(s.purpose), s.error));
    impl_->links.AttachSite(prog, t, s);
  }
}

void GcTracer::Detach() { impl_->links.DetachAll(); }

size_t GcTracer::probes() const { return impl_->links.size(); }

int GcTracer::Drain(const std::function<void(const GcCycle&)>& on_cycle,
                    const std::function<void(const StwPause&)>& on_stw) {
  impl_->on_cycle = &on_cycle;
  impl_->on_stw = &on_stw;
  int n = ring_buffer__consume(impl_->rb);
  impl_->on_cycle = nullptr;
  impl_->on_stw = nullptr;
  return n;
}

uint64_t GcTracer::lost() const { return __atomic_load_n(&impl_->skel->bss->events_lost, __ATOMIC_RELAXED); }

const std::string& GcTracer::work_source() const { return impl_->work_source; }

}  // namespace goscope
