// Where the tracers put their uprobes in one binary: exact instruction
// addresses found by decoding the functions' code, never guessed. Knows
// nothing of BPF; the loader turns addresses into file offsets and attaches.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "go_binary.h"

namespace goscope {

enum class ProbePurpose {
  kGoroutineCreate,  // runtime.newproc1: fn=AX, callergp=BX, callerpc=CX
  kGoroutineNewG,    // CALL runqput in runtime.newproc.func1 (BX = new g), else newproc1's RETs (AX = new g)
  kGoroutineNewGOther,  // return site of every other newproc1 caller (coroutines: AX = new g)
  kGoroutineExit,    // runtime.gdestroy (1.22+, AX = dead g; also sees coroutine exits), else goexit1 (R14)
  kMalloc,           // runtime.mallocgc, every allocation (1.27+: but those it hands to the size-specialized ones)
  kMallocSpecialized,  // 1.27+: entry of every size-specialized allocator (mallocgc*SC<N>); same arguments
  kGcStart,          // runtime.gcStart
  kGcMarkDone,       // runtime.gcMarkDone
  kGcMarkTermination,
  kStopTheWorld,     // runtime.stopTheWorldWithSema
  kStartTheWorld,    // runtime.startTheWorldWithSema
  kInitFunctions,    // entry of every package init function (PKG.init, PKG.init.N): one address each
  kRuntimeInitDone,  // runtime.gcenable entry: runtime.main has run the runtime's own init tasks
  kMainMain,         // main.main entry: package init is over
};

std::string_view PurposeName(ProbePurpose p);  // "goroutine_create", ...

struct ProbeSite {
  ProbePurpose purpose;
  std::string function;             // where the probe sits
  uint64_t function_entry = 0;      // link-time address
  std::vector<uint64_t> addresses;  // link-time addresses to probe (several for RET sites)
  std::string how;                  // "entry+15: pushq %rbp after stack check", "call runqput", "ret"
  std::string value_reg;            // register holding the site's value ("bx": new g at runqput), or ""
  std::string error;                // why there is no site; addresses empty then
  // The probe sits on a stack check's `jbe morestack` (an entry site in
  // go1.19/1.20): it fires on both outcomes, and the BPF program must skip the
  // one the flags send to morestack (the function re-enters and fires again).
  bool at_stack_check_branch = false;
  // kMalloc only: mallocgc passes every allocation smaller than this to a
  // size-specialized allocator (0: none do). Read from mallocgc's own compare.
  // in_frame: the site is past that hand-over, where mallocgc's frame is set
  // up (its return address at [RBP+8]) and only what it allocates itself passes.
  uint64_t dispatch_below = 0;
  bool in_frame = false;
  bool ok() const { return error.empty() && !addresses.empty(); }
  // No addresses and no error: this release has nothing to probe here.
  bool not_needed() const { return error.empty() && addresses.empty(); }
};

// All sites for this binary, in ProbePurpose order. Sites that the binary lacks
// (e.g. doInit1 before 1.21) carry an error instead of addresses.
std::vector<ProbeSite> FindProbeSites(const GoBinary& bin);
// One site.
ProbeSite FindProbeSite(const GoBinary& bin, ProbePurpose purpose);

// Every RET instruction of a function (for newproc1, or any return probe).
std::vector<uint64_t> FunctionRets(const GoBinary& bin, const Func& f);

}  // namespace goscope
