#include "probes/goroutine_tracer.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "error.h"
#include "goroutine_events.h"
#include "goroutines.skel.h"
#include "probes/ring_records.h"
#include "probes/uprobe_links.h"

namespace goscope {

struct GoroutineTracer::Impl {
  const TargetProcess& target;
  goroutines_bpf* skel = nullptr;
  ring_buffer* rb = nullptr;
  UprobeLinks links;
  const std::function<void(const GoroutineEvent&)>* sink = nullptr;

  explicit Impl(const TargetProcess& t) : target(t) {}
  ~Impl() {
    links.DetachAll();
    if (rb) ring_buffer__free(rb);
    if (skel) goroutines_bpf__destroy(skel);
  }

  static int OnSample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    auto ev = DecodeGoroutineRecord({static_cast<const uint8_t*>(data), size});
    if (!ev) return 0;
    (*self->sink)(*ev);
    return 0;
  }
};

namespace {

uint64_t Required(const RuntimeLayout& l, const char* key) {
  Sourced v = l.get(key);
  if (!v.known()) throw Error(fmt::format("runtime layout: {} unknown; cannot trace goroutines", key));
  return v.value;
}

}  // namespace

GoroutineTracer::GoroutineTracer(const TargetProcess& target, const RuntimeLayout& layout, uint32_t ring_bytes)
    : impl_(std::make_unique<Impl>(target)) {
  impl_->skel = goroutines_bpf__open();
  if (!impl_->skel) throw Error(fmt::format("opening the goroutines BPF program: {}", std::strerror(errno)));
  PrepareUprobeMulti(impl_->skel->obj);
  auto& off = const_cast<goroutine_offsets&>(impl_->skel->rodata->off);
  off.g_goid = Required(layout, "runtime.g.goid");
  off.g_gopc = Required(layout, "runtime.g.gopc");
  off.g_startpc = Required(layout, "runtime.g.startpc");
  off.g_m = Required(layout, "runtime.g.m");
  off.g_sched_bp = Required(layout, "runtime.g.sched.bp");
  off.m_curg = Required(layout, "runtime.m.curg");
  off.m_g0 = Required(layout, "runtime.m.g0");
  Sourced parent = layout.get("runtime.g.parentGoid");
  off.g_parent_goid = parent.known() ? parent.value : 0;
  __u64 lo = std::min({off.g_goid, off.g_gopc, off.g_startpc}), hi = std::max({off.g_goid, off.g_gopc, off.g_startpc});
  if (off.g_parent_goid) lo = std::min(lo, off.g_parent_goid), hi = std::max(hi, off.g_parent_goid);
  const bool aligned = ((off.g_goid | off.g_gopc | off.g_startpc | off.g_parent_goid | lo) & 7) == 0;
  if (aligned && hi + 8 - lo <= GOROUTINE_G_WINDOW) off.g_window_lo = lo, off.g_window_len = hi + 8 - lo;
  bpf_map__set_max_entries(impl_->skel->maps.events, ring_bytes);
  if (int err = goroutines_bpf__load(impl_->skel))
    throw Error(fmt::format("loading the goroutines BPF program: {}", std::strerror(-err)));
  impl_->rb = ring_buffer__new(bpf_map__fd(impl_->skel->maps.events), &Impl::OnSample, impl_.get(), nullptr);
  if (!impl_->rb) throw Error(fmt::format("ring buffer: {}", std::strerror(errno)));
}

GoroutineTracer::~GoroutineTracer() = default;

void GoroutineTracer::Attach(const std::vector<ProbeSite>& sites, bool exits) {
  const TargetProcess& t = impl_->target;
  // Probes on newproc1's own RETs (the fallback) already see every caller.
  bool rets_of_newproc1 = false;
  for (const auto& s : sites)
    if (s.purpose == ProbePurpose::kGoroutineNewG && s.function == "runtime.newproc1") rets_of_newproc1 = true;
  for (const auto& s : sites) {
    bpf_program* prog = nullptr;
    switch (s.purpose) {
      case ProbePurpose::kGoroutineNewG:
      case ProbePurpose::kGoroutineNewGOther:
        if (s.purpose == ProbePurpose::kGoroutineNewGOther && rets_of_newproc1) continue;
        prog = s.value_reg == "bx" ? impl_->skel->progs.on_newg_bx : impl_->skel->progs.on_newg_ax;
        break;
      case ProbePurpose::kGoroutineExit:
        if (!exits) continue;
        prog = s.value_reg == "ax" ? impl_->skel->progs.on_gdestroy_ax : impl_->skel->progs.on_goexit_r14;
        break;
      default: continue;
    }
    if (!s.ok()) {
      if (s.not_needed()) continue;
      throw Error(fmt::format("probe site {}: {}", PurposeName(s.purpose), s.error));
    }
    impl_->links.AttachSite(prog, t, s);
  }
}

void GoroutineTracer::Detach() { impl_->links.DetachAll(); }

size_t GoroutineTracer::probes() const { return impl_->links.size(); }

int GoroutineTracer::Drain(const std::function<void(const GoroutineEvent&)>& on_event) {
  impl_->sink = &on_event;
  int n = ring_buffer__consume(impl_->rb);
  impl_->sink = nullptr;
  return n;
}

uint64_t GoroutineTracer::lost() const { return __atomic_load_n(&impl_->skel->bss->events_lost, __ATOMIC_RELAXED); }

}  // namespace goscope
