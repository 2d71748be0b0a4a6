#include "stack_maps.h"

#include <cstring>

namespace goscope {
namespace {

constexpr int64_t kPtrSize = 8;

int32_t I32(Bytes b, size_t off) {
  int32_t v = 0;
  if (off + 4 <= b.size()) std::memcpy(&v, b.data() + off, 4);
  return v;
}

// runtime.stackmap {n, nbit int32; bytedata}: bitmap index of n, nbit bits each.
// Appends base + 8*i for each set bit i; false if the map is unusable.
bool AppendPointers(Bytes stackmap, int32_t index, int64_t base, std::vector<uint32_t>* out, int64_t* nbit_out) {
  const int32_t n = I32(stackmap, 0), nbit = I32(stackmap, 4);
  *nbit_out = nbit;
  if (n <= 0 || nbit < 0) return false;
  if (nbit == 0) return true;
  if (index < 0 || index >= n) return false;
  const size_t bytes = (static_cast<size_t>(nbit) + 7) / 8;
  const size_t at = 8 + static_cast<size_t>(index) * bytes;
  if (at + bytes > stackmap.size()) return false;
  for (int32_t i = 0; i < nbit; i++)
    if (stackmap[at + i / 8] >> (i % 8) & 1) {
      int64_t off = base + kPtrSize * i;
      if (off < 0) return false;
      out->push_back(static_cast<uint32_t>(off));
    }
  return true;
}

}  // namespace

std::optional<FramePointerMap> FramePointerMapAt(const Pclntab& tab, const Func& f, uint64_t pc) {
  const int32_t delta = tab.SpDelta(f, pc);
  if (delta < 0) return std::nullopt;
  FramePointerMap m;
  const int64_t fp = int64_t{delta} + kPtrSize;
  m.fp_offset = static_cast<uint64_t>(fp);
  int64_t varp = fp - kPtrSize;
  if (varp > 0) varp -= kPtrSize;  // the saved frame pointer
  const int64_t argp = fp;

  int32_t index = -1;
  if (pc != f.entry) index = tab.Pcdata(f, kPcdataStackMapIndex, pc - 1);
  if (index == -1) index = 0;  // the prologue, as the runtime assumes

  if (varp > 0) {
    Bytes locals = tab.FuncData(f, kFuncdataLocalsPointerMaps);
    if (locals.size() < 8) return std::nullopt;  // a frame with locals and no map: assembly
    int64_t nbit = 0;
    std::vector<uint32_t> words;
    if (!AppendPointers(locals, index, 0, &words, &nbit)) return std::nullopt;
    // Bit i of the locals map is the word at varp - 8*nbit + 8*i.
    for (uint32_t w : words) {
      int64_t off = varp - kPtrSize * nbit + w;
      if (off < 0) return std::nullopt;
      m.pointer_words.push_back(static_cast<uint32_t>(off));
    }
  }
  const int32_t args = tab.ArgsSize(f);
  if (args < 0) return std::nullopt;  // reflect's stubs: arguments of unknown shape
  if (args > 0) {
    Bytes argmap = tab.FuncData(f, kFuncdataArgsPointerMaps);
    if (argmap.size() < 8) return std::nullopt;
    int64_t nbit = 0;
    if (!AppendPointers(argmap, index, argp, &m.pointer_words, &nbit)) return std::nullopt;
  }
  if (Bytes objs = tab.FuncData(f, kFuncdataStackObjects); objs.size() >= 8) {
    uint64_t n = 0;
    std::memcpy(&n, objs.data(), 8);
    if (n > 4096 || 8 + n * 16 > objs.size()) return std::nullopt;
    for (uint64_t i = 0; i < n; i++) {
      const int32_t off = I32(objs, 8 + i * 16), size = I32(objs, 12 + i * 16);
      const int64_t at = (off < 0 ? varp : argp) + off;
      if (size <= 0) continue;
      if (at < 0) continue;  // not yet allocated in the frame (below sp)
      m.objects.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(size)});
    }
  }
  return m;
}

std::set<uint64_t> TrapFunctionEntries(const Pclntab& tab) {
  std::set<uint64_t> out;
  for (const char* name : {"runtime.asyncPreempt", "runtime.sigpanic", "runtime.debugCallV2"})
    if (const Func* f = tab.LookupFunction(name)) out.insert(f->entry);
  return out;
}

}  // namespace goscope
