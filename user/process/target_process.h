// A live Go process as the tracers see it: its pid, the path the kernel can
// attach uprobes through, the parsed binary and where that binary is mapped.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>

#include "go_binary.h"
#include "stack_symbolizer.h"

namespace goscope {

class BinaryCache;

struct TargetProcess {
  pid_t pid = 0;
  std::string exe_path;  // /proc/PID/exe: reaches the binary inside containers too
  std::shared_ptr<const GoBinary> binary;
  uint64_t load_bias = 0;  // runtime address = link-time address + load_bias
  uint64_t exe_dev = 0, exe_inode = 0;  // the file binary was parsed from

  // Throws Error: "process 123 not found", "process 123 (nginx) is not a Go program: ...".
  static TargetProcess Find(pid_t pid, BinaryCache* cache = nullptr);

  // Whether /proc/PID/exe now names another file than the one Find parsed:
  // the process exec'd another program. False when it cannot be told (gone).
  bool RunsAnotherFile() const;
  // Throws Error if the process no longer runs the program Find parsed, where
  // Find saw it (it exec'd, even the same file again, or exited): what binary
  // says of its memory would be false. Reads /proc.
  void CheckSameProgram() const;

  // Frames for this process's addresses.
  StackSymbolizer symbolizer() const { return StackSymbolizer(binary, load_bias); }
  // The binary's executable segments as mapped here, named by the file the
  // process runs (for a profile's mappings).
  std::vector<BinaryMapping> ExecutableMappings() const;
};

}  // namespace goscope
