// The schema version of every JSON document goscope writes: summary.json,
// leaks.json (and the agent's /leaks), init.json, `goroutines --format json`,
// `info --json`, `gc --json`. It grows when a field is removed, renamed or
// changes meaning; a new field does not change it. docs/OUTPUTS.md lists every
// field, and tests/integration/outputs_doc_test.cc holds the outputs to that list.
#pragma once

namespace goscope {

constexpr int kOutputSchemaVersion = 1;

}  // namespace goscope
