// The leak report as files: leaks.json (docs/OUTPUTS.md) and leaks.txt.
#pragma once
#include <string>

#include "model/leak_report.h"

namespace goscope {

std::string LeakReportJson(const LeakReport& r);
std::string LeakReportText(const LeakReport& r);

}  // namespace goscope
