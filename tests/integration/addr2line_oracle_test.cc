// Oracle test: goscope's symbolizer against Go's own `go tool addr2line`.
//
// For every Go test binary in the manifest (scripts/build-test-binaries.sh),
// plus /usr/bin/restic when installed (a stripped, externally linked distro
// build) and any binaries listed in $GOSCOPE_ORACLE_EXTRA (colon separated),
// it picks 2000-5000 PCs and compares
//
//   goscope symbolize --json PATH --stdin      (hex addresses on stdin)
//   go tool addr2line PATH                     (same addresses on stdin)
//
// addr2line does not expand inlining: it prints the OUTERMOST function (the
// one whose body holds the PC) and the INNERMOST file:line (pcfile/pcln). So
// we compare our last frame's function and our first frame's file:line.
// Where addr2line knows nothing ("?" / "?:0": C code, crt) we must report no
// Go frames: frames empty, or symbol-only frames (no file, line 0). Where it
// knows the function but no line (":-1": padding after a function's last
// instruction, go1.24's go:textfips* markers) we may report no frames or that
// function without file and line.
//
// Addresses are link-time virtual addresses (as in the ELF file and `go tool
// nm`), also for PIE builds.
//
// addr2line comes from the toolchain with the binary's major.minor (an older
// addr2line silently prints "?" for binaries of a newer pclntab format).
//
// Where PCs come from, independently of goscope's own reader:
//   1. the binary's symbol table (`go tool nm -size`, text symbols, size > 0);
//   2. for a stripped binary, the symbol table of its unstripped twin from the
//      manifest (same program and toolchain), used only after checking that
//      both have the same .text address and size and byte-identical
//      .gopclntab (-s -w changes some RIP-relative displacements in .text
//      because data moves, but not the function layout);
//   3. else the function table in .gopclntab, read here with a few lines of
//      code (go1.18+ layout), only to choose PCs;
//   4. else (and always, for a few percent of the PCs) uniform over .text.
// From function ranges: the entry, the last byte, and offsets spread evenly
// through the body; functions of the program itself (main.*, goscope.test/*)
// are sampled densely since that is where the inline trees are.

#include <elf.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "testbin.h"
#include "tool_required.h"

#ifndef GOSCOPE_BINARY
#error "GOSCOPE_BINARY must be defined (tests/integration/CMakeLists.txt does)"
#endif

namespace goscope::testing {
namespace {

constexpr size_t kTargetPcs = 4000;  // aim
constexpr size_t kMaxPcs = 5000;     // hard cap per binary (keeps the test fast)
constexpr size_t kMinPcs = 2000;     // fewer than this compared = failure
constexpr size_t kMaxExamples = 10;  // mismatches printed per binary

// ---- a minimal JSON reader (objects, arrays, strings, numbers, literals) ----

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  std::string str;  // string value, or the number's text
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;

  const Json* Get(const std::string& key) const {
    for (const auto& [k, v] : obj)
      if (k == key) return &v;
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  bool Parse(Json* out, std::string* err) {
    bool ok = Value(out, 0);
    Ws();
    if (ok && i_ != s_.size()) ok = Fail("trailing data");
    if (!ok && err) *err = err_;
    return ok;
  }

 private:
  bool Fail(const char* what) {
    if (err_.empty()) err_ = std::string(what) + " at offset " + std::to_string(i_);
    return false;
  }
  void Ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool Lit(const char* lit) {
    size_t n = std::strlen(lit);
    if (s_.compare(i_, n, lit) != 0) return Fail("bad literal");
    i_ += n;
    return true;
  }
  static void Utf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool Hex4(uint32_t* v) {
    if (i_ + 4 > s_.size()) return Fail("short \\u escape");
    *v = static_cast<uint32_t>(std::strtoul(s_.substr(i_, 4).c_str(), nullptr, 16));
    i_ += 4;
    return true;
  }
  bool String(std::string* out) {
    if (s_[i_] != '"') return Fail("expected string");
    ++i_;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (i_ >= s_.size()) return Fail("bad escape");
      char e = s_[i_++];
      switch (e) {
        case '"': *out += '"'; break;
        case '\\': *out += '\\'; break;
        case '/': *out += '/'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(i_, 2, "\\u") == 0) {
            i_ += 2;
            uint32_t lo = 0;
            if (!Hex4(&lo)) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          Utf8(out, cp);
          break;
        }
        default: return Fail("bad escape");
      }
    }
    if (i_ >= s_.size()) return Fail("unterminated string");
    ++i_;
    return true;
  }
  bool Value(Json* v, int depth) {
    if (depth > 64) return Fail("nested too deep");
    Ws();
    if (i_ >= s_.size()) return Fail("unexpected end");
    char c = s_[i_];
    if (c == '{') {
      v->kind = Json::kObject;
      ++i_;
      Ws();
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
      for (;;) {
        Ws();
        std::string key;
        if (i_ >= s_.size() || !String(&key)) return Fail("expected key");
        Ws();
        if (i_ >= s_.size() || s_[i_] != ':') return Fail("expected ':'");
        ++i_;
        Json val;
        if (!Value(&val, depth + 1)) return false;
        v->obj.emplace_back(std::move(key), std::move(val));
        Ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
        return Fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v->kind = Json::kArray;
      ++i_;
      Ws();
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
      for (;;) {
        Json val;
        if (!Value(&val, depth + 1)) return false;
        v->arr.push_back(std::move(val));
        Ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
        return Fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v->kind = Json::kString;
      return String(&v->str);
    }
    if (c == 't') return v->kind = Json::kBool, v->b = true, Lit("true");
    if (c == 'f') return v->kind = Json::kBool, v->b = false, Lit("false");
    if (c == 'n') return v->kind = Json::kNull, Lit("null");
    size_t start = i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || std::strchr("+-.eE", s_[i_])))
      ++i_;
    if (i_ == start) return Fail("unexpected character");
    v->kind = Json::kNumber;
    v->str = s_.substr(start, i_ - start);
    return true;
  }

  const std::string& s_;
  size_t i_ = 0;
  std::string err_;
};

// ---- ELF sections, read directly (independent of goscope's ElfFile) -------

struct Section {
  uint64_t addr = 0, offset = 0, size = 0;
  bool found = false;
};

struct ElfSections {
  Section text, gopclntab;
  std::string error;
};

ElfSections ReadSections(const std::string& path) {
  ElfSections out;
  std::ifstream f(path, std::ios::binary);
  Elf64_Ehdr eh{};
  if (!f.read(reinterpret_cast<char*>(&eh), sizeof eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64) {
    out.error = "not a 64-bit ELF file";
    return out;
  }
  std::vector<Elf64_Shdr> sh(eh.e_shnum);
  f.seekg(static_cast<std::streamoff>(eh.e_shoff));
  if (eh.e_shnum == 0 || eh.e_shstrndx >= eh.e_shnum ||
      !f.read(reinterpret_cast<char*>(sh.data()), static_cast<std::streamsize>(sh.size() * sizeof(Elf64_Shdr)))) {
    out.error = "cannot read section headers";
    return out;
  }
  const Elf64_Shdr& strs = sh[eh.e_shstrndx];
  std::string names(strs.sh_size, '\0');
  f.seekg(static_cast<std::streamoff>(strs.sh_offset));
  f.read(names.data(), static_cast<std::streamsize>(names.size()));
  for (const auto& s : sh) {
    if (s.sh_name >= names.size()) continue;
    std::string name = names.c_str() + s.sh_name;
    // PIE builds (internal linking) put the table in .data.rel.ro.gopclntab.
    Section* dst = name == ".text"                                             ? &out.text
                   : name == ".gopclntab" || (name == ".data.rel.ro.gopclntab" && !out.gopclntab.found) ? &out.gopclntab
                                                                               : nullptr;
    if (dst) *dst = {s.sh_addr, s.sh_offset, s.sh_size, true};
  }
  if (!out.text.found) out.error = "no .text section";
  return out;
}

std::string ReadBytes(const std::string& path, const Section& s) {
  std::string data(s.size, '\0');
  std::ifstream f(path, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(s.offset));
  f.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f) data.clear();
  return data;
}

// ---- function ranges -------------------------------------------------------

struct FuncRange {
  uint64_t start = 0, size = 0;
  std::string name;
};

// Text symbols with a size from `go tool nm -size -sort address`.
// *runtime_text gets the address of the runtime.text symbol (0 if absent).
std::vector<FuncRange> NmFunctions(const GoToolchain& tc, const std::string& path, std::string* err,
                                   uint64_t* runtime_text = nullptr) {
  if (runtime_text) *runtime_text = 0;
  int rc = 0;
  std::string errout;
  std::string out =
      RunCommand(GoEnvPrefix() + tc.Tool("nm") + " -size -sort address " + ShellQuote(path), "", &rc, &errout);
  if (rc != 0) {
    *err = "go tool nm: " + Trim(errout);
    return {};
  }
  std::vector<FuncRange> fns;
  std::set<uint64_t> seen;
  std::stringstream ss(out);
  std::string line;
  while (std::getline(ss, line)) {
    // "  401020         80 T internal/abi.Kind.String"
    std::stringstream ls(line);
    std::string addr, size, type, name;
    if (!(ls >> addr >> size >> type)) continue;
    std::getline(ls, name);
    if (type != "T" && type != "t") continue;
    FuncRange fr{std::strtoull(addr.c_str(), nullptr, 16), std::strtoull(size.c_str(), nullptr, 10), Trim(name)};
    if (runtime_text && fr.name == "runtime.text") *runtime_text = fr.start;
    if (fr.size == 0 || fr.start == 0 || !seen.insert(fr.start).second) continue;
    fns.push_back(std::move(fr));
  }
  if (fns.empty()) *err = "go tool nm: no text symbols";
  return fns;
}

template <typename T>
T Load(const std::string& b, size_t off) {
  T v{};
  if (off + sizeof(T) <= b.size()) std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

// textStart from a go1.18+ .gopclntab header (the link-time address of
// runtime.text; function entries are offsets from it). 0 if not that format.
uint64_t PclntabTextStart(const std::string& pcln) {
  uint32_t magic = Load<uint32_t>(pcln, 0);
  if ((magic != 0xfffffff0 && magic != 0xfffffff1) || Load<uint8_t>(pcln, 7) != 8) return 0;
  return Load<uint64_t>(pcln, 24);
}

// Function table of a go1.18+ .gopclntab (magic 0xfffffff0/0xfffffff1):
// header {magic u32, pad u8 x2, minLC u8, ptrSize u8, nfunc, nfiles,
// textStart, funcnameOffset, cuOffset, filetabOffset, pctabOffset,
// pclnOffset}; functab at pclnOffset = (nfunc+1) x {entryOff u32, funcOff u32};
// _func at pclnOffset+funcOff starts {entryOff u32, nameOff i32}.
std::vector<FuncRange> PclntabFunctions(const std::string& pcln, uint64_t text_addr, std::string* err) {
  uint32_t magic = Load<uint32_t>(pcln, 0);
  if ((magic != 0xfffffff0 && magic != 0xfffffff1) || Load<uint8_t>(pcln, 7) != 8) {
    *err = "unsupported .gopclntab header";
    return {};
  }
  uint64_t nfunc = Load<uint64_t>(pcln, 8);
  uint64_t text_start = Load<uint64_t>(pcln, 24);
  if (text_start == 0) text_start = text_addr;  // PIE: relocated at load time
  uint64_t funcname_off = Load<uint64_t>(pcln, 32);
  uint64_t pcln_off = Load<uint64_t>(pcln, 64);
  if (pcln_off + (nfunc + 1) * 8 > pcln.size()) {
    *err = ".gopclntab function table out of bounds";
    return {};
  }
  std::vector<FuncRange> fns;
  for (uint64_t i = 0; i < nfunc; ++i) {
    uint32_t entry = Load<uint32_t>(pcln, pcln_off + i * 8);
    uint32_t funcoff = Load<uint32_t>(pcln, pcln_off + i * 8 + 4);
    uint32_t next = Load<uint32_t>(pcln, pcln_off + (i + 1) * 8);
    if (next <= entry) continue;
    int32_t nameoff = Load<int32_t>(pcln, pcln_off + funcoff + 4);
    std::string name;
    size_t at = funcname_off + static_cast<uint64_t>(nameoff);
    if (nameoff >= 0 && at < pcln.size()) name = pcln.c_str() + at;
    fns.push_back({text_start + entry, next - entry, name});
  }
  if (fns.empty()) *err = ".gopclntab lists no functions";
  return fns;
}

// ---- PC selection ----------------------------------------------------------

bool IsProgramFunction(const std::string& name) {
  return name.rfind("main.", 0) == 0 || name.rfind("goscope.test/", 0) == 0;
}

std::vector<uint64_t> ChoosePcs(const std::vector<FuncRange>& fns, const Section& text) {
  std::set<uint64_t> pcs;
  // A few percent uniform over .text: hits C code, padding, assembly.
  const size_t uniform = text.size ? kTargetPcs / 20 : 0;
  for (size_t i = 0; i < uniform; ++i) pcs.insert(text.addr + (text.size * (2 * i + 1)) / (2 * uniform));

  // The program's own functions, densely (inline trees live there).
  uint64_t prog_bytes = 0;
  for (const auto& f : fns)
    if (IsProgramFunction(f.name)) prog_bytes += f.size;
  if (prog_bytes) {
    const size_t budget = kTargetPcs * 3 / 10;
    uint64_t step = std::max<uint64_t>(1, prog_bytes / budget);
    for (const auto& f : fns) {
      if (!IsProgramFunction(f.name)) continue;
      for (uint64_t off = 0; off < f.size; off += step) pcs.insert(f.start + off);
      pcs.insert(f.start + f.size - 1);
    }
  }

  // Everything else: entry, last byte and evenly spread offsets; when there
  // are more functions than budget, an evenly strided subset of them.
  if (!fns.empty()) {
    size_t left = kTargetPcs > pcs.size() ? kTargetPcs - pcs.size() : 0;
    size_t per_fn = std::max<size_t>(2, left / fns.size());
    size_t stride = std::max<size_t>(1, fns.size() * per_fn / std::max<size_t>(left, 1));
    for (size_t i = 0; i < fns.size(); i += stride) {
      const auto& f = fns[i];
      pcs.insert(f.start);
      pcs.insert(f.start + f.size - 1);
      for (size_t k = 1; k + 1 < per_fn; ++k) pcs.insert(f.start + (f.size * k) / (per_fn - 1));
    }
  }
  std::vector<uint64_t> out(pcs.begin(), pcs.end());
  if (out.size() > kMaxPcs) {  // evenly thin out, keeping order
    std::vector<uint64_t> thin;
    for (size_t i = 0; i < kMaxPcs; ++i) thin.push_back(out[i * out.size() / kMaxPcs]);
    out.swap(thin);
  }
  return out;
}

// ---- oracle and goscope ----------------------------------------------------

struct Answer {
  bool known = false;     // addr2line: not "?"; goscope: has a frame with a file
  std::string function;   // outermost
  std::string file_line;  // innermost, "file:line"
  std::string detail;     // goscope: the frames, for messages
};

std::string PcList(const std::vector<uint64_t>& pcs) {
  std::string s;
  char buf[32];
  for (uint64_t pc : pcs) {
    std::snprintf(buf, sizeof buf, "0x%" PRIx64 "\n", pc);
    s += buf;
  }
  return s;
}

// addr2line is asked about pc + shift (see CheckBinary); answers are for pc.
std::vector<Answer> RunAddr2line(const GoToolchain& tc, const std::string& path, const std::vector<uint64_t>& pcs,
                                 int64_t shift, std::string* err) {
  std::vector<uint64_t> query;
  for (uint64_t pc : pcs) query.push_back(pc + static_cast<uint64_t>(shift));
  int rc = 0;
  std::string errout;
  std::string out =
      RunCommand(GoEnvPrefix() + tc.Tool("addr2line") + " " + ShellQuote(path), PcList(query), &rc, &errout);
  if (rc != 0) {
    *err = "go tool addr2line exited " + std::to_string(rc) + ": " + Trim(errout);
    return {};
  }
  std::vector<Answer> ans;
  std::stringstream ss(out);
  std::string fn, fl;
  while (std::getline(ss, fn) && std::getline(ss, fl)) {
    Answer a;
    a.known = fn != "?";
    a.function = fn;
    a.file_line = fl;
    ans.push_back(std::move(a));
  }
  if (ans.size() != pcs.size()) {
    *err = "go tool addr2line answered " + std::to_string(ans.size()) + " of " + std::to_string(pcs.size()) + " PCs";
    return {};
  }
  return ans;
}

std::string Str(const Json* j) {
  if (!j) return "";
  return j->kind == Json::kString || j->kind == Json::kNumber ? j->str : "";
}

std::map<uint64_t, Answer> RunGoscope(const std::string& path, const std::vector<uint64_t>& pcs, std::string* err) {
  int rc = 0;
  std::string errout;
  std::string cmd = ShellQuote(GOSCOPE_BINARY) + " symbolize --json " + ShellQuote(path) + " --stdin";
  std::string out = RunCommand(cmd, PcList(pcs), &rc, &errout);
  if (rc != 0) {
    *err = cmd + " exited " + std::to_string(rc) + ": " + Trim(errout).substr(0, 2000);
    return {};
  }
  Json doc;
  std::string perr;
  if (!JsonParser(out).Parse(&doc, &perr) || doc.kind != Json::kArray) {
    *err = cmd + ": output is not a JSON array (" + perr + "): " + out.substr(0, 300);
    return {};
  }
  std::map<uint64_t, Answer> res;
  for (const auto& e : doc.arr) {
    const Json* frames = e.Get("frames");
    std::string addr = Str(e.Get("address"));
    if (e.kind != Json::kObject || addr.empty() || !frames || frames->kind != Json::kArray) {
      *err = cmd + ": entry without \"address\" and \"frames\" array";
      return {};
    }
    Answer a;
    for (const auto& fr : frames->arr) {
      std::string file = Str(fr.Get("file"));
      std::string line = Str(fr.Get("line"));
      std::string f = Str(fr.Get("function"));
      if (!file.empty() && line != "0" && !line.empty()) a.known = true;
      if (!a.detail.empty()) a.detail += " <- ";
      a.detail += f + " " + file + ":" + line;
      const Json* inl = fr.Get("inlined");
      if (inl && inl->kind == Json::kBool && inl->b) a.detail += " (inlined)";
    }
    if (!frames->arr.empty()) {
      a.function = Str(frames->arr.back().Get("function"));
      a.file_line = Str(frames->arr.front().Get("file")) + ":" + Str(frames->arr.front().Get("line"));
    }
    if (a.detail.empty()) a.detail = "(no frames)";
    res[std::strtoull(addr.c_str(), nullptr, 16)] = std::move(a);
  }
  return res;
}

// ---- one binary ------------------------------------------------------------

struct Target {
  std::string label, path, go_version;
  const TestBinary* twin = nullptr;  // unstripped build of the same program
};

struct Outcome {
  std::string label;
  std::string setup_error;  // could not run the comparison at all
  std::string pc_source;
  size_t compared = 0, known = 0, mismatches = 0;
  std::vector<std::string> examples;
};

// Twin check: same .text placement and byte-identical .gopclntab.
bool SameFunctionLayout(const std::string& a, const std::string& b) {
  ElfSections sa = ReadSections(a), sb = ReadSections(b);
  if (!sa.error.empty() || !sb.error.empty() || !sa.gopclntab.found || !sb.gopclntab.found) return false;
  if (sa.text.addr != sb.text.addr || sa.text.size != sb.text.size) return false;
  if (sa.gopclntab.size != sb.gopclntab.size) return false;
  std::string pa = ReadBytes(a, sa.gopclntab), pb = ReadBytes(b, sb.gopclntab);
  return !pa.empty() && pa == pb;
}

Outcome CheckBinary(const Target& t) {
  Outcome o;
  o.label = t.label;
  const GoToolchain* tc = ToolchainFor(t.go_version);
  if (!tc) {
    o.setup_error = "no Go toolchain installed at /usr/lib/go-1.*/bin/go";
    return o;
  }
  ElfSections secs = ReadSections(t.path);
  if (!secs.error.empty()) {
    o.setup_error = t.path + ": " + secs.error;
    return o;
  }

  std::string err;
  uint64_t runtime_text = 0;
  std::vector<FuncRange> fns = NmFunctions(*tc, t.path, &err, &runtime_text);
  o.pc_source = "nm";
  uint64_t twin_runtime_text = 0;
  if (fns.empty() && t.twin && SameFunctionLayout(t.path, t.twin->path)) {
    fns = NmFunctions(*tc, t.twin->path, &err, &twin_runtime_text);
    o.pc_source = "nm of twin " + t.twin->variant;
  }
  std::string pcln = secs.gopclntab.found ? ReadBytes(t.path, secs.gopclntab) : "";
  if (fns.empty() && !pcln.empty()) {
    fns = PclntabFunctions(pcln, secs.text.addr, &err);
    o.pc_source = "pclntab functab";
  }
  if (fns.empty()) o.pc_source = "uniform over .text (" + err + ")";
  std::vector<uint64_t> pcs = ChoosePcs(fns, secs.text);

  // addr2line maps pc to pclntab offset pc - base, where base is the
  // runtime.text symbol if the binary has one, else the start of .text. In a
  // stripped, externally linked binary .text starts with C start-up code
  // (_start, crt) before runtime.text, so every answer is off by that much.
  // Correct it with the table's own textStart: ask about pc + (base - textStart).
  // Go 1.26+ headers no longer hold textStart (0): the twin's runtime.text
  // symbol says where it is, as the header did before.
  const uint64_t base = runtime_text ? runtime_text : secs.text.addr;
  uint64_t text_start = PclntabTextStart(pcln);
  if (!text_start && !runtime_text) text_start = twin_runtime_text;
  const int64_t shift = text_start ? static_cast<int64_t>(base - text_start) : 0;

  std::vector<Answer> want = RunAddr2line(*tc, t.path, pcs, shift, &err);
  std::string oracle = tc->version;
  // An old addr2line may answer "?" throughout (go1.19's cannot find the
  // table of PIE builds in .data.rel.ro.gopclntab, nor read the go1.20+
  // format): then use the newest toolchain, which reads every older format.
  auto known = [](const std::vector<Answer>& a) {
    return static_cast<size_t>(std::count_if(a.begin(), a.end(), [](const Answer& x) { return x.known; }));
  };
  const GoToolchain& newest = InstalledGoToolchains().back();
  if (!want.empty() && known(want) * 2 < want.size() && newest.version != tc->version) {
    std::string err2;
    std::vector<Answer> retry = RunAddr2line(newest, t.path, pcs, shift, &err2);
    if (!retry.empty() && known(retry) > known(want)) {
      want.swap(retry);
      oracle = newest.version + " (" + tc->version + "'s resolved too little)";
    }
  }
  o.pc_source += ", addr2line of " + oracle;
  if (shift) {
    char buf[96];
    std::snprintf(buf, sizeof buf, ", asked at pc%+" PRId64 " (addr2line base 0x%" PRIx64 ", textStart 0x%" PRIx64 ")", shift, base, text_start);
    o.pc_source += buf;
  }
  if (want.empty()) {
    o.setup_error = err;
    return o;
  }
  std::map<uint64_t, Answer> got = RunGoscope(t.path, pcs, &err);
  if (got.empty()) {
    o.setup_error = err.empty() ? "goscope symbolize returned no entries" : err;
    return o;
  }
  for (size_t i = 0; i < pcs.size(); ++i) {
    const Answer& w = want[i];
    ++o.compared;
    if (w.known) ++o.known;
    auto it = got.find(pcs[i]);
    std::string why;
    if (it == got.end()) {
      why = "missing from goscope output";
    } else if (!w.known) {
      if (it->second.known) why = "addr2line knows no Go function here";
    } else if (w.file_line == ":-1") {
      // Function known, no position: alignment padding after the last
      // instruction, go1.24's go:textfipsstart/end markers. Accept no frames,
      // or the same function without file and line (0 or -1).
      const Answer& g = it->second;
      bool ok = g.function.empty() || (g.function == w.function && (g.file_line == ":-1" || g.file_line == ":0"));
      if (!ok) why = "differs (addr2line has no line here)";
    } else if (it->second.function != w.function || it->second.file_line != w.file_line) {
      why = "differs";
    }
    if (why.empty()) continue;
    ++o.mismatches;
    if (o.examples.size() < kMaxExamples) {
      char pc[32];
      std::snprintf(pc, sizeof pc, "0x%" PRIx64, pcs[i]);
      o.examples.push_back(std::string(pc) + ": " + why + "\n      addr2line: " + w.function + " " + w.file_line +
                           "\n      goscope:   " + (it == got.end() ? "-" : it->second.detail));
    }
  }
  return o;
}

void Report(const Outcome& o) {
  if (!o.setup_error.empty()) {
    ADD_FAILURE() << o.label << ": " << o.setup_error;
    return;
  }
  std::printf("[ oracle   ] %-34s %5zu PCs (%zu known to addr2line), %zu mismatches; PCs from %s\n", o.label.c_str(),
              o.compared, o.known, o.mismatches, o.pc_source.c_str());
  EXPECT_GE(o.compared, kMinPcs) << o.label << ": too few PCs compared (" << o.pc_source << ")";
  // Guards against a silent oracle (an old addr2line prints "?" for all).
  EXPECT_GE(o.known * 2, o.compared) << o.label << ": addr2line resolved only " << o.known << " of " << o.compared
                                     << " PCs; oracle not trustworthy (" << o.pc_source << ")";
  if (o.mismatches) {
    std::string ex;
    for (const auto& e : o.examples) ex += "\n    " + e;
    ADD_FAILURE() << o.label << ": " << o.mismatches << " of " << o.compared
                  << " PCs differ from go tool addr2line; first " << o.examples.size() << ":" << ex;
  }
}

// Runs the checks two at a time (each runs two external processes in turn).
void CheckAll(const std::vector<Target>& targets) {
  const size_t kParallel = 2;
  std::vector<std::future<Outcome>> inflight;  // oldest first
  size_t next = 0;
  while (next < targets.size() || !inflight.empty()) {
    while (next < targets.size() && inflight.size() < kParallel)
      inflight.push_back(std::async(std::launch::async, CheckBinary, targets[next++]));
    // Report in order, so the output reads top to bottom.
    Report(inflight.front().get());
    inflight.erase(inflight.begin());
  }
}

std::string TwinVariant(const std::string& variant) {
  if (variant == "stripped") return "plain";
  const std::string suffix = "-stripped";
  if (variant.size() > suffix.size() && variant.compare(variant.size() - suffix.size(), suffix.size(), suffix) == 0)
    return variant.substr(0, variant.size() - suffix.size());
  return "";
}

TEST(Addr2lineOracle, TestBinaries) {
  static const std::vector<TestBinary> bins = LoadTestBinaries();
  ASSERT_FALSE(bins.empty()) << "no Go test binaries: run scripts/build-test-binaries.sh " << TestBinDir();
  std::vector<Target> targets;
  for (const auto& b : bins) {
    Target t{TestBinaryLabel(b), b.path, b.go_version, nullptr};
    std::string tv = TwinVariant(b.variant);
    for (const auto& o : bins)
      if (!tv.empty() && o.name == b.name && o.go_version == b.go_version && o.variant == tv) t.twin = &o;
    targets.push_back(std::move(t));
  }
  CheckAll(targets);
}

// Distro-built Go programs (stripped, externally linked, -trimpath paths).
TEST(Addr2lineOracle, InstalledGoPrograms) {
  std::vector<std::string> paths;
  if (FileExists("/usr/bin/restic")) paths.push_back("/usr/bin/restic");
  if (const char* extra = std::getenv("GOSCOPE_ORACLE_EXTRA")) {
    std::stringstream ss(extra);
    std::string p;
    while (std::getline(ss, p, ':'))
      if (!p.empty()) paths.push_back(p);
  }
  if (paths.empty()) GOSCOPE_REQUIRE_TOOL_OR_SKIP("/usr/bin/restic", "restic");
  std::vector<Target> targets;
  for (const auto& p : paths) {
    std::string v = BinaryGoVersion(p);
    ASSERT_FALSE(v.empty()) << p << ": `go version` finds no Go build info";
    targets.push_back({v + ":" + p, p, v, nullptr});
  }
  CheckAll(targets);
}

}  // namespace
}  // namespace goscope::testing
