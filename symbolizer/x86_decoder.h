// x86-64 instruction facts the tracers need, from capstone over a function's bytes.
// Never guess: a site is only returned when the decoder saw a whole instruction there.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace goscope {

struct Instruction {
  uint64_t address = 0;  // virtual address
  uint8_t size = 0;
  std::string mnemonic;  // "ret", "call", "jbe", ...
  std::string operands;  // capstone's operand text
};

// Decodes [code, code+size) starting at virtual address `addr`. Stops at the
// first byte sequence that does not decode (padding after the function).
std::vector<Instruction> Decode(std::span<const uint8_t> code, uint64_t addr);

// Virtual addresses of every RET in a function's bytes.
std::vector<uint64_t> FindRets(std::span<const uint8_t> code, uint64_t addr);

// Where an entry probe is cheapest for a Go ABIInternal function: the first
// instruction after the stack-check prologue that the kernel emulates rather
// than single-steps (docs/DESIGN.md, "Where a probe sits decides its cost").
// Where no such instruction follows the check (go1.19/1.20 frames begin with
// `sub rsp, N`), the site is the check's last branch, `jbe morestack`: also
// emulated, but run on both outcomes; at_stack_check_branch then tells the
// probe to skip the pass whose flags (CF or ZF) send it to morestack, which
// re-enters the function. Returns nullopt if the prologue is not recognised
// (the caller then uses entry).
struct EntrySite {
  uint64_t address = 0;
  std::string why;  // e.g. "pushq %rbp after stack check"
  bool at_stack_check_branch = false;
};
std::optional<EntrySite> FindCheapEntrySite(std::span<const uint8_t> code, uint64_t addr);

// Addresses of CALL instructions in `code` whose direct target is `target`.
std::vector<uint64_t> FindCallsTo(std::span<const uint8_t> code, uint64_t addr, uint64_t target);

// Absolute addresses referenced RIP-relative by instructions in `code`
// (e.g. `movq 0x1234(%rip), %rax`): how stripped binaries reveal runtime variables.
struct RipReference {
  uint64_t insn_address = 0;
  uint64_t target = 0;
  std::string mnemonic;
  uint8_t access_size = 0;  // bytes of the memory operand, 0 if unknown
};
std::vector<RipReference> FindRipReferences(std::span<const uint8_t> code, uint64_t addr);

}  // namespace goscope
