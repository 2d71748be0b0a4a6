// docs/OUTPUTS.md against the real outputs: every JSON document goscope
// writes, produced from a live Go program, has exactly the fields the document
// lists (none unlisted, every one marked "always" present, in arrays too), and
// schema_version 1; the agent's /metrics has exactly the families it lists,
// with their types. A script written against the document then learns of a
// change from the test suite, not from production.
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "heap_test_util.h"
#include "testbin.h"

namespace goscope {
namespace {

using heaptest::Child;
using nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), {}};
}

// One documented table: field (or "array[].field") -> always present?
using FieldTable = std::map<std::string, bool>;

// The table that follows each "<!-- fields: NAME -->" (and "<!-- metrics -->",
// as NAME "metrics": family -> type, in the always column's place).
std::map<std::string, std::map<std::string, std::string>> DocumentedTables() {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::istringstream in(ReadFile(std::string(GOSCOPE_SOURCE_DIR) + "/docs/OUTPUTS.md"));
  static const std::regex marker(R"(<!-- (fields: (\S+)|metrics) -->)");
  static const std::regex name(R"(`([A-Za-z0-9_\[\].]+)`)");
  std::string line, table;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, marker)) {
      table = m[2].matched ? m[2].str() : "metrics";
      continue;
    }
    if (table.empty()) continue;
    if (line.empty() || line[0] != '|') {
      if (!out[table].empty()) table.clear();  // the table has ended
      continue;
    }
    std::vector<std::string> cells;
    std::stringstream row(line.substr(1));
    for (std::string c; std::getline(row, c, '|');) cells.push_back(c);
    if (cells.size() < 2) continue;
    for (auto it = std::sregex_iterator(cells[0].begin(), cells[0].end(), name); it != std::sregex_iterator(); ++it)
      out[table][(*it)[1].str()] = cells[1];
  }
  return out;
}

std::string Trim(std::string s) {
  s.erase(0, s.find_first_not_of(' '));
  s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

// Holds one JSON document to its table.
void ExpectDocumented(const std::string& name, const json& doc,
                      const std::map<std::string, std::map<std::string, std::string>>& tables) {
  SCOPED_TRACE(name);
  ASSERT_TRUE(tables.count(name)) << "docs/OUTPUTS.md has no table for " << name;
  ASSERT_TRUE(doc.is_object()) << doc.dump().substr(0, 200);
  const auto& table = tables.at(name);
  EXPECT_EQ(doc.value("schema_version", 0), 1);
  // Top level, then every documented array's first element.
  std::map<std::string, const json*> scopes = {{"", &doc}};
  for (const auto& [field, always] : table) {
    auto at = field.find("[].");
    if (at == std::string::npos) continue;
    std::string array = field.substr(0, at);
    if (doc.contains(array) && doc[array].is_array() && !doc[array].empty()) scopes[array + "[]."] = &doc[array][0];
  }
  for (const auto& [prefix, obj] : scopes) {
    ASSERT_TRUE(obj->is_object()) << prefix;
    for (const auto& [key, value] : obj->items())
      EXPECT_TRUE(table.count(prefix + key)) << prefix + key << " is in the output but not in docs/OUTPUTS.md";
    for (const auto& [field, always] : table) {
      if (!field.starts_with(prefix) || field.find("[].", prefix.size()) != std::string::npos) continue;
      if (prefix.empty() && field.find("[].") != std::string::npos) continue;
      if (Trim(always) == "always") {
        EXPECT_TRUE(obj->contains(field.substr(prefix.size())))
            << field << " is documented as always present but missing: " << obj->dump().substr(0, 300);
      }
    }
  }
}

json ParseJsonFile(const std::string& path) { return json::parse(ReadFile(path), nullptr, false); }

TEST(OutputsDoc, EveryJsonDocumentHasExactlyTheDocumentedFields) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto tables = DocumentedTables();
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* leaker = testing::NewestBuild(bins, "leaker", "stripped");
  const testing::TestBinary* inittest = testing::NewestBuild(bins, "inittest", "stripped");
  ASSERT_TRUE(leaker && inittest);
  heaptest::TempDir dir;
  const std::string goscope = heaptest::GoscopeBinary();

  Child prog({leaker->path});
  ASSERT_TRUE(prog.WaitFor(0, "ready")) << prog.err();
  const std::string pid = std::to_string(prog.pid());

  Child attach({goscope, "attach", "-p", pid, "--duration", "2", "-o", dir.path() + "/attach"});
  ASSERT_EQ(attach.Wait(60000), 0) << attach.err();
  ExpectDocumented("summary.json", ParseJsonFile(dir.path() + "/attach/summary.json"), tables);
  ExpectDocumented("leaks.json", ParseJsonFile(dir.path() + "/attach/leaks.json"), tables);

  Child goroutines({goscope, "goroutines", "-p", pid, "--format", "json"});
  ASSERT_EQ(goroutines.Wait(), 0) << goroutines.err();
  ExpectDocumented("goroutines.json", json::parse(goroutines.out(), nullptr, false), tables);

  Child info({goscope, "info", "-p", pid, "--json"});
  ASSERT_EQ(info.Wait(), 0) << info.err();
  ExpectDocumented("info.json", json::parse(info.out(), nullptr, false), tables);

  Child stats({goscope, "stats", "-p", pid, "--json"});
  ASSERT_EQ(stats.Wait(), 0) << stats.err();
  ExpectDocumented("stats.json", json::parse(stats.out(), nullptr, false), tables);

  Child gc({goscope, "gc", "-p", pid, "--duration", "1", "--json"});
  ASSERT_EQ(gc.Wait(30000), 0) << gc.err();
  ExpectDocumented("gc.json", json::parse(gc.out(), nullptr, false), tables);

  Child run({goscope, "run", "-q", "--until", "main", "-o", dir.path() + "/run", "--", inittest->path});
  ASSERT_EQ(run.Wait(60000), 0) << run.err();
  ExpectDocumented("init.json", ParseJsonFile(dir.path() + "/run/init.json"), tables);
  // --until exit: summary.json gains the init totals.
  Child run_exit({goscope, "run", "-q", "-o", dir.path() + "/run-exit", "--", inittest->path, "sleep", "500"});
  ASSERT_EQ(run_exit.Wait(60000), 0) << run_exit.err();
  ExpectDocumented("summary.json", ParseJsonFile(dir.path() + "/run-exit/summary.json"), tables);
}

TEST(OutputsDoc, MetricsHaveExactlyTheDocumentedFamilies) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto tables = DocumentedTables();
  ASSERT_TRUE(tables.count("metrics"));
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* leaker = testing::NewestBuild(bins, "leaker", "stripped");
  ASSERT_TRUE(leaker);
  Child prog({leaker->path});
  ASSERT_TRUE(prog.WaitFor(0, "ready")) << prog.err();
  heaptest::TempDir dir;
  const std::string config = dir.path() + "/agent.json";
  std::ofstream(config) << R"({"include": [{"exe": "*/leaker-stripped"}]})";
  Child agent({heaptest::GoscopeBinary(), "agent", "--listen", "127.0.0.1:0", "--config", config, "--no-write"});
  auto line = agent.WaitFor(1, "listening on 127.0.0.1:", 30000);
  ASSERT_TRUE(line) << agent.err();
  const std::string port = line->substr(line->rfind(':') + 1);
  // Every family appears once a process is traced and one GC pause is recorded.
  std::string metrics;
  int rc = 0;
  for (int i = 0; i < 60 && metrics.find("goscope_goroutines{pid=\"" + std::to_string(prog.pid())) == std::string::npos;
       ++i) {
    metrics = testing::RunCommand("curl -sf http://127.0.0.1:" + Trim(port) + "/metrics", "", &rc);
    usleep(250000);
  }
  ASSERT_NE(metrics.find("goscope_goroutines{pid="), std::string::npos) << metrics << agent.err();
  std::map<std::string, std::string> served;
  std::istringstream in(metrics);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, std::regex(R"(# TYPE (\S+) (\S+))"))) served[m[1]] = m[2];
  }
  std::map<std::string, std::string> documented;
  for (const auto& [family, type] : tables.at("metrics")) documented[family] = Trim(type);
  EXPECT_EQ(served, documented);
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(), 0) << agent.err();
}

}  // namespace
}  // namespace goscope
