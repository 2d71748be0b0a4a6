#include "probes/heap_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "error.h"
#include "heap_events.h"  // before the skeleton, which names struct heap_config
#include "heap.skel.h"
#include "probes/ring_records.h"
#include "probes/uprobe_links.h"
#include "x86_decoder.h"

namespace goscope {
namespace {

// runtime/sizeclasses.go (internal/runtime/gc from 1.25), identical in Go 1.19-1.27.
constexpr uint16_t kClassToSize[HEAP_NUM_SIZE_CLASSES] = {
    0,     8,     16,    24,    32,    48,    64,    80,    96,    112,   128,   144,   160,   176,
    192,   208,   224,   240,   256,   288,   320,   352,   384,   416,   448,   480,   512,   576,
    640,   704,   768,   896,   1024,  1152,  1280,  1408,  1536,  1792,  2048,  2304,  2688,  3072,
    3200,  3456,  4096,  4864,  5376,  6144,  6528,  6784,  6912,  8192,  9472,  9728,  10240, 10880,
    12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768};

// size_to_class8[i]: the smallest class holding i*8 bytes; size_to_class128[i]:
// the smallest class holding 1024 + i*128 bytes. Derived from class_to_size
// exactly as runtime/mksizeclasses.go does.
struct ClassLookup {
  uint8_t c8[HEAP_SIZE_TO_CLASS8_LEN];
  uint8_t c128[HEAP_SIZE_TO_CLASS128_LEN];
};

constexpr uint8_t SmallestClass(uint32_t size) {
  for (uint8_t c = 1; c < HEAP_NUM_SIZE_CLASSES; ++c)
    if (kClassToSize[c] >= size) return c;
  return HEAP_NUM_SIZE_CLASSES - 1;
}

constexpr ClassLookup MakeLookup() {
  ClassLookup l{};
  for (uint32_t i = 0; i < HEAP_SIZE_TO_CLASS8_LEN; ++i) l.c8[i] = i == 0 ? 0 : SmallestClass(i * 8);
  for (uint32_t i = 0; i < HEAP_SIZE_TO_CLASS128_LEN; ++i) l.c128[i] = SmallestClass(1024 + i * 128);
  return l;
}
constexpr ClassLookup kLookup = MakeLookup();
// Spot checks against the runtime's tables.
static_assert(kLookup.c8[13] == 9 && kClassToSize[9] == 112);       // 100 bytes -> 112
static_assert(kLookup.c128[0] == 32 && kLookup.c128[1] == 33);      // 1024, 1152
static_assert(kLookup.c128[248] == 67 && kLookup.c8[128] == 32);

uint64_t Required(const RuntimeLayout& l, const char* key) {
  Sourced v = l.get(key);
  if (!v.known()) throw Error(fmt::format("runtime layout: {} unknown; cannot profile the heap", key));
  return v.value;
}

}  // namespace

struct HeapTracer::Impl {
  const TargetProcess& target;
  HeapMode mode;
  heap_bpf* skel = nullptr;
  ring_buffer* rb = nullptr;
  UprobeLinks links;
  const std::function<void(const HeapInitEvent&)>* sink = nullptr;

  Impl(const TargetProcess& t, HeapMode m) : target(t), mode(m) {}
  ~Impl() {
    links.DetachAll();
    if (rb) ring_buffer__free(rb);
    if (skel) heap_bpf__destroy(skel);
  }

  static int OnSample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    auto ev = DecodeHeapRecord({static_cast<const uint8_t*>(data), size});
    if (!ev) return 0;
    (*self->sink)(*ev);
    return 0;
  }
};

HeapTracer::HeapTracer(const TargetProcess& target, const RuntimeLayout& layout, HeapMode mode)
    : impl_(std::make_unique<Impl>(target, mode)) {
  const int minor = GoMinorVersion(target.binary->go_version());
  if (minor < 19) throw Error(fmt::format("heap profiling supports Go 1.19 and later, not {}", target.binary->go_version()));
  impl_->skel = heap_bpf__open();
  if (!impl_->skel) throw Error(fmt::format("opening the heap BPF program: {}", std::strerror(errno)));
  PrepareUprobeMulti(impl_->skel->obj);
  auto& cfg = const_cast<heap_config&>(impl_->skel->rodata->cfg);
  cfg.g_goid = Required(layout, "runtime.g.goid");
  cfg.g_m = Required(layout, "runtime.g.m");
  // _type.ptrdata (<= 1.20) / abi.Type.PtrBytes (1.21+): the second word in every release.
  cfg.type_ptrdata_offset = 8;
  // 1.22 (allocheaders): pointerful objects above 512 bytes carry an 8-byte
  // type header inside their slot, and the small/large limit moves down by 8.
  cfg.malloc_header_size = minor >= 22 ? 8 : 0;
  cfg.max_small_size = 32768 - cfg.malloc_header_size;
  // Tiny blocks: without the mcache's offsets, tiny allocations count at their requested size.
  if (layout.has("runtime.m.p") && layout.has("runtime.p.mcache") && layout.has("runtime.mcache.tiny") &&
      layout.has("runtime.mcache.tinyoffset")) {
    cfg.tiny_exact = 1;
    cfg.m_p = layout.get("runtime.m.p").value;
    cfg.p_mcache = layout.get("runtime.p.mcache").value;
    cfg.mcache_tiny = layout.get("runtime.mcache.tiny").value;
    cfg.mcache_tinyoffset = layout.get("runtime.mcache.tinyoffset").value;
  }
  cfg.init_attribution = mode == HeapMode::kInit;
  cfg.init_goid = 1;  // runtime.main runs on the first goroutine (inittrace.id)
  std::copy(std::begin(kClassToSize), std::end(kClassToSize), cfg.class_to_size);
  std::copy(std::begin(kLookup.c8), std::end(kLookup.c8), cfg.size_to_class8);
  std::copy(std::begin(kLookup.c128), std::end(kLookup.c128), cfg.size_to_class128);

  // Exact mode sends no events; init marks are one per init function.
  bpf_map__set_max_entries(impl_->skel->maps.events,
                           mode == HeapMode::kExact ? static_cast<uint32_t>(sysconf(_SC_PAGESIZE)) : 1 << 20);
  if (int err = heap_bpf__load(impl_->skel))
    throw Error(fmt::format("loading the heap BPF program: {}", std::strerror(-err)));
  impl_->rb = ring_buffer__new(bpf_map__fd(impl_->skel->maps.events), &Impl::OnSample, impl_.get(), nullptr);
  if (!impl_->rb) throw Error(fmt::format("ring buffer: {}", std::strerror(errno)));
}

HeapTracer::~HeapTracer() = default;

HeapMode HeapTracer::mode() const { return impl_->mode; }

void HeapTracer::Attach(const std::vector<ProbeSite>& sites) {
  const TargetProcess& t = impl_->target;
  // Each address's cookie is 1 + its index in the site (on_init_function's name for it).
  auto attach = [&](ProbePurpose purpose, bpf_program* prog) {
    for (const auto& s : sites) {
      if (s.purpose != purpose) continue;
      if (!s.ok()) throw Error(fmt::format("probe site {}: {}", PurposeName(s.purpose), s.error.empty() ? "none" : s.error));
      impl_->links.AttachSite(prog, t, s);
      return;
    }
    throw Error(fmt::format("no probe site for {}", PurposeName(purpose)));
  };
  // 1.27+: mallocgc hands small sizes to the size-specialized allocators,
  // which compiled code also calls directly; count each allocation once.
  bpf_program* malloc_prog = impl_->skel->progs.on_mallocgc;
  for (const auto& s : sites) {
    if (s.purpose != ProbePurpose::kMalloc || !s.ok() || !s.dispatch_below) continue;
    const Func* mallocgc = t.binary->pclntab().FindFunc(s.function_entry);
    if (!mallocgc) throw Error("runtime.mallocgc vanished from the pclntab");
    // At its entry the probe skips what mallocgc hands on; past the hand-over it sees none of it.
    impl_->skel->bss->malloc_dispatch_below = s.in_frame ? 0 : s.dispatch_below;
    impl_->skel->bss->mallocgc_lo = mallocgc->entry + t.load_bias;
    impl_->skel->bss->mallocgc_hi = mallocgc->end + t.load_bias;
    if (s.in_frame) malloc_prog = impl_->skel->progs.on_mallocgc_own_path;
    // The specialized allocators first: an allocation handed on after
    // mallocgc's probe is live must be counted.
    attach(ProbePurpose::kMallocSpecialized, impl_->skel->progs.on_malloc_specialized);
  }
  attach(ProbePurpose::kMalloc, malloc_prog);
  if (impl_->mode != HeapMode::kInit) return;
  attach(ProbePurpose::kRuntimeInitDone, impl_->skel->progs.on_runtime_init_done);
  attach(ProbePurpose::kMainMain, impl_->skel->progs.on_main_main);
  attach(ProbePurpose::kInitFunctions, impl_->skel->progs.on_init_function);
}

void HeapTracer::Detach() { impl_->links.DetachAll(); }

size_t HeapTracer::probes() const { return impl_->links.size(); }

int HeapTracer::Drain(const std::function<void(const HeapInitEvent&)>& on_event) {
  impl_->sink = &on_event;
  int n = ring_buffer__consume(impl_->rb);
  impl_->sink = nullptr;
  return n;
}

uint64_t HeapTracer::lost() const { return __atomic_load_n(&impl_->skel->bss->events_lost, __ATOMIC_RELAXED); }

std::vector<HeapExactRecord> HeapTracer::ReadExact() const {
  std::vector<HeapExactRecord> out;
  int stacks_fd = bpf_map__fd(impl_->skel->maps.exact_stacks);
  int counts_fd = bpf_map__fd(impl_->skel->maps.exact_counts);
  std::map<uint64_t, std::vector<uint64_t>> stacks;
  uint64_t skey = 0, snext = 0;
  heap_exact_stack sval{};
  uint64_t* sprev = nullptr;
  while (bpf_map_get_next_key(stacks_fd, sprev, &snext) == 0) {
    if (bpf_map_lookup_elem(stacks_fd, &snext, &sval) == 0) {
      uint32_t n = std::min<uint32_t>(sval.nframes, HEAP_EXACT_STACK_MAX);
      stacks[snext].assign(sval.pcs, sval.pcs + n);
    }
    skey = snext;
    sprev = &skey;
  }
  heap_exact_key key{}, next{};
  heap_exact_key* prev = nullptr;
  while (bpf_map_get_next_key(counts_fd, prev, &next) == 0) {
    heap_exact_value v{};
    if (bpf_map_lookup_elem(counts_fd, &next, &v) == 0) {
      HeapExactRecord r;
      auto it = stacks.find(next.stack_id);
      if (it != stacks.end()) r.stack = it->second;
      r.size = next.size;
      r.tiny = next.tiny != 0;
      r.init_fn = next.init_fn == 0 ? -1 : int64_t(next.init_fn) - 1;
      r.init_g = next.init_g != 0;
      r.after_main = next.after_main != 0;
      r.count = v.count;
      r.bytes = v.bytes;
      out.push_back(std::move(r));
    }
    key = next;
    prev = &key;
  }
  return out;
}

HeapExactStats HeapTracer::exact_stats() const {
  HeapExactStats s;
  int fd = bpf_map__fd(impl_->skel->maps.exact_counters);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return s;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  auto sum = [&](uint32_t idx) {
    uint64_t total = 0;
    if (bpf_map_lookup_elem(fd, &idx, per_cpu.data()) == 0)
      for (uint64_t v : per_cpu) total += v;
    return total;
  };
  s.calls = sum(HEAP_EXACT_CALLS);
  s.zero_size = sum(HEAP_EXACT_ZERO);
  s.stacks_full = sum(HEAP_EXACT_STACKS_FULL);
  s.counts_full = sum(HEAP_EXACT_COUNTS_FULL);
  return s;
}

}  // namespace goscope
