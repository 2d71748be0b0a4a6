#include "process/heap_spans.h"

#include <algorithm>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

struct SpanLayout {
  uint64_t size = 0, start = 0, npages = 0, elemsize = 0, spanclass = 0, state = 0, specials = 0;
  uint64_t in_use = 0, manual = 0;
  std::optional<uint64_t> large_type;  // 1.22+, with malloc headers
};

SpanLayout ResolveSpanLayout(const RuntimeLayout& l) {
  SpanLayout s;
  std::string missing = l.Fill({{"runtime.mspan#size", &s.size},
                                {"runtime.mspan.startAddr", &s.start},
                                {"runtime.mspan.npages", &s.npages},
                                {"runtime.mspan.elemsize", &s.elemsize},
                                {"runtime.mspan.spanclass", &s.spanclass},
                                {"runtime.mspan.state", &s.state},
                                {"runtime.mspan.specials", &s.specials},
                                {"runtime.mSpanInUse", &s.in_use},
                                {"runtime.mSpanManual", &s.manual}});
  if (!missing.empty()) throw Error("heap layout incomplete: " + missing + " unknown");
  if (Sourced t = l.get("runtime.mspan.largeType"); t.known()) s.large_type = t.value;
  return s;
}

uint64_t U64(const uint8_t* p, uint64_t off) {
  uint64_t v;
  std::memcpy(&v, p + off, 8);
  return v;
}

}  // namespace

HeapSpans HeapSpans::Read(const ProcessMemory& mem, const RuntimeLayout& layout, uint64_t bias) {
  const pid_t pid = mem.pid();
  Sourced mheap = layout.get("runtime.mheap_");
  Sourced allspans = layout.get("runtime.mheap.allspans");
  if (!mheap.known() || !allspans.known())
    throw Error(fmt::format("process {}: cannot find the heap: runtime.mheap_{} unknown", pid,
                            mheap.known() ? ".allspans" : ""));
  SpanLayout L = ResolveSpanLayout(layout);

  const std::vector<uint64_t> ptrs = ReadRuntimePointerSlice(mem, mheap.value + bias + allspans.value,
                                                             uint64_t{1} << 26, "runtime.mheap_.allspans");

  HeapSpans out;
  constexpr size_t kBatch = 4096;
  std::vector<uint8_t> buf(kBatch * L.size);
  for (size_t i = 0; i < ptrs.size(); i += kBatch) {
    size_t n = std::min(kBatch, ptrs.size() - i);
    std::vector<ProcessMemory::Piece> pieces(n);
    for (size_t k = 0; k < n; k++) pieces[k] = {ptrs[i + k], buf.data() + k * L.size, L.size};
    mem.ReadMany(pieces);
    for (size_t k = 0; k < n; k++) {
      if (!pieces[k].ok)
        throw Error(fmt::format("process {}: cannot read span {:#x} of runtime.mheap_.allspans", pid, ptrs[i + k]));
      const uint8_t* p = buf.data() + k * L.size;
      if (p[L.state] == L.manual) {  // stacks (and a few runtime buffers): no heap objects
        HeapSpan s;
        s.start = U64(p, L.start);
        s.end = s.start + (U64(p, L.npages) << kPageShift);
        s.elemsize = U64(p, L.elemsize);
        if (s.start && s.end > s.start) out.stacks_.push_back(s);
        continue;
      }
      if (p[L.state] != L.in_use) continue;  // free
      HeapSpan s;
      s.start = U64(p, L.start);
      uint64_t npages = U64(p, L.npages);
      s.elemsize = U64(p, L.elemsize);
      if (!s.start || !npages || npages > (uint64_t{1} << 30) || !s.elemsize || s.elemsize > npages << kPageShift)
        throw Error(fmt::format("process {}: span {:#x} is not shaped like an in-use span (start {:#x}, {} pages, "
                                "element size {})", pid, ptrs[i + k], s.start, npages, s.elemsize));
      s.end = s.start + (npages << kPageShift);
      s.objects = static_cast<uint32_t>((s.end - s.start) / s.elemsize);
      s.noscan = (p[L.spanclass] & 1) != 0;
      s.specials = U64(p, L.specials);
      if (L.large_type && !s.noscan) {
        const bool large = (p[L.spanclass] >> 1) == 0;  // size class 0: one object
        s.large_type = large ? U64(p, *L.large_type) : 0;
        s.malloc_header = !large && s.elemsize > 512;   // runtime.minSizeForMallocHeader
      }
      out.spans_.push_back(s);
    }
  }
  auto by_start = [](const HeapSpan& a, const HeapSpan& b) { return a.start < b.start; };
  std::sort(out.spans_.begin(), out.spans_.end(), by_start);
  std::sort(out.stacks_.begin(), out.stacks_.end(), by_start);
  if (!out.spans_.empty()) out.lo_ = out.spans_.front().start, out.hi_ = out.spans_.back().end;
  for (size_t i = 0; i < out.spans_.size(); i++) {
    HeapSpan& s = out.spans_[i];
    if (i && s.start < out.spans_[i - 1].end)
      throw Error(fmt::format("process {}: heap spans overlap at {:#x}: the heap changed while it was read", pid, s.start));
    s.first_index = out.objects_;
    out.objects_ += s.objects;
    out.bytes_ += s.end - s.start;
    for (uint64_t page = s.start >> kPageShift; page < s.end >> kPageShift; page++) {
      auto& arena = out.pages_[page / kPagesPerArena];
      if (arena.empty()) arena.assign(kPagesPerArena, -1);
      arena[page % kPagesPerArena] = static_cast<int32_t>(i);
    }
  }
  if (out.hi_ > out.lo_ && ((out.hi_ - 1) >> kArenaShift) - (out.lo_ >> kArenaShift) < kMaxArenaTable) {
    out.first_arena_ = out.lo_ >> kArenaShift;
    out.arena_table_.assign(((out.hi_ - 1) >> kArenaShift) - out.first_arena_ + 1, nullptr);
    for (const auto& [arena, pages] : out.pages_) out.arena_table_[arena - out.first_arena_] = pages.data();
  }
  return out;
}

std::optional<std::pair<uint64_t, uint64_t>> HeapSpans::StackAt(uint64_t addr) const {
  auto it = std::upper_bound(stacks_.begin(), stacks_.end(), addr,
                             [](uint64_t a, const HeapSpan& s) { return a < s.start; });
  if (it == stacks_.begin()) return std::nullopt;
  const HeapSpan& s = *--it;
  if (addr >= s.end) return std::nullopt;
  // Pool spans hold several stacks of elemsize; a large stack fills its span.
  if (!s.elemsize || s.elemsize >= s.end - s.start) return std::pair{s.start, s.end};
  uint64_t lo = s.start + (addr - s.start) / s.elemsize * s.elemsize;
  return std::pair{lo, std::min(lo + s.elemsize, s.end)};
}

uint64_t HeapSpans::NextSpanStart(uint64_t addr) const {
  auto it = std::lower_bound(spans_.begin(), spans_.end(), addr,
                             [](const HeapSpan& s, uint64_t a) { return s.start < a; });
  return it == spans_.end() ? UINT64_MAX : it->start;
}

}  // namespace goscope
