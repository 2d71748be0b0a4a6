#include "pprof_reader.h"

#include <regex>
#include <sstream>

#include <gtest/gtest.h>

namespace goscope::testing {

std::string Pprof(const std::string& args, const GoToolchain* tc) {
  const auto& all = InstalledGoToolchains();
  if (!tc) {
    if (all.empty()) {
      ADD_FAILURE() << "no Go toolchain installed under /usr/lib/go-1.*";
      return "";
    }
    tc = &all.back();
  }
  int rc = 0;
  std::string err;
  std::string cmd = GoEnvPrefix() + "TZ=UTC " + tc->Tool("pprof") + " " + args;
  std::string out = RunCommand(cmd, "", &rc, &err);
  EXPECT_EQ(rc, 0) << cmd << "\n" << err;
  EXPECT_EQ(err, "") << cmd;
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  return lines;
}

std::vector<std::string> RawProfile::Stack(const RawSample& s) const {
  std::vector<std::string> out;
  for (uint64_t id : s.location_ids) {
    auto it = locations.find(id);
    if (it == locations.end()) {
      out.push_back("<missing location " + std::to_string(id) + ">");
      continue;
    }
    if (it->second.lines.empty()) out.push_back("<unsymbolized>");
    for (const auto& l : it->second.lines) out.push_back(l.function);
  }
  return out;
}

RawLine ParseRawLine(const std::string& text) {
  std::stringstream ss(text);
  RawLine l;
  ss >> l.function >> l.where;
  static const std::regex col(R"(^(.*:\d+):\d+$)");
  std::smatch m;
  if (std::regex_match(l.where, m, col)) l.where = m[1];
  return l;
}

RawProfile ParseRaw(const std::string& out, bool strict) {
  static const std::regex header(R"(^(\w+): (.*)$)");
  static const std::regex sample(R"(^\s*(-?\d+(?:\s+-?\d+)*):((?: \d+)*)\s*$)");
  static const std::regex location(R"(^\s*(\d+): 0x([0-9a-f]+) ?(M=\d+)? ?(.*)$)");
  RawProfile p;
  enum { kHeader, kSampleTypes, kSamples, kLocations, kMappings } section = kHeader;
  RawLocation* loc = nullptr;
  for (const std::string& line : Lines(out)) {
    std::smatch m;
    if (line == "Samples:") {
      section = kSampleTypes;
    } else if (line == "Locations") {
      section = kLocations;
    } else if (line == "Mappings") {
      section = kMappings;
    } else if (section == kHeader && std::regex_match(line, m, header)) {
      p.header[m[1]] = m[2];
    } else if (section == kSampleTypes) {
      p.sample_types = line;
      section = kSamples;
    } else if (section == kSamples && std::regex_match(line, m, sample)) {
      RawSample s;
      std::stringstream vs(m[1].str()), ids(m[2].str());
      for (int64_t v; vs >> v;) s.values.push_back(v);
      for (uint64_t id; ids >> id;) s.location_ids.push_back(id);
      p.samples.push_back(s);
    } else if (section == kSamples && !p.samples.empty()) {
      p.samples.back().labels.push_back(Trim(line));
    } else if (section == kLocations && std::regex_match(line, m, location)) {
      loc = &p.locations[std::stoull(m[1])];
      loc->address = std::stoull(m[2], nullptr, 16);
      loc->mapping = m[3];
      if (!Trim(m[4]).empty()) loc->lines.push_back(ParseRawLine(m[4]));
    } else if (section == kLocations && loc) {
      loc->lines.push_back(ParseRawLine(line));
    } else if (section == kMappings) {
      p.mappings.push_back(line);
    } else if (strict) {
      ADD_FAILURE() << "unexpected pprof -raw line: " << line;
    }
  }
  return p;
}

std::vector<Trace> ParseTraces(const std::string& out) {
  std::vector<Trace> traces;
  bool in_samples = false;
  for (const std::string& line : Lines(out)) {
    if (line.rfind("-----------+", 0) == 0) {
      traces.emplace_back();
      in_samples = true;
      continue;
    }
    if (!in_samples) continue;
    // pprof prints labels as "%10s:  %s" and stack lines as "%10s   %s%s".
    if (line.size() > 10 && line[10] == ':') {
      traces.back().labels.push_back(Trim(line));
    } else if (line.size() > 13) {
      if (traces.back().stack.empty()) traces.back().value = Trim(line.substr(0, 10));
      traces.back().stack.push_back(line.substr(13));
    } else {
      ADD_FAILURE() << "unexpected pprof -traces line: " << line;
    }
  }
  if (!traces.empty() && traces.back().stack.empty() && traces.back().labels.empty()) traces.pop_back();
  return traces;
}

std::map<std::string, TopRow> ParseTop(const std::string& out) {
  static const std::regex row(R"(^\s*(\S+)\s+\S+%\s+\S+%\s+(\S+)\s+\S+%\s+(.+)$)");
  std::map<std::string, TopRow> rows;
  for (const std::string& line : Lines(out)) {
    std::smatch m;
    if (std::regex_match(line, m, row)) rows[m[3]] = {m[1], m[2]};
  }
  return rows;
}

}  // namespace goscope::testing
