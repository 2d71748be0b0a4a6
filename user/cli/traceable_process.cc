#include "cli/traceable_process.h"

#include <fmt/format.h>

namespace goscope {

TraceableProcess OpenTraceableProcess(pid_t pid) {
  TargetProcess target = TargetProcess::Find(pid);
  BinaryInfo info = PrepareBinary(target.binary);
  RequireTraceable(info, fmt::format("process {} ({})", target.pid, target.binary->path()));
  return {std::move(target), std::move(info)};
}

}  // namespace goscope
