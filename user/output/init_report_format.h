// The init report as files: init.json (docs/OUTPUTS.md) and init.txt.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "model/init_report.h"

namespace goscope {

// {"pid", "go_version", "init_total": {"allocs", "bytes", "seconds"}, "packages": [...], ...}
nlohmann::json InitReportJson(const InitReport& r);
// For a person: totals, then packages largest first.
std::string InitReportText(const InitReport& r);

}  // namespace goscope
