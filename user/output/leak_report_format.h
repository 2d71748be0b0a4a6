// Leak reports as text and JSON (docs/OUTPUTS.md): suspects (leaks.json and
// leaks.txt of attach and the agent) and goroutines proven leaked (goscope leaks).
#pragma once
#include <string>

#include "model/leak_proof.h"
#include "model/leak_report.h"

namespace goscope {

std::string LeakReportJson(const LeakReport& r);
std::string LeakReportText(const LeakReport& r);

std::string LeakProofJson(const LeakProof& proof, const std::vector<ProvenLeakGroup>& groups);
std::string LeakProofText(const LeakProof& proof, const std::vector<ProvenLeakGroup>& groups);

}  // namespace goscope
