// The agent's config file: every field parsed, every mistake an error that
// names the key and its line, and the include/exclude decision with its reason.
#include "agent/agent_config.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "error.h"

namespace goscope {
namespace {

// The Error's message, or "" if text parses.
std::string ErrorOf(const std::string& text) {
  try {
    ParseAgentConfig(text, "test.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AgentConfig, EmptyObjectGivesDefaults) {
  AgentConfig c = ParseAgentConfig("{}");
  EXPECT_TRUE(c.include.empty());
  EXPECT_TRUE(c.exclude.empty());
  EXPECT_TRUE(c.allow_write);
  EXPECT_EQ(c.heap_rate, 524288);
  EXPECT_EQ(c.interval_seconds, 60);
  EXPECT_EQ(c.profile_dir, "");  // no files unless asked for
  EXPECT_EQ(c.retention.max_bytes, uint64_t{1} << 30);
  EXPECT_EQ(c.retention.max_age_seconds, 7u * 24 * 3600);
  EXPECT_EQ(c.listen, "");
  EXPECT_EQ(c.token_file, "");
  EXPECT_EQ(c.creation_stacks.mode, CreationStackPolicy::Mode::kOnDemand);
  EXPECT_EQ(c.creation_stacks.window_seconds, 30);
  EXPECT_EQ(c.creation_stacks.cooldown_seconds, 600);
  EXPECT_EQ(c.stats_interval_seconds, 15);
  EXPECT_TRUE(c.bundles.enabled);
  ASSERT_EQ(c.bundles.rules.size(), 2u);
  EXPECT_EQ(c.bundles.rules[0].Describe(), "NumGoroutine above 5000 and 30% up on 300 s earlier, 3 readings in a row");
  EXPECT_EQ(c.bundles.rules[1].Describe(),
            "HeapInuse above 268435456 and 30% up on 300 s earlier, 3 readings in a row");
  EXPECT_EQ(c.bundles.cooldown_seconds, 3600);
  EXPECT_EQ(c.bundles.max_bytes, uint64_t{256} << 20);
}

TEST(AgentConfig, EveryFieldParsed) {
  AgentConfig c = ParseAgentConfig(R"({
    "include": [{"cgroup": "/system.slice/*"}, {"exe": "*/caddy", "comm": "caddy"}],
    "exclude": [{"comm": "go-build*"}],
    "allow_write": false,
    "heap_rate": 65536,
    "interval_seconds": 2.5,
    "profile_dir": "/srv/profiles",
    "retention": {"max_bytes": 0, "max_age_seconds": 3600},
    "creation_stacks": {"mode": "always", "window_seconds": 5, "cooldown_seconds": 60.5},
    "runtime_stats": {"interval_seconds": 2},
    "bundles": {"enabled": false, "cooldown_seconds": 120, "max_bytes": 2097152,
                "rules": [{"stat": "HeapAlloc", "floor": 1048576, "growth_percent": 50, "over_seconds": 10,
                           "readings": 2}, {"stat": "NumGoroutine"}]},
    "listen": "[::1]:9464",
    "token_file": "/etc/goscope/token"
  })");
  ASSERT_EQ(c.include.size(), 2u);
  EXPECT_EQ(c.include[0].cgroup, "/system.slice/*");
  EXPECT_EQ(c.include[0].exe, "");
  EXPECT_EQ(c.include[1].exe, "*/caddy");
  EXPECT_EQ(c.include[1].comm, "caddy");
  EXPECT_EQ(c.include[1].Describe(), "exe=*/caddy comm=caddy");
  ASSERT_EQ(c.exclude.size(), 1u);
  EXPECT_EQ(c.exclude[0].comm, "go-build*");
  EXPECT_FALSE(c.allow_write);
  EXPECT_EQ(c.heap_rate, 65536);
  EXPECT_DOUBLE_EQ(c.interval_seconds, 2.5);
  EXPECT_EQ(c.profile_dir, "/srv/profiles");
  EXPECT_EQ(c.retention.max_bytes, 0u);
  EXPECT_EQ(c.retention.max_age_seconds, 3600u);
  EXPECT_EQ(c.listen, "[::1]:9464");
  EXPECT_EQ(c.token_file, "/etc/goscope/token");
  EXPECT_EQ(c.creation_stacks.mode, CreationStackPolicy::Mode::kAlways);
  EXPECT_EQ(c.creation_stacks.window_seconds, 5);
  EXPECT_EQ(c.creation_stacks.cooldown_seconds, 60.5);
  EXPECT_EQ(ParseAgentConfig(R"({"creation_stacks": {"mode": "off"}})").creation_stacks.mode,
            CreationStackPolicy::Mode::kOff);
  EXPECT_EQ(c.stats_interval_seconds, 2);
  EXPECT_FALSE(c.bundles.enabled);
  EXPECT_EQ(c.bundles.cooldown_seconds, 120);
  EXPECT_EQ(c.bundles.max_bytes, 2097152u);
  ASSERT_EQ(c.bundles.rules.size(), 2u);
  EXPECT_EQ(c.bundles.rules[0].Describe(), "HeapAlloc above 1048576 and 50% up on 10 s earlier, 2 readings in a row");
  EXPECT_EQ(c.bundles.rules[1].Describe(), "NumGoroutine above 5000 and 30% up on 300 s earlier, 3 readings in a row");
}

TEST(AgentConfig, UnknownKeyNamesKeyAndLine) {
  std::string err = ErrorOf("{\n  \"heap_rate\": 1,\n  \"intervall_seconds\": 5\n}\n");
  EXPECT_NE(err.find("test.json"), std::string::npos) << err;
  EXPECT_NE(err.find("line 3"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown key \"intervall_seconds\""), std::string::npos) << err;
  EXPECT_NE(err.find("interval_seconds"), std::string::npos) << err;  // the list of known keys

  // Inside the second rule of a list spread over lines: that rule's line, not the first "exe".
  err = ErrorOf(R"({
  "include": [
    {"exe": "*/a"},
    {"exe": "*/b",
     "exe_path": "*/c"}
  ]
})");
  EXPECT_NE(err.find("line 5: include[1].exe_path: unknown key \"exe_path\""), std::string::npos) << err;

  err = ErrorOf("{\"retention\": {\"max_files\": 3}}");
  EXPECT_NE(err.find("line 1: retention.max_files: unknown key"), std::string::npos) << err;
}

TEST(AgentConfig, RepeatedKeyIsAnError) {
  std::string err = ErrorOf("{\n\"heap_rate\": 1,\n\"heap_rate\": 2}");
  EXPECT_NE(err.find("line 3: heap_rate: key given twice"), std::string::npos) << err;
  err = ErrorOf("{\"include\": [{\"exe\": \"a\", \"exe\": \"b\"}]}");
  EXPECT_NE(err.find("include[0].exe: key given twice"), std::string::npos) << err;
}

TEST(AgentConfig, WrongTypesAndRangesNameTheLine) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"{\n\"heap_rate\": \"big\"}", "line 2: heap_rate: expected an integer, got string"},
      {"{\"heap_rate\": 0}", "heap_rate: 0 is out of range"},
      {"{\"heap_rate\": 1.5}", "heap_rate: expected an integer, got a number with a fraction"},
      {"{\"heap_rate\": 18446744073709551615}", "heap_rate: 18446744073709551615 is out of range"},
      {"{\"allow_write\": \"yes\"}", "allow_write: expected true or false, got string"},
      {"{\"interval_seconds\": 0}", "interval_seconds: 0 must be a number of seconds above 0"},
      {"{\"interval_seconds\": -1}", "must be a number of seconds above 0"},
      {"{\"interval_seconds\": null}", "interval_seconds: expected a number, got null"},
      {"{\"profile_dir\": \"\"}", "profile_dir: must not be empty"},
      {"{\"retention\": []}", "retention: expected an object, got array"},
      {"{\"retention\": {\"max_bytes\": -1}}", "retention.max_bytes: -1 is out of range"},
      {"{\"include\": {\"exe\": \"x\"}}", "include: expected a list of rules, got object"},
      {"{\"include\": [\"*/caddy\"]}", "include[0]: expected a rule like"},
      {"{\"exclude\": [{}]}", "exclude[0]: a rule must give at least one of exe, comm, cgroup"},
      {"{\"exclude\": [{\"comm\": 3}]}", "exclude[0].comm: expected a string, got an integer"},
      {"{\"listen\": \"9464\"}", "listen: \"9464\": expected HOST:PORT"},
      {"{\"listen\": \"localhost:http\"}", "port must be a number from 1 to 65535"},
      {"{\"listen\": \"localhost:0\"}", "port must be a number from 1 to 65535"},
      {"{\"listen\": \"::1:9464\"}", "an IPv6 address goes in brackets"},
      {"[1, 2]", "expected an object {...}, got array"},
      {"{\"creation_stacks\": \"always\"}", "creation_stacks: expected an object, got string"},
      {"{\"creation_stacks\": {\"mode\": \"sometimes\"}}",
       "creation_stacks.mode: \"sometimes\": expected on_demand, always or off"},
      {"{\"creation_stacks\": {\"window_seconds\": 0}}", "creation_stacks.window_seconds: 0 must be a number"},
      {"{\"creation_stacks\": {\"cooldown_seconds\": 1e9}}", "at most 604800"},
      {"{\"creation_stacks\": {\"windows\": 3}}", "creation_stacks.windows: unknown key"},
      {"{\"runtime_stats\": {\"interval_seconds\": 0.5}}", "runtime_stats.interval_seconds: 0.5 must be at least 1"},
      {"{\"runtime_stats\": {\"interval_seconds\": 7200}}", "at most 3600"},
      {"{\"bundles\": {\"rules\": [{\"floor\": 1}]}}", "bundles.rules[0]: a rule must name its stat"},
      {"{\"bundles\": {\"rules\": [{\"stat\": \"Goroutines\"}]}}",
       "bundles.rules[0].stat: \"Goroutines\": expected a stat that can shrink"},
      {"{\"bundles\": {\"rules\": [{\"stat\": \"TotalAlloc\"}]}}", "expected a stat that can shrink"},
      {"{\"bundles\": {\"rules\": [{\"stat\": \"HeapInuse\", \"readings\": 0}]}}",
       "bundles.rules[0].readings: 0 is out of range"},
      {"{\"bundles\": {\"rules\": [{\"stat\": \"HeapInuse\", \"growth_percent\": 0}]}}", "must be above 0"},
      {"{\"bundles\": {\"max_bytes\": 10}}", "bundles.max_bytes: 10 is out of range"},
      {"{\"bundles\": {\"rules\": {}}}", "bundles.rules: expected a list of rules"},
  };
  for (const auto& c : cases) {
    std::string err = ErrorOf(c.text);
    EXPECT_NE(err.find(c.want), std::string::npos) << c.text << "\n  got: " << err;
  }
  // A number at the end of a line belongs to that line (the lexer reads one past it).
  std::string err = ErrorOf("{\n  \"include\": [\n    7\n  ]\n}");
  EXPECT_NE(err.find("line 3: include[0]"), std::string::npos) << err;
}

TEST(AgentConfig, SyntaxErrorsCarryPosition) {
  std::string err = ErrorOf("{\n  \"heap_rate\": 1,\n}\n");
  EXPECT_NE(err.find("agent config test.json: parse error at line 3"), std::string::npos) << err;
  EXPECT_EQ(err.find("[json.exception"), std::string::npos) << err;
  EXPECT_NE(ErrorOf("{\"interval_seconds\": 1e400}").find("number overflow"), std::string::npos);
  EXPECT_NE(ErrorOf(""), "");
  EXPECT_NE(ErrorOf("{} {}"), "");
}

TEST(AgentConfig, ListenForms) {
  EXPECT_EQ(ParseAgentConfig("{\"listen\": \":9464\"}").listen, ":9464");
  EXPECT_EQ(ParseAgentConfig("{\"listen\": \"0.0.0.0:1\"}").listen, "0.0.0.0:1");
  EXPECT_EQ(ParseAgentConfig("{\"listen\": \"node-1.example:65535\"}").listen, "node-1.example:65535");
  EXPECT_NE(ErrorOf("{\"listen\": \"h:65536\"}"), "");
  EXPECT_NE(ErrorOf("{\"listen\": \"h:12x\"}"), "");
}

TEST(AgentConfig, LoadsARealFile) {
  char path[] = "/tmp/goscope-agent-config-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text = "{\"exclude\": [{\"exe\": \"/usr/bin/*\"}],\n \"heap_rate\": 4096}\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  AgentConfig c = LoadAgentConfig(path);
  EXPECT_EQ(c.heap_rate, 4096);
  ASSERT_EQ(c.exclude.size(), 1u);
  EXPECT_EQ(c.exclude[0].exe, "/usr/bin/*");

  std::ofstream(path) << "{\"heap_rate\": true}";
  try {
    LoadAgentConfig(path);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::string("agent config ") + path + ": line 1: heap_rate"),
              std::string::npos)
        << e.what();
  }
  unlink(path);
  try {
    LoadAgentConfig(path);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
}

TEST(AgentConfig, SelectsWithReasons) {
  AgentConfig c = ParseAgentConfig(R"({
    "include": [{"cgroup": "/system.slice/*"}, {"exe": "*/caddy"}],
    "exclude": [{"comm": "go-build*"}, {"exe": "/usr/lib/go-*/*", "cgroup": "/user.slice/*"}]
  })");
  struct Case {
    ProcessInfo p;
    bool selected;
    const char* reason;
  } cases[] = {
      {{"/usr/sbin/nginx-go", "nginx-go", "/system.slice/nginx.service"},
       true,
       "included by include[0] (cgroup=/system.slice/*)"},
      // '*' crosses '/': caddy anywhere, in any cgroup.
      {{"/opt/x/bin/caddy", "caddy", "/user.slice/user-1000.slice/session-2.scope"},
       true,
       "included by include[1] (exe=*/caddy)"},
      // Exclude wins over include.
      {{"/tmp/go-build123/b001/exe/main", "go-build1234", "/system.slice/ci.service"},
       false,
       "excluded by exclude[0] (comm=go-build*)"},
      // A rule with two fields needs both: this one only matches exe.
      {{"/usr/lib/go-1.22/bin/gopls", "gopls", "/system.slice/gopls.service"},
       true,
       "included by include[0] (cgroup=/system.slice/*)"},
      {{"/usr/lib/go-1.22/bin/gopls", "gopls", "/user.slice/user-1000.slice/session-2.scope"},
       false,
       "excluded by exclude[1] (exe=/usr/lib/go-*/* cgroup=/user.slice/*)"},
      {{"/usr/bin/restic", "restic", "/user.slice/user-1000.slice/session-2.scope"}, false, "matches no include rule"},
  };
  for (const auto& k : cases) {
    Selection s = Selects(c, k.p);
    EXPECT_EQ(s.selected, k.selected) << k.p.exe << " " << s.reason;
    EXPECT_EQ(s.reason, k.reason) << k.p.exe;
  }
  AgentConfig all = ParseAgentConfig("{\"exclude\": [{\"comm\": \"dlv\"}]}");
  EXPECT_TRUE(Selects(all, {"/usr/bin/restic", "restic", "/"}).selected);
  EXPECT_EQ(Selects(all, {"/usr/bin/restic", "restic", "/"}).reason, "included: no include rules, every Go process");
  EXPECT_FALSE(Selects(all, {"/usr/bin/dlv", "dlv", "/"}).selected);
  // Globs are fnmatch: character classes, and '?' is one character.
  AgentConfig cls = ParseAgentConfig(R"({"include": [{"comm": "worker-[0-9]?"}]})");
  EXPECT_TRUE(Selects(cls, {"/w", "worker-12", "/"}).selected);
  EXPECT_FALSE(Selects(cls, {"/w", "worker-1", "/"}).selected);
  EXPECT_FALSE(Selects(cls, {"/w", "worker-a1", "/"}).selected);
}

}  // namespace
}  // namespace goscope
