// What a diagnosis bundle holds: one traced process at the moment a growth
// rule fired, everything an operator asks for first, in the formats their
// tools read:
//   summary.txt, summary.json   why it fired, what each file is
//   goroutines.txt              every goroutine now, as goroutine?debug=2
//   goroutines.pb.gz, heap.pb.gz          profiles now (go tool pprof)
//   goroutines-before.pb.gz, heap-before.pb.gz   from before the growth, when
//                               the agent had them (go tool pprof -base)
//   leaks.json                  the leak-suspect groups
//   stats.json                  the runtime-stats readings the rule looked at
#pragma once
#include <vector>

#include "agent/agent_process.h"
#include "agent/bundle_store.h"
#include "model/growth_rule.h"

namespace goscope {

std::vector<BundleFile> DiagnosisBundle(const AgentProcess& process, const GrowthRule& rule,
                                        const GrowthVerdict& verdict);

}  // namespace goscope
