#include "probes_left.h"

#include <limits.h>
#include <stdlib.h>

#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "child.h"

namespace goscope::reliability {

ProbeListing UprobesOn(pid_t pid, const std::string& binary) {
  ProbeListing r;
  char real[PATH_MAX];
  std::string real_path = ::realpath(binary.c_str(), real) ? real : binary;
  const std::string proc_exe = "/proc/" + std::to_string(pid) + "/exe";
  auto ours = [&](const std::string& path) { return path == proc_exe || path == binary || path == real_path; };
  for (std::string what : {"perf", "link"}) {
    int rc = 0;
    std::string err;
    std::string out = goscope::testing::RunCommand("bpftool -j " + what + " list", "", &rc, &err);
    if (rc != 0) {
      r.error = "bpftool " + what + " list failed (exit " + std::to_string(rc) + "): " + err;
      return r;
    }
    auto doc = nlohmann::json::parse(out.empty() ? "[]" : out, nullptr, false);
    if (doc.is_discarded() || !doc.is_array()) {
      r.error = "bpftool " + what + " list: not a JSON array: " + out.substr(0, 200);
      return r;
    }
    for (const auto& e : doc) {
      bool hit = false;
      for (const char* key : {"filename", "path", "file"})
        if (e.contains(key) && e[key].is_string() && ours(e[key].get<std::string>())) hit = true;
      const std::string type = e.value("type", e.value("fd_type", std::string()));
      const bool has_pid = e.contains("pid") && e["pid"].is_number();
      if (what == "link" && type.find("uprobe") != std::string::npos && has_pid && e["pid"].get<long long>() == pid)
        hit = true;
      if (!hit) continue;
      Uprobe u{what, 0, -1, e.dump()};
      if (what == "perf" && has_pid) u.holder = e["pid"].get<pid_t>();
      if (what == "link" && has_pid) u.filter = e["pid"].get<pid_t>();
      r.probes.push_back(u);
    }
  }
  r.ok = true;
  return r;
}

std::string Cmdline(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : s)
    if (c == '\0') c = ' ';
  return s.empty() ? "(gone)" : s;
}

std::vector<std::string> OwnProbes(const ProbeListing& l, const std::set<pid_t>& ours, pid_t target) {
  std::vector<std::string> out;
  for (const auto& p : l.probes) {
    bool own = p.source == "perf" ? (ours.count(p.holder) || p.holder == target) : p.filter == target;
    if (own) out.push_back(p.source + ": " + p.json);
  }
  return out;
}

std::vector<std::string> ForeignProbes(const ProbeListing& l, const std::set<pid_t>& ours, pid_t target) {
  std::set<std::string> out;
  for (const auto& p : l.probes) {
    if (p.source == "perf" && !ours.count(p.holder) && p.holder != target)
      out.insert("uprobe held by pid " + std::to_string(p.holder) + " (" + Cmdline(p.holder) + ")");
    if (p.source == "link" && p.filter == 0) out.insert("uprobe_multi link on every process of the binary: " + p.json);
  }
  return {out.begin(), out.end()};
}

std::vector<std::string> ForeignOn(pid_t pid, const std::string& binary, const std::set<pid_t>& ours) {
  return ForeignProbes(UprobesOn(pid, binary), ours, pid);
}

}  // namespace goscope::reliability
