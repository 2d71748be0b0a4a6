#include "heap_test_util.h"

#include <cmath>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "pprof_reader.h"
#include "process/memprofilerate.h"
#include "process/target_process.h"
#include "runtime_variables.h"

namespace goscope::heaptest {

double HeapScale(int64_t size, int64_t rate) {
  if (rate <= 1) return 1;
  return 1 / (1 - std::exp(-static_cast<double>(size) / static_cast<double>(rate)));
}

RawHeapProfile ReadHeapProfile(const std::string& path, const std::string& base) {
  RawHeapProfile p;
  if (testing::InstalledGoToolchains().empty()) {
    ADD_FAILURE() << "no Go toolchain";
    return p;
  }
  const testing::RawProfile raw = testing::ParseRaw(
      testing::Pprof("-raw " + (base.empty() ? std::string() : "-base " + testing::ShellQuote(base) + " ") +
                     testing::ShellQuote(path)),
      /*strict=*/false);
  p.header = raw.header;
  p.sample_types = testing::Trim(raw.sample_types);
  if (auto d = p.sample_types.find("[dflt]"); d != std::string::npos) {
    p.default_type_marked = true;
    p.sample_types.erase(d, 6);
  }
  static const std::regex label(R"(^bytes:\[(\d+)\]$)");
  int64_t rate = p.header.count("Period") ? std::stoll(p.header["Period"]) : 1;
  for (const auto& s : raw.samples) {
    int64_t bytes = -1;
    for (const auto& l : s.labels) {
      std::smatch m;
      if (std::regex_match(l, m, label)) bytes = std::stoll(m[1]);
    }
    if (bytes < 0) {
      ++p.unlabelled;
      continue;
    }
    // The leaf location's innermost function.
    std::string fn = "?";
    if (!s.location_ids.empty())
      if (auto loc = raw.locations.find(s.location_ids[0]); loc != raw.locations.end() && !loc->second.lines.empty())
        fn = loc->second.lines[0].function;
    SiteValues& v = p.sites[{fn, bytes}];
    double scale = HeapScale(bytes, rate);
    v.samples++;
    if (s.values.size() >= 2) {
      v.alloc_objects += s.values[0];
      v.alloc_space += s.values[1];
      v.raw_alloc += std::llround(static_cast<double>(s.values[0]) / scale);
    }
    if (s.values.size() >= 4) {
      v.inuse_objects += s.values[2];
      v.inuse_space += s.values[3];
      v.raw_inuse += std::llround(static_cast<double>(s.values[2]) / scale);
    }
  }
  return p;
}

SiteValues SiteTotal(const RawHeapProfile& p, const std::string& fn) {
  SiteValues t;
  for (const auto& [k, v] : p.sites) {
    if (k.first != fn) continue;
    t.alloc_objects += v.alloc_objects;
    t.alloc_space += v.alloc_space;
    t.inuse_objects += v.inuse_objects;
    t.inuse_space += v.inuse_space;
    t.raw_alloc += v.raw_alloc;
    t.raw_inuse += v.raw_inuse;
    t.samples += v.samples;
  }
  return t;
}

std::vector<testing::TestBinary> HeapPrograms(const std::string& name) {
  std::vector<testing::TestBinary> out;
  for (auto& b : testing::LoadTestBinaries())
    if (b.name == name) out.push_back(b);
  if (out.empty()) ADD_FAILURE() << "no " << name << " binaries in the manifest; rebuild them with scripts/build-test-binaries.sh";
  return out;
}

std::optional<int64_t> TargetMemProfileRate(pid_t pid) {
  try {
    TargetProcess t = TargetProcess::Find(pid);
    RuntimeLayout layout = ResolveRuntimeLayout(*t.binary);
    return ReadMemProfileRate(pid, MemProfileRateAddress(t, layout));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "reading MemProfileRate of " << pid << ": " << e.what();
    return std::nullopt;
  }
}

std::map<std::pair<std::string, int64_t>, GoSite> ParseGoSites(const std::string& out) {
  static const std::regex re(
      R"(^heapprog: site (\S+) size=(\d+) alloc_objects=(-?\d+) alloc_bytes=(-?\d+) inuse_objects=(-?\d+) inuse_bytes=(-?\d+)$)");
  std::map<std::pair<std::string, int64_t>, GoSite> sites;
  std::stringstream ss(out);
  for (std::string l; std::getline(ss, l);) {
    std::smatch m;
    if (!std::regex_match(l, m, re)) continue;
    sites[{"goscope.test/heapwork." + m[1].str(), std::stoll(m[2])}] = {std::stoll(m[3]), std::stoll(m[4]),
                                                                         std::stoll(m[5]), std::stoll(m[6])};
  }
  return sites;
}

std::string GoscopeBinary() { return GOSCOPE_BINARY; }

}  // namespace goscope::heaptest
