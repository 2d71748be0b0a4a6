// Go's pclntab: the table the runtime itself uses for tracebacks, kept even in
// stripped binaries. Maps a PC to its function and source position, expanding
// inlined calls through the function's inline tree. Mirrors debug/gosym and
// runtime/symtab.go for header formats 1.16, 1.18 and 1.20.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string_view>
#include <vector>

#include "elf_file.h"
#include "frame.h"

namespace goscope {

enum class PclntabFormat { kGo116, kGo118, kGo120 };

// runtime funcFlag bits (abi.FuncFlag).
constexpr uint8_t kFuncFlagTopFrame = 1;  // the outermost frame of a goroutine (or thread)
constexpr uint8_t kFuncFlagSpWrite = 2;   // writes SP other than by a fixed frame: unwinding cannot pass it

// The runtime's pcdata and funcdata tables (internal/abi: PCDATA_*, FUNCDATA_*).
constexpr uint32_t kPcdataStackMapIndex = 1;
constexpr uint32_t kPcdataInlTreeIndex = 2;
constexpr uint32_t kFuncdataArgsPointerMaps = 0;
constexpr uint32_t kFuncdataLocalsPointerMaps = 1;
constexpr uint32_t kFuncdataStackObjects = 2;
constexpr uint32_t kFuncdataInlTree = 3;

struct Func {
  uint64_t entry = 0;
  uint64_t end = 0;  // entry of the next function
  std::string_view name;
  uint8_t func_id = 0;    // runtime funcID; 0 is an ordinary function
  uint8_t flags = 0;      // runtime funcFlag (go1.18+): kFuncFlagTopFrame, kFuncFlagSpWrite
  uint32_t func_off = 0;  // offset of the _func record in the function table
};

class Pclntab {
 public:
  // data: the table's bytes (may run past its end); vaddr: where it is mapped.
  // Throws Error when the header does not validate.
  Pclntab(const ElfFile& elf, Bytes data, uint64_t vaddr);

  PclntabFormat format() const { return format_; }
  uint64_t vaddr() const { return vaddr_; }
  // Where function entries are counted from. Go 1.26+ no longer store it in the
  // header (the field is 0; the runtime reads moduledata.text): until
  // set_text_start supplies it, text_start() is 0 and entries are offsets.
  uint64_t text_start() const { return text_start_; }
  bool text_start_in_header() const { return text_start_in_header_; }
  // Rebases every function on text (from moduledata or the runtime.text symbol).
  // Only for a table whose header had no text start.
  void set_text_start(uint64_t text);
  // Offset of the function-name table from the table start (moduledata points at it).
  uint64_t funcname_offset() const { return funcname_off_; }
  const std::vector<Func>& funcs() const { return funcs_; }

  // go:func.* base address that 1.18+ funcdata offsets are relative to; without it
  // inlined frames cannot be expanded (Symbolize then reports the outermost only).
  void set_gofunc(uint64_t gofunc) { gofunc_ = gofunc; }
  uint64_t gofunc() const { return gofunc_; }
  // abi.FuncIDWrapper of the binary's release (its number moved in 1.22 and 1.25).
  void set_wrapper_func_id(uint8_t id) { wrapper_func_id_ = id; }
  bool IsWrapper(const Func& f) const { return wrapper_func_id_ && f.func_id == wrapper_func_id_; }

  const Func* FindFunc(uint64_t pc) const;
  // The real function of that name: assembly wrappers (funcID wrapper) share
  // names with what they wrap, so prefer the one with an ordinary funcID.
  const Func* LookupFunction(std::string_view name) const;
  std::vector<const Func*> FuncsNamed(std::string_view name) const;

  // Frames at pc, innermost first; empty if pc is in no function. Each has
  // pc and entry (link-time), and wrappers are marked (once GoBinary has set
  // the release's wrapper funcID). For a return address, pass pc-1 (the call
  // instruction), as Go's traceback does.
  std::vector<Frame> Symbolize(uint64_t pc) const;
  // The frame size at pc in f (its pcsp table): how far SP is below the
  // caller's; -1 when f has no table or pc is not covered.
  int32_t SpDelta(const Func& f, uint64_t pc) const;

  // The value of a pc-value table at pc (pcsp, pcfile, pcln or pcdata), -1 if none.
  int32_t PcValue(uint32_t table_off, uint64_t entry, uint64_t pc) const;
  int32_t Pcdata(const Func& f, uint32_t table, uint64_t pc) const;
  // f's funcdata number index (runtime FUNCDATA_*): the bytes from where it
  // starts to the end of its section; empty if f has none.
  Bytes FuncData(const Func& f, uint32_t index) const;
  // The size of f's arguments in bytes (_func.args); negative when unknown
  // (abi.ArgsSizeUnknown: reflect's stubs).
  int32_t ArgsSize(const Func& f) const;
  std::string_view FileName(const Func& f, int32_t fileno) const;
  std::string_view FuncName(int32_t nameoff) const;

 private:
  struct Record;  // decoded fixed part of a _func
  // Where a pc-value decoder stands: before the pair at pos, with value val
  // holding from cur (bytes from the function's entry).
  struct DecodeState {
    size_t pos;
    int32_t val;
    uint64_t cur;
    bool first;
  };
  static constexpr int kCheckpointAfterSteps = 64;
  static constexpr uint64_t kCheckpointStride = 256;
  // Decodes one (value, pc) pair into st; false at the table's end or on garbage.
  bool Step(Bytes table, DecodeState& st) const;
  const std::vector<DecodeState>* Checkpoints(uint32_t table_off, Bytes table) const;
  Record ReadRecord(const Func& f) const;
  Bytes InlineTree(const Func& f, const Record& r) const;
  Bytes FuncData(const Record& r, uint32_t index) const;
  uint32_t U32(Bytes b, uint64_t off) const;
  uint64_t Uptr(Bytes b, uint64_t off) const;

  const ElfFile& elf_;
  Bytes data_;
  uint64_t vaddr_ = 0;
  PclntabFormat format_ = PclntabFormat::kGo120;
  uint8_t quantum_ = 1;
  uint64_t text_start_ = 0;
  bool text_start_in_header_ = false;
  Bytes funcnametab_, cutab_, filetab_, pctab_, functab_;
  uint64_t funcname_off_ = 0;
  uint8_t wrapper_func_id_ = 0;
  uint64_t gofunc_ = 0;
  std::vector<Func> funcs_;               // sorted by entry
  const std::vector<uint32_t>& ByName() const;
  mutable std::once_flag by_name_once_;
  mutable std::vector<uint32_t> by_name_;  // indices into funcs_, sorted by name (built lazily)
  mutable std::mutex checkpoints_mu_;
  mutable std::unordered_map<uint32_t, std::vector<DecodeState>> checkpoints_;  // by table offset
};

// Finds the pclntab of a Go binary: by section name, by the runtime.pclntab
// symbol, or by scanning loadable segments for a header that validates.
// nullptr if there is none (not a Go binary).
std::unique_ptr<Pclntab> FindPclntab(const ElfFile& elf);

}  // namespace goscope
