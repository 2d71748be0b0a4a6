#include "binary_info.h"

#include "runtime_variables.h"

namespace goscope {

BinaryInfo PrepareBinary(std::shared_ptr<const GoBinary> binary) {
  BinaryInfo info;
  info.layout = ResolveRuntimeLayout(*binary, &info.dwarf_error);
  info.sites = FindProbeSites(*binary);
  info.verdict = AssessTraceability(*binary, info.layout, info.sites);
  info.binary = std::move(binary);
  return info;
}

namespace {

std::string Describe(const std::string& what, const Verdict& verdict) {
  std::string s = what + " cannot be traced:";
  for (const auto& p : verdict.problems) s += "\n  " + p;
  return s;
}

}  // namespace

Untraceable::Untraceable(const std::string& what, const Verdict& verdict) : Error(Describe(what, verdict)) {}

void RequireTraceable(const BinaryInfo& info, const std::string& what) {
  if (!info.verdict.traceable) throw Untraceable(what, info.verdict);
}

}  // namespace goscope
