#include "pclntab.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

constexpr uint32_t kMagic116 = 0xFFFFFFFA;
constexpr uint32_t kMagic118 = 0xFFFFFFF0;
constexpr uint32_t kMagic120 = 0xFFFFFFF1;

constexpr uint32_t kNoFuncdata = 0xFFFFFFFF;
constexpr int kMaxInlineDepth = 100;  // a cycle in a corrupt tree must not hang us

Bytes Sub(Bytes b, uint64_t off) { return off <= b.size() ? b.subspan(off) : Bytes{}; }

std::string_view CStr(Bytes b, uint64_t off) {
  if (off >= b.size()) return {};
  auto* p = reinterpret_cast<const char*>(b.data() + off);
  return {p, strnlen(p, b.size() - off)};
}

}  // namespace

struct Pclntab::Record {
  uint32_t pcfile = 0, pcln = 0, npcdata = 0, cu_offset = 0;
  uint8_t nfuncdata = 0;
  uint64_t pcdata_off = 0;  // within functab_
  uint64_t funcdata_off = 0;
};

uint32_t Pclntab::U32(Bytes b, uint64_t off) const {
  if (off > b.size() || b.size() - off < 4) return 0;
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}

uint64_t Pclntab::Uptr(Bytes b, uint64_t off) const {
  if (off > b.size() || b.size() - off < 8) return 0;
  uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}

Pclntab::Pclntab(const ElfFile& elf, Bytes data, uint64_t vaddr) : elf_(elf), data_(data), vaddr_(vaddr) {
  auto bad = [&](const std::string& why) {
    return Error(fmt::format("{}: pclntab at {:#x}: {}", elf.path(), vaddr, why));
  };
  if (data.size() < 64) throw bad("too short");
  uint32_t magic = U32(data, 0);
  if (magic == kMagic116) format_ = PclntabFormat::kGo116;
  else if (magic == kMagic118) format_ = PclntabFormat::kGo118;
  else if (magic == kMagic120) format_ = PclntabFormat::kGo120;
  else throw bad(fmt::format("unknown magic {:#x} (Go older than 1.16?)", magic));
  if (data[4] != 0 || data[5] != 0) throw bad("bad header padding");
  quantum_ = data[6];
  if (quantum_ != 1) throw bad(fmt::format("instruction quantum {} is not x86's", quantum_));
  if (data[7] != 8) throw bad(fmt::format("pointer size {} (only 64-bit is supported)", data[7]));

  // Header words after the 8-byte prefix; 1.18 inserted textStart as the third.
  uint64_t nfunc = Uptr(data, 8);
  int w = 2;
  if (format_ != PclntabFormat::kGo116) text_start_ = Uptr(data, 8 + 8 * w++);
  text_start_in_header_ = format_ != PclntabFormat::kGo116 && text_start_ != 0;
  uint64_t funcname = Uptr(data, 8 + 8 * w++);
  uint64_t cu = Uptr(data, 8 + 8 * w++);
  uint64_t filetab = Uptr(data, 8 + 8 * w++);
  uint64_t pctab = Uptr(data, 8 + 8 * w++);
  uint64_t functab = Uptr(data, 8 + 8 * w++);
  for (uint64_t off : {funcname, cu, filetab, pctab, functab})
    if (off >= data.size()) throw bad(fmt::format("table offset {:#x} past its end", off));
  if (!(funcname < cu && cu <= filetab && filetab <= pctab && pctab <= functab))
    throw bad("table offsets out of order");
  uint64_t entry_size = format_ == PclntabFormat::kGo116 ? 16 : 8;
  if (nfunc == 0 || nfunc > (data.size() - functab) / entry_size) throw bad(fmt::format("bad function count {}", nfunc));
  funcname_off_ = funcname;
  funcnametab_ = data.subspan(funcname, cu - funcname);
  cutab_ = data.subspan(cu, filetab - cu);
  filetab_ = data.subspan(filetab, pctab - filetab);
  pctab_ = data.subspan(pctab, functab - pctab);
  functab_ = data.subspan(functab);

  funcs_.resize(nfunc);
  uint64_t prev = 0;
  for (uint64_t i = 0; i < nfunc; i++) {
    Func& f = funcs_[i];
    if (format_ == PclntabFormat::kGo116) {
      f.entry = Uptr(functab_, i * 16);
      f.func_off = static_cast<uint32_t>(Uptr(functab_, i * 16 + 8));
      f.end = Uptr(functab_, (i + 1) * 16);
    } else {
      f.entry = text_start_ + U32(functab_, i * 8);
      f.func_off = U32(functab_, i * 8 + 4);
      f.end = text_start_ + U32(functab_, (i + 1) * 8);
    }
    if (f.entry < prev || f.end < f.entry) throw bad(fmt::format("function table not sorted at entry {}", i));
    prev = f.entry;
    // nameoff sits right after the entry field of the _func record.
    uint64_t nameoff_at = f.func_off + (format_ == PclntabFormat::kGo116 ? 8 : 4);
    f.name = CStr(funcnametab_, U32(functab_, nameoff_at));
    uint64_t id_at = f.func_off + (format_ == PclntabFormat::kGo120 ? 40 : format_ == PclntabFormat::kGo118 ? 36 : 40);
    f.func_id = id_at < functab_.size() ? functab_[id_at] : 0;
    // funcFlag follows funcID from go1.18 (go1.16's byte there is padding).
    if (format_ != PclntabFormat::kGo116 && id_at + 1 < functab_.size()) f.flags = functab_[id_at + 1];
  }
}

void Pclntab::set_text_start(uint64_t text) {
  if (text_start_ != 0 || format_ == PclntabFormat::kGo116)
    throw Error(fmt::format("{}: pclntab text start set twice", elf_.path()));
  for (Func& f : funcs_) {
    f.entry += text;
    f.end += text;
  }
  text_start_ = text;
}

// Built on the first lookup by name: sorting every name is most of the cost of
// opening a binary, and symbolizing never needs it.
const std::vector<uint32_t>& Pclntab::ByName() const {
  std::call_once(by_name_once_, [&] {
    by_name_.resize(funcs_.size());
    for (uint32_t i = 0; i < funcs_.size(); i++) by_name_[i] = i;
    std::stable_sort(by_name_.begin(), by_name_.end(),
                     [&](uint32_t a, uint32_t b) { return funcs_[a].name < funcs_[b].name; });
  });
  return by_name_;
}

const Func* Pclntab::FindFunc(uint64_t pc) const {
  auto it = std::upper_bound(funcs_.begin(), funcs_.end(), pc,
                             [](uint64_t v, const Func& f) { return v < f.entry; });
  if (it == funcs_.begin()) return nullptr;
  --it;
  return pc < it->end ? &*it : nullptr;
}

std::vector<const Func*> Pclntab::FuncsNamed(std::string_view name) const {
  const auto& by_name = ByName();
  auto lo = std::lower_bound(by_name.begin(), by_name.end(), name,
                             [&](uint32_t i, std::string_view n) { return funcs_[i].name < n; });
  std::vector<const Func*> out;
  for (; lo != by_name.end() && funcs_[*lo].name == name; ++lo) out.push_back(&funcs_[*lo]);
  return out;
}

const Func* Pclntab::LookupFunction(std::string_view name) const {
  auto all = FuncsNamed(name);
  for (const Func* f : all)
    if (f->func_id == 0) return f;
  return all.size() == 1 ? all[0] : nullptr;
}

Pclntab::Record Pclntab::ReadRecord(const Func& f) const {
  Record r;
  uint64_t base = f.func_off;
  uint64_t ptr_shift = format_ == PclntabFormat::kGo116 ? 4 : 0;  // 1.16 entry is 8 bytes, not 4
  r.pcfile = U32(functab_, base + 20 + ptr_shift);
  r.pcln = U32(functab_, base + 24 + ptr_shift);
  r.npcdata = U32(functab_, base + 28 + ptr_shift);
  r.cu_offset = U32(functab_, base + 32 + ptr_shift);
  uint64_t size = format_ == PclntabFormat::kGo118 ? 40 : 44;
  r.nfuncdata = base + size - 1 < functab_.size() ? functab_[base + size - 1] : 0;
  r.pcdata_off = base + size;
  r.funcdata_off = r.pcdata_off + uint64_t{r.npcdata} * 4;
  if (format_ == PclntabFormat::kGo116) r.funcdata_off = (r.funcdata_off + 7) & ~uint64_t{7};
  return r;
}

namespace {

inline bool Uvarint(const uint8_t* p, size_t n, size_t* pos, uint32_t* out) {
  uint32_t v = 0;
  for (int shift = 0; shift < 35 && *pos < n; shift += 7) {
    uint8_t c = p[(*pos)++];
    v |= uint32_t{c & 0x7fu} << shift;
    if (c < 0x80) {
      *out = v;
      return true;
    }
  }
  return false;
}

}  // namespace

inline bool Pclntab::Step(Bytes p, DecodeState& st) const {
  size_t pos = st.pos;  // locals, so the compiler keeps them in registers
  uint32_t uvdelta, pcdelta;
  if (!Uvarint(p.data(), p.size(), &pos, &uvdelta) || (uvdelta == 0 && !st.first)) return false;
  if (!Uvarint(p.data(), p.size(), &pos, &pcdelta)) return false;
  // Zig-zag delta, added with wrap-around as Go's int32 arithmetic does (a
  // corrupt table must not overflow a signed int: undefined behaviour in C++).
  uint32_t delta = (uvdelta & 1) ? ~(uvdelta >> 1) : (uvdelta >> 1);
  st.val = static_cast<int32_t>(static_cast<uint32_t>(st.val) + delta);
  st.cur += uint64_t{pcdelta} * quantum_;
  st.pos = pos;
  st.first = false;
  return true;
}

// A pc-value table is a run of (value delta, pc delta) varint pairs from the
// function's entry; finding the value at a pc means decoding up to it. Large
// functions (generated init code can be a megabyte) would make that linear in
// the pc's offset, so a table that takes many steps gets checkpoints: decoder
// states every kCheckpointStride bytes of code, relative to the entry because
// identical tables are shared between functions.
int32_t Pclntab::PcValue(uint32_t table_off, uint64_t entry, uint64_t pc) const {
  if (table_off == 0 || pc < entry) return -1;
  Bytes p = Sub(pctab_, table_off);
  DecodeState st{0, -1, 0, true};
  const uint64_t rel = pc - entry;
  for (int steps = 0;; steps++) {
    if (steps == kCheckpointAfterSteps) {
      const auto& cps = *Checkpoints(table_off, p);
      auto it = std::upper_bound(cps.begin(), cps.end(), rel,
                                 [](uint64_t r, const DecodeState& c) { return r < c.cur; });
      if (it != cps.begin() && std::prev(it)->cur > st.cur) st = *std::prev(it);
    }
    if (!Step(p, st)) return -1;
    if (rel < st.cur) return st.val;
  }
}

const std::vector<Pclntab::DecodeState>* Pclntab::Checkpoints(uint32_t table_off, Bytes p) const {
  std::lock_guard lock(checkpoints_mu_);
  auto [it, inserted] = checkpoints_.try_emplace(table_off);
  if (inserted) {
    DecodeState st{0, -1, 0, true};
    uint64_t next_mark = 0;
    // Bounded: a corrupt table must not run forever (pcdelta 0 loops are possible).
    for (size_t n = 0; n < p.size(); n++) {
      if (st.cur >= next_mark && !st.first) {
        it->second.push_back(st);
        next_mark = st.cur + kCheckpointStride;
      }
      if (!Step(p, st)) break;
    }
  }
  return &it->second;
}

int32_t Pclntab::Pcdata(const Func& f, uint32_t table, uint64_t pc) const {
  Record r = ReadRecord(f);
  if (table >= r.npcdata) return -1;
  return PcValue(U32(functab_, r.pcdata_off + 4 * table), f.entry, pc);
}

std::string_view Pclntab::FileName(const Func& f, int32_t fileno) const {
  if (fileno < 0) return {};
  Record r = ReadRecord(f);
  uint32_t off = U32(cutab_, (uint64_t{r.cu_offset} + static_cast<uint32_t>(fileno)) * 4);
  if (off == 0xFFFFFFFF) return {};
  return CStr(filetab_, off);
}

std::string_view Pclntab::FuncName(int32_t nameoff) const {
  return nameoff < 0 ? std::string_view{} : CStr(funcnametab_, static_cast<uint32_t>(nameoff));
}

Bytes Pclntab::InlineTree(const Func& f, const Record& r) const { return FuncData(r, kFuncdataInlTree); }

Bytes Pclntab::FuncData(const Record& r, uint32_t index) const {
  if (r.nfuncdata <= index) return {};
  uint64_t addr;
  if (format_ == PclntabFormat::kGo116) {
    addr = Uptr(functab_, r.funcdata_off + 8 * index);
  } else {
    uint32_t off = U32(functab_, r.funcdata_off + 4 * index);
    if (off == kNoFuncdata || gofunc_ == 0) return {};
    addr = gofunc_ + off;
  }
  return addr ? elf_.at_vaddr(addr) : Bytes{};
}

Bytes Pclntab::FuncData(const Func& f, uint32_t index) const { return FuncData(ReadRecord(f), index); }

int32_t Pclntab::ArgsSize(const Func& f) const {
  return static_cast<int32_t>(U32(functab_, f.func_off + (format_ == PclntabFormat::kGo116 ? 12 : 8)));
}

int32_t Pclntab::SpDelta(const Func& f, uint64_t pc) const {
  // pcsp follows the entry, name, args and deferreturn fields.
  uint32_t pcsp = U32(functab_, f.func_off + (format_ == PclntabFormat::kGo116 ? 20 : 16));
  return pcsp ? PcValue(pcsp, f.entry, pc) : -1;
}

std::vector<Frame> Pclntab::Symbolize(uint64_t pc) const {
  const uint64_t looked_up = pc;
  std::vector<Frame> frames;
  const Func* f = FindFunc(pc);
  if (!f) return frames;
  Record r = ReadRecord(*f);
  Bytes tree = InlineTree(*f, r);
  uint32_t inl_table = r.npcdata > kPcdataInlTreeIndex ? U32(functab_, r.pcdata_off + 4 * kPcdataInlTreeIndex) : 0;
  // Each inlined call records the PC of an instruction at its call site in the
  // caller (parentPc); the caller's file:line and own inline index are read there.
  for (int depth = 0;; depth++) {
    Frame fr;
    fr.pc = looked_up;
    fr.entry = f->entry;
    int32_t fileno = PcValue(r.pcfile, f->entry, pc);
    if (fileno >= 0) fr.file = FileName(*f, fileno);
    fr.line = PcValue(r.pcln, f->entry, pc);
    int32_t ix = (tree.empty() || !inl_table || depth >= kMaxInlineDepth) ? -1 : PcValue(inl_table, f->entry, pc);
    if (ix < 0) {
      fr.function = f->name;
      fr.wrapper = IsWrapper(*f);
      frames.push_back(std::move(fr));
      return frames;
    }
    uint64_t rec = format_ == PclntabFormat::kGo120 ? 16 : 20;
    uint64_t at = uint64_t(ix) * rec;
    if (at + rec > tree.size()) {  // corrupt: stop at what is known
      fr.function = f->name;
      fr.wrapper = IsWrapper(*f);
      frames.push_back(std::move(fr));
      return frames;
    }
    int32_t nameoff, parent_pc;
    if (format_ == PclntabFormat::kGo120) {
      nameoff = static_cast<int32_t>(U32(tree, at + 4));
      parent_pc = static_cast<int32_t>(U32(tree, at + 8));
    } else {
      nameoff = static_cast<int32_t>(U32(tree, at + 12));
      parent_pc = static_cast<int32_t>(U32(tree, at + 16));
    }
    fr.function = FuncName(nameoff);
    fr.inlined = true;
    fr.wrapper = fr.file == "<autogenerated>";
    frames.push_back(std::move(fr));
    uint64_t next = f->entry + static_cast<uint32_t>(parent_pc);
    if (next < f->entry || next >= f->end) {  // corrupt parentPc
      Frame outer;
      outer.function = f->name;
      outer.pc = looked_up;
      outer.entry = f->entry;
      outer.wrapper = IsWrapper(*f);
      frames.push_back(std::move(outer));
      return frames;
    }
    pc = next;
  }
}

std::unique_ptr<Pclntab> FindPclntab(const ElfFile& elf) {
  for (const char* name : {".gopclntab", ".data.rel.ro.gopclntab"}) {
    if (const ElfSection* s = elf.section(name)) {
      Bytes d = elf.section_data(*s);
      if (!d.empty()) return std::make_unique<Pclntab>(elf, d, s->addr);
    }
  }
  if (const ElfSymbol* sym = elf.symbol("runtime.pclntab")) {
    Bytes d = elf.at_vaddr(sym->value);
    if (!d.empty()) return std::make_unique<Pclntab>(elf, d, sym->value);
  }
  // No section and no symbol: scan every loadable segment for a header that validates.
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_LOAD || (seg.flags & PF_X)) continue;
    Bytes d = elf.at_vaddr(seg.vaddr);
    for (uint64_t off = 0; off + 64 <= d.size(); off += 8) {
      uint32_t m;
      std::memcpy(&m, d.data() + off, 4);
      if (m != kMagic116 && m != kMagic118 && m != kMagic120) continue;
      if (d[off + 4] != 0 || d[off + 5] != 0 || d[off + 6] != 1 || d[off + 7] != 8) continue;
      try {
        auto t = std::make_unique<Pclntab>(elf, d.subspan(off), seg.vaddr + off);
        // Without a text start in the header (1.26+) the entries are offsets;
        // the header's own checks are then all there is until moduledata is read.
        if (!t->text_start_in_header() && t->format() != PclntabFormat::kGo116) return t;
        if (!t->funcs().empty() && elf.vaddr_to_offset(t->funcs().front().entry)) return t;
      } catch (const Error&) {
      }
    }
  }
  return nullptr;
}

}  // namespace goscope
