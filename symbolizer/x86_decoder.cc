// x86-64 decoding with capstone (see x86_decoder.h).
//
// Syntax: Instruction::mnemonic/operands use capstone's default INTEL syntax
// throughout ("cmp rsp, qword ptr [r14 + 0x10]", "push rbp"), never AT&T.
// Facts are taken from CS_OPT_DETAIL operands (ids, registers, displacements,
// immediates), never parsed back out of the text.
//
// Go amd64 prologues (ABIInternal, go1.17+; checked on go1.19..go1.24 binaries):
//   (a) small frame:  cmp rsp, [r14+0x10]; jbe stub
//   (b) big frame:    lea r12, [rsp-N]; cmp r12, [r14+0x10]; jbe stub
//   (c) huge frame:   mov r12, rsp; sub r12, N; jb stub; cmp r12, [r14+0x10]; jbe stub
//   (d) NOSPLIT:      no stack check
// (//go:systemstack functions compare against [r14+0x18], g.stackguard1.)
// then go1.21+: push rbp; mov rbp, rsp; sub rsp, N
//      go1.19/1.20: sub rsp, N; mov [rsp+N-8], rbp; lea rbp, [rsp+N-8]  (no push)
// where `stub` (at the end of the function) spills the register arguments to
// their caller-reserved slots, calls runtime.morestack*, reloads them and jumps
// back to the entry.  R14 holds the current g; [r14+0x10] is g.stackguard0.
//
// Invariant behind FindCheapEntrySite: none of the instructions between the
// entry and the returned site writes RSP or any register that carries an
// argument or context (RAX RBX RCX RDX RDI RSI R8-R11, R14 = g, XMM*), nor
// memory: they write only R12/R13 and flags.  So at the site RSP equals RSP at
// entry (the return address is still at [RSP]) and every argument register
// still holds its entry value.  The conditional branches before the site go
// only to the morestack stub, which re-enters at the entry, so the site is
// executed exactly once per completed call (unlike the jcc itself, which runs
// again after each stack growth or stackguard-driven preemption).  The code
// below checks all of this on the decoded instructions, not just the shape.
#include "x86_decoder.h"

#include <capstone/capstone.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace goscope {
namespace {

// RAII capstone handle in x86-64 mode with operand details on.
class Capstone {
 public:
  Capstone() {
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle_) != CS_ERR_OK) {
      handle_ = 0;
      return;
    }
    cs_option(handle_, CS_OPT_SYNTAX, CS_OPT_SYNTAX_INTEL);
    cs_option(handle_, CS_OPT_DETAIL, CS_OPT_ON);
    insn_ = cs_malloc(handle_);
  }
  ~Capstone() {
    if (insn_) cs_free(insn_, 1);
    if (handle_) cs_close(&handle_);
  }
  Capstone(const Capstone&) = delete;
  Capstone& operator=(const Capstone&) = delete;

  bool ok() const { return handle_ != 0 && insn_ != nullptr; }
  csh handle() const { return handle_; }

  // Linear sweep; calls fn for each decoded instruction until the bytes end,
  // a byte sequence does not decode, or fn returns false.
  void Sweep(std::span<const uint8_t> code, uint64_t addr,
             const std::function<bool(const cs_insn&)>& fn) {
    if (!ok()) return;
    const uint8_t* p = code.data();
    size_t n = code.size();
    uint64_t a = addr;
    while (n > 0 && cs_disasm_iter(handle_, &p, &n, &a, insn_)) {
      if (!fn(*insn_)) return;
    }
  }

 private:
  csh handle_ = 0;
  cs_insn* insn_ = nullptr;
};

// A decoded instruction with the detail fields this file needs, copied out of
// capstone's buffer so several can be looked at together.
struct Insn {
  uint64_t address = 0;
  uint8_t size = 0;
  unsigned id = X86_INS_INVALID;
  uint8_t opcode0 = 0;
  cs_x86 x86{};
  std::string mnemonic;
  std::string operands;
  std::vector<uint16_t> regs_written;  // explicit and implicit
  bool writes_memory = false;

  uint64_t next() const { return address + size; }
  int nops() const { return x86.op_count; }
  const cs_x86_op& op(int i) const { return x86.operands[i]; }
};

std::vector<Insn> DecodeDetailed(std::span<const uint8_t> code, uint64_t addr, size_t max_insns) {
  std::vector<Insn> out;
  Capstone cs;
  cs.Sweep(code, addr, [&](const cs_insn& ci) {
    Insn in;
    in.address = ci.address;
    in.size = static_cast<uint8_t>(ci.size);
    in.id = ci.id;
    in.mnemonic = ci.mnemonic;
    in.operands = ci.op_str;
    if (ci.detail) {
      in.x86 = ci.detail->x86;
      in.opcode0 = ci.detail->x86.opcode[0];
      cs_regs rr, rw;
      uint8_t nr = 0, nw = 0;
      if (cs_regs_access(cs.handle(), &ci, rr, &nr, rw, &nw) == CS_ERR_OK) {
        in.regs_written.assign(rw, rw + nw);
      } else {
        in.regs_written.push_back(X86_REG_INVALID);  // unknown: treated as unsafe
      }
      for (int i = 0; i < in.x86.op_count; ++i) {
        const cs_x86_op& o = in.x86.operands[i];
        if (o.type == X86_OP_MEM && (o.access & CS_AC_WRITE)) in.writes_memory = true;
      }
    }
    out.push_back(std::move(in));
    return out.size() < max_insns;
  });
  return out;
}

bool IsReg(const cs_x86_op& o, x86_reg r) { return o.type == X86_OP_REG && o.reg == r; }

// [base + disp] with no index and no segment override.
bool IsMem(const cs_x86_op& o, x86_reg base, int64_t disp) {
  return o.type == X86_OP_MEM && o.mem.base == base && o.mem.index == X86_REG_INVALID &&
         o.mem.segment == X86_REG_INVALID && o.mem.disp == disp;
}

// `cmp REG, qword ptr [r14 + 0x10]`: compare against g.stackguard0, or
// [r14 + 0x18], g.stackguard1, in //go:systemstack functions (their stub calls
// runtime.morestackc, which throws when not on the system stack).
bool IsStackGuardCmp(const Insn& in, x86_reg reg) {
  return in.id == X86_INS_CMP && in.nops() == 2 && IsReg(in.op(0), reg) &&
         (IsMem(in.op(1), X86_REG_R14, 0x10) || IsMem(in.op(1), X86_REG_R14, 0x18)) &&
         in.op(1).size == 8;
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string GuardText(const Insn& cmp) { return "[r14+" + Hex(cmp.op(1).mem.disp) + "]"; }

bool IsJcc(const Insn& in, unsigned id) {
  return in.id == id && in.nops() == 1 && in.op(0).type == X86_OP_IMM;
}

bool IsNop(const Insn& in) { return in.id == X86_INS_NOP; }

// Registers an instruction before the probe site may write: the stack-check
// scratch registers and flags. Everything else (RSP, arguments, closure
// context RDX, g in R14, vector registers) must be untouched.
bool OnlyScratchWrites(const Insn& in) {
  if (in.writes_memory) return false;
  for (uint16_t r : in.regs_written) {
    switch (r) {
      case X86_REG_R12: case X86_REG_R12D: case X86_REG_R12W: case X86_REG_R12B:
      case X86_REG_R13: case X86_REG_R13D: case X86_REG_R13W: case X86_REG_R13B:
      case X86_REG_EFLAGS:
      case X86_REG_RIP:
        break;
      default:
        return false;
    }
  }
  return true;
}

// The morestack stub a stack-check jcc goes to: register-argument spills,
// one direct CALL (runtime.morestack*), reloads, then JMP back to `entry`.
bool IsMorestackStub(const std::vector<Insn>& insns, uint64_t target, uint64_t entry) {
  size_t i = 0;
  while (i < insns.size() && insns[i].address != target) ++i;
  if (i == insns.size()) return false;  // not an instruction boundary in the given bytes
  int calls = 0;
  for (size_t k = 0; i + k < insns.size() && k < 64; ++k) {
    const Insn& in = insns[i + k];
    if (in.id == X86_INS_CALL) {
      if (in.opcode0 != 0xE8 || ++calls > 1) return false;
      continue;
    }
    if (in.id == X86_INS_JMP) {
      return calls == 1 && in.nops() == 1 && in.op(0).type == X86_OP_IMM &&
             static_cast<uint64_t>(in.op(0).imm) == entry;
    }
    if (IsNop(in)) continue;
    // Spills and reloads: mov-family moves between a register and [rsp+disp].
    if (in.mnemonic.rfind("mov", 0) == 0 && in.nops() == 2) {
      bool has_stack_slot = false;
      bool ok = true;
      for (int j = 0; j < 2; ++j) {
        const cs_x86_op& o = in.op(j);
        if (o.type == X86_OP_MEM) {
          has_stack_slot = o.mem.base == X86_REG_RSP && o.mem.index == X86_REG_INVALID &&
                           o.mem.disp > 0;
        } else if (o.type != X86_OP_REG) {
          ok = false;
        }
      }
      if (ok && has_stack_slot) continue;
    }
    return false;
  }
  return false;
}

}  // namespace

std::vector<Instruction> Decode(std::span<const uint8_t> code, uint64_t addr) {
  std::vector<Instruction> out;
  Capstone cs;
  cs.Sweep(code, addr, [&](const cs_insn& ci) {
    Instruction in;
    in.address = ci.address;
    in.size = static_cast<uint8_t>(ci.size);
    in.mnemonic = ci.mnemonic;
    in.operands = ci.op_str;
    out.push_back(std::move(in));
    return true;
  });
  return out;
}

std::vector<uint64_t> FindRets(std::span<const uint8_t> code, uint64_t addr) {
  std::vector<uint64_t> out;
  Capstone cs;
  cs.Sweep(code, addr, [&](const cs_insn& ci) {
    // near RET (C3) and RET imm16 (C2 iw), with or without a REP prefix
    if (ci.id == X86_INS_RET) out.push_back(ci.address);
    return true;
  });
  return out;
}

std::optional<EntrySite> FindCheapEntrySite(std::span<const uint8_t> code, uint64_t addr) {
  // Whole function: the stack-check branches are verified against the
  // morestack stub at its end.
  const std::vector<Insn> insns = DecodeDetailed(code, addr, SIZE_MAX);
  if (insns.empty()) return std::nullopt;

  size_t i = 0;
  std::string shape;
  std::vector<const Insn*> branches;  // stack-check jccs to verify
  auto at = [&](size_t k) -> const Insn* { return k < insns.size() ? &insns[k] : nullptr; };

  if (IsStackGuardCmp(insns[0], X86_REG_RSP) && at(1) && IsJcc(*at(1), X86_INS_JBE)) {
    shape = "cmp rsp, " + GuardText(insns[0]) + "; jbe morestack";
    branches = {at(1)};
    i = 2;
  } else if (insns[0].id == X86_INS_LEA && insns[0].nops() == 2 &&
             IsReg(insns[0].op(0), X86_REG_R12) && insns[0].op(1).type == X86_OP_MEM &&
             insns[0].op(1).mem.base == X86_REG_RSP &&
             insns[0].op(1).mem.index == X86_REG_INVALID && insns[0].op(1).mem.disp < 0 &&
             at(1) && IsStackGuardCmp(*at(1), X86_REG_R12) && at(2) &&
             IsJcc(*at(2), X86_INS_JBE)) {
    shape = "lea r12, [rsp-" + Hex(-insns[0].op(1).mem.disp) + "]; cmp r12, " +
            GuardText(*at(1)) + "; jbe morestack";
    branches = {at(2)};
    i = 3;
  } else if (insns[0].id == X86_INS_MOV && insns[0].nops() == 2 &&
             IsReg(insns[0].op(0), X86_REG_R12) && IsReg(insns[0].op(1), X86_REG_RSP) && at(1) &&
             at(1)->id == X86_INS_SUB && at(1)->nops() == 2 && IsReg(at(1)->op(0), X86_REG_R12) &&
             at(1)->op(1).type == X86_OP_IMM && at(2) && IsJcc(*at(2), X86_INS_JB) && at(3) &&
             IsStackGuardCmp(*at(3), X86_REG_R12) && at(4) && IsJcc(*at(4), X86_INS_JBE)) {
    shape = "mov r12, rsp; sub r12, " + Hex(at(1)->op(1).imm) + "; jb morestack; cmp r12, " +
            GuardText(*at(3)) + "; jbe morestack";
    branches = {at(2), at(4)};
    i = 5;
  }
  while (i < insns.size() && IsNop(insns[i])) ++i;  // alignment NOPs, if any
  if (i >= insns.size()) return std::nullopt;

  // The site: the pushq rbp after the check (1.21+), else the check's last
  // branch itself (go1.19/1.20 frames start with `sub rsp, N`, which the
  // kernel would single-step): a jcc is emulated, but runs for both outcomes.
  size_t site_index = i;
  const bool push = insns[i].id == X86_INS_PUSH && insns[i].nops() == 1 && IsReg(insns[i].op(0), X86_REG_RBP);
  if (!push) {
    if (branches.empty()) return std::nullopt;  // NOSPLIT without push: not a shape we know
    site_index = static_cast<size_t>(branches.back() - insns.data());
  }
  const Insn& site = insns[site_index];

  // Verify the invariant on every instruction up to the site, whatever the shape.
  for (size_t k = 0; k <= site_index; ++k) {
    const Insn& in = insns[k];
    if (k == site_index && push) break;
    if (!OnlyScratchWrites(in)) return std::nullopt;
    const bool is_branch = in.id == X86_INS_JBE || in.id == X86_INS_JB;
    bool listed = false;
    for (const Insn* b : branches) listed |= (b == &in);
    if (is_branch != listed) return std::nullopt;
    if (is_branch) {
      const uint64_t target = static_cast<uint64_t>(in.op(0).imm);
      if (target <= site.address) return std::nullopt;  // must leave the prologue forward
      if (!IsMorestackStub(insns, target, addr)) return std::nullopt;
    } else if (in.id == X86_INS_CALL || in.id == X86_INS_JMP || in.id == X86_INS_RET) {
      return std::nullopt;
    }
  }

  EntrySite out;
  out.address = site.address;
  if (site_index == 0) {
    out.why = "entry is pushq rbp";
  } else if (shape.empty()) {
    return std::nullopt;  // only NOPs before a push: not a shape we know
  } else if (push) {
    out.why = "pushq rbp after stack check (" + shape + "); RSP and argument registers as at entry";
  } else {
    out.at_stack_check_branch = true;
    out.why = "the stack check's jbe (" + shape +
              "), emulated; the pass that goes to morestack is told by its flags and skipped";
  }
  return out;
}

std::vector<uint64_t> FindCallsTo(std::span<const uint8_t> code, uint64_t addr, uint64_t target) {
  std::vector<uint64_t> out;
  Capstone cs;
  cs.Sweep(code, addr, [&](const cs_insn& ci) {
    // E8 rel32: capstone reports the absolute destination as the immediate.
    if (ci.id == X86_INS_CALL && ci.detail && ci.detail->x86.opcode[0] == 0xE8 &&
        ci.detail->x86.op_count == 1 && ci.detail->x86.operands[0].type == X86_OP_IMM &&
        static_cast<uint64_t>(ci.detail->x86.operands[0].imm) == target) {
      out.push_back(ci.address);
    }
    return true;
  });
  return out;
}

std::vector<RipReference> FindRipReferences(std::span<const uint8_t> code, uint64_t addr) {
  std::vector<RipReference> out;
  Capstone cs;
  cs.Sweep(code, addr, [&](const cs_insn& ci) {
    if (!ci.detail) return true;
    const cs_x86& x = ci.detail->x86;
    for (int i = 0; i < x.op_count; ++i) {
      const cs_x86_op& o = x.operands[i];
      if (o.type != X86_OP_MEM || o.mem.base != X86_REG_RIP) continue;
      RipReference r;
      r.insn_address = ci.address;
      // RIP-relative: relative to the end of this instruction.
      r.target = ci.address + ci.size + static_cast<uint64_t>(o.mem.disp);
      r.mnemonic = ci.mnemonic;
      // LEA computes an address and accesses nothing.
      r.access_size = ci.id == X86_INS_LEA ? 0 : o.size;
      out.push_back(std::move(r));
      break;  // at most one memory operand per x86 instruction
    }
    return true;
  });
  return out;
}

}  // namespace goscope
