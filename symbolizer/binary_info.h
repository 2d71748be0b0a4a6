// Everything goscope knows about one Go executable before it touches a
// process (Delve's BinaryInfo): the parsed binary, the runtime layout, the
// probe sites and the verdict on them. Prepared once, read-only, shared by
// every process that runs the binary. Knows nothing of BPF or of processes.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "go_binary.h"
#include "probe_sites.h"
#include "runtime_layout.h"
#include "trace_support.h"

namespace goscope {

struct BinaryInfo {
  std::shared_ptr<const GoBinary> binary;
  RuntimeLayout layout;
  std::vector<ProbeSite> sites;
  Verdict verdict;
  std::string dwarf_error;  // why the DWARF was skipped; "" when read or absent
};

BinaryInfo PrepareBinary(std::shared_ptr<const GoBinary> binary);

// The verdict said no: what() is "WHAT cannot be traced:" and one indented
// line per problem. Commands exit 3 on it.
class Untraceable : public Error {
 public:
  Untraceable(const std::string& what, const Verdict& verdict);
};

// Throws Untraceable unless info's verdict is traceable. what: "process 123",
// "/usr/bin/caddy".
void RequireTraceable(const BinaryInfo& info, const std::string& what);

}  // namespace goscope
