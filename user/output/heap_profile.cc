#include "output/heap_profile.h"

#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

bool IsRuntimeFunction(const std::string& name) {
  return name.starts_with("runtime.") || name.starts_with("internal/runtime/");
}

// Symbolizes each pc once.
class CachedSymbolizer {
 public:
  explicit CachedSymbolizer(const FrameLookup& s) : s_(s) {}
  const std::vector<Frame>& operator()(uint64_t pc) {
    auto it = cache_.find(pc);
    if (it == cache_.end()) it = cache_.emplace(pc, s_ ? s_(pc) : std::vector<Frame>{}).first;
    return it->second;
  }

 private:
  const FrameLookup& s_;
  std::unordered_map<uint64_t, std::vector<Frame>> cache_;
};

std::vector<uint64_t> CutStack(const std::vector<uint64_t>& stack, CachedSymbolizer& sym) {
  size_t first = stack.size();
  for (size_t i = 0; i < stack.size(); ++i) {
    const auto& frames = sym(stack[i]);
    if (frames.empty() || !IsRuntimeFunction(frames.front().function)) {
      first = i;
      break;
    }
  }
  if (first == stack.size()) {
    // All runtime (the runtime allocating for itself): Go's second try shows
    // every frame of its stack, which starts at mallocgc's caller; a bucket's
    // may start inside the allocator (1.27 keeps mallocgc's own frames).
    first = 0;
    for (size_t i = 0; i < stack.size(); ++i) {
      const auto& frames = sym(stack[i]);
      if (!frames.empty() && frames.back().function == "runtime.mallocgc") {
        first = i + 1 < stack.size() ? i + 1 : 0;
        break;
      }
    }
  }
  // runtime.goexit is every goroutine's root (its return address is planted by
  // newproc); a frame-pointer walk may read on past it into whatever the
  // stack's top holds, so the stack ends before the first goexit.
  size_t last = stack.size();
  for (size_t i = first; i < stack.size(); ++i) {
    const auto& frames = sym(stack[i]);
    if (!frames.empty() && frames.front().function == "runtime.goexit") {
      last = i;
      break;
    }
  }
  return {stack.begin() + static_cast<std::ptrdiff_t>(first), stack.begin() + static_cast<std::ptrdiff_t>(last)};
}

enum class Value { kAllocObjects, kAllocSpace, kInuseObjects, kInuseSpace, kNone };

Value ParseValue(const std::string& name) {
  if (name == "alloc_objects") return Value::kAllocObjects;
  if (name == "alloc_space") return Value::kAllocSpace;
  if (name == "inuse_objects") return Value::kInuseObjects;
  if (name == "inuse_space") return Value::kInuseSpace;
  return Value::kNone;
}

// The four values of a record as the profile shows them.
std::vector<int64_t> Values(const HeapRecord& r, const HeapProfileInfo& info) {
  if (info.exact) return {r.alloc_objects, r.alloc_bytes, r.inuse_objects, r.inuse_bytes};
  auto [ao, ab] = ScaleHeapSample(r.alloc_objects, r.alloc_bytes, info.rate);
  auto [io, ib] = ScaleHeapSample(r.inuse_objects, r.inuse_bytes, info.rate);
  return {ao, ab, io, ib};
}

}  // namespace

std::vector<uint64_t> HeapProfileStack(const std::vector<uint64_t>& stack, const FrameLookup& symbolize) {
  CachedSymbolizer sym(symbolize);
  return CutStack(stack, sym);
}

PprofProfile BuildHeapProfile(const std::vector<HeapRecord>& records, const HeapProfileInfo& info,
                              const FrameLookup& symbolize) {
  std::vector<std::pair<std::string, std::string>> types = {{"alloc_objects", "count"}, {"alloc_space", "bytes"}};
  if (!info.exact) {
    types.push_back({"inuse_objects", "count"});
    types.push_back({"inuse_space", "bytes"});
  }
  PprofProfile p(types);
  p.set_period("space", "bytes", info.exact ? 1 : info.rate);
  if (info.exact) {
    p.set_default_sample_type("alloc_space");
    p.add_comment("goscope exact mode: every runtime.mallocgc call counted, unsampled; it sees no frees, so "
                  "there are no inuse values. Tiny allocations (no pointers, < 16 bytes; the runtime packs them "
                  "into shared 16-byte blocks) are listed at their own size; their alloc_space adds 16 bytes for each "
                  "one that opens a new block and 0 for one that shares it, as the runtime accounts them.");
  }
  for (const auto& c : info.comments) p.add_comment(c);
  if (info.time_ns) p.set_time(info.time_ns);
  if (info.duration_ns) p.set_duration(info.duration_ns);
  for (const auto& m : info.mappings) p.add_mapping(m.start, m.limit, m.offset, m.file, m.build_id);
  CachedSymbolizer sym(symbolize);
  p.set_symbolizer([&sym](uint64_t pc) { return sym(pc); });
  for (const auto& r : records) {
    std::vector<int64_t> v = Values(r, info);
    if (info.exact) v.resize(2);
    bool any = false;
    for (int64_t x : v) any |= x != 0;
    if (!any) continue;
    std::vector<std::tuple<std::string, int64_t, std::string>> num;
    if (r.size) num.emplace_back("bytes", static_cast<int64_t>(r.size), "");
    p.add_sample(CutStack(r.stack, sym), v, r.labels, num);
  }
  p.set_symbolizer(nullptr);  // sym dies with this frame; every location is symbolized by now
  return p;
}

bool IsHeapValueName(const std::string& name) { return ParseValue(name) != Value::kNone; }

std::string FoldedHeapStacks(const std::vector<HeapRecord>& records, const HeapProfileInfo& info,
                             const std::string& value, const FrameLookup& symbolize) {
  Value which = ParseValue(value);
  if (which == Value::kNone) throw Error(fmt::format("unknown heap value '{}'", value));
  CachedSymbolizer sym(symbolize);
  std::map<std::string, int64_t> folded;
  for (const auto& r : records) {
    int64_t v = Values(r, info)[static_cast<size_t>(which)];
    if (v == 0) continue;
    std::vector<uint64_t> stack = CutStack(r.stack, sym);
    std::string line;
    for (auto pc = stack.rbegin(); pc != stack.rend(); ++pc) {
      const auto& frames = sym(*pc);
      if (frames.empty()) {
        if (!line.empty()) line += ';';
        line += fmt::format("{:#x}", *pc);
        continue;
      }
      for (auto f = frames.rbegin(); f != frames.rend(); ++f) {  // outermost (the caller) first
        if (!line.empty()) line += ';';
        line += f->function;
      }
    }
    if (line.empty()) line = "[unknown]";
    folded[line] += v;
  }
  std::string out;
  for (const auto& [stack, v] : folded)
    if (v) out += fmt::format("{} {}\n", stack, v);
  return out;
}

}  // namespace goscope
