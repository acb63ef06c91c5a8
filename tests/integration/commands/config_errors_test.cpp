// `vmsgate run` with an invalid config: exit status 2, and every error names the
// file, the line of the bad value and the key (CONTRACT.md, "Every config error
// names the file, line and column and the key").

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

struct bad_config {
  const char* name;
  std::string yaml;  // {CA}, {CERT} and {KEY} are replaced by the test PKI's paths
  int line;          // the line the error must point at
  std::string key;   // must appear on the same line; empty for a YAML syntax
                     // error, which the parser reports before any key is known
};

// Names the case in test output (and ctest's list) instead of dumping its bytes.
void PrintTo(const bad_config& c, std::ostream* os) { *os << c.name; }

// A valid config, line by line, so that each case below can state its line number.
const std::string valid_head =
    "admin:\n"                                   // 1
    "  listen: \"127.0.0.1:0\"\n"                // 2
    "workers: 2\n"                               // 3
    "limits:\n"                                  // 4
    "  connect_timeout: 1s\n"                    // 5
    "roles:\n"                                   // 6
    "  recording:\n"                             // 7
    "    ca: {CA}\n"                             // 8
    "routes:\n";                                 // 9
const std::string valid_route =
    "  - name: rec\n"                            // 10
    "    role: recording\n"                      // 11
    "    mode: terminate\n"                      // 12
    "    listen: \"127.0.0.1:0\"\n"              // 13
    "    server_names: [rec01.example.local]\n"  // 14
    "    cert: {CERT}\n"                         // 15
    "    key: {KEY}\n"                           // 16
    "    backends: [\"127.0.0.1:9\"]\n";         // 17

std::string replace_line(std::string text, int line, const std::string& with) {
  std::size_t start = 0;
  for (int i = 1; i < line; ++i) start = text.find('\n', start) + 1;
  const std::size_t end = text.find('\n', start);
  return text.replace(start, end - start, with);
}

std::string remove_line(std::string text, int line) {
  std::size_t start = 0;
  for (int i = 1; i < line; ++i) start = text.find('\n', start) + 1;
  return text.erase(start, text.find('\n', start) - start + 1);
}

std::string fill(std::string yaml) {
  const auto& pki = shared_pki();
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"{CA}", pki.ca.string()},
                                 {"{CERT}", pki.rec01_cert.string()},
                                 {"{KEY}", pki.rec01_key.string()}}) {
    for (std::size_t at; (at = yaml.find(from)) != std::string::npos;) yaml.replace(at, from.size(), to);
  }
  return yaml;
}

std::vector<bad_config> cases() {
  const std::string valid = valid_head + valid_route;
  std::string second_route = valid_route;
  return {
      {"yaml_syntax", replace_line(valid, 5, "  connect_timeout: 1s: 2s"), 5, ""},
      {"unknown_key", replace_line(valid, 5, "  conect_timeout: 1s"), 5, "conect_timeout"},
      {"wrong_type", replace_line(valid, 3, "workers: many"), 3, "workers"},
      {"wrong_type_list", replace_line(valid, 14, "    server_names: {a: b}"), 14, "server_names"},
      // A route without its listen address: the error points at the route's entry.
      {"missing_required_key", remove_line(valid, 13), 10, "listen"},
      {"bad_duration", replace_line(valid, 5, "  connect_timeout: 5 parsecs"), 5, "connect_timeout"},
      {"bad_address", replace_line(valid, 13, "    listen: \"127.0.0.1:99999\""), 13, "listen"},
      {"bad_backend_address", replace_line(valid, 17, "    backends: [\"127.0.0.1\"]"), 17, "backends"},
      // The second route (lines 18-25) repeats the first one's name.
      {"duplicate_route_name", valid + replace_line(valid_route, 4, "    listen: \"127.0.0.1:7564\""), 18, "name"},
      // Two routes on one fixed port; the second listen (line 21) is the duplicate.
      {"duplicate_listen_port",
       replace_line(valid, 13, "    listen: \"127.0.0.1:7563\"") +
           // *:7563 covers 127.0.0.1:7563 without naming it: no SNI sharing, one would hide the other
           replace_line(replace_line(valid_route, 1, "  - name: rec2"), 4, "    listen: \"*:7563\""),
       21, "listen"},
  };
}

class ConfigErrors : public ::testing::TestWithParam<bad_config> {};

TEST_P(ConfigErrors, ExitTwoAndNameFileLineAndKey) {
  const bad_config& c = GetParam();
  temp_dir dir;
  const auto path = dir.write_file("vmsgate.yaml", fill(c.yaml));
  wait_for_stable_binary();
  process p({VMSGATE_BINARY, "run", "--config", path.string()});
  const auto status = p.wait_for_exit(20s);
  ASSERT_TRUE(status) << "vmsgate run did not exit on an invalid config; stderr:\n" << p.stderr_text();
  p.wait_for_output_end(5s);
  const std::string err = p.stderr_text();
  EXPECT_TRUE(status->exited && status->code == 2) << status->str() << "\nconfig:\n" << fill(c.yaml) << "\nstderr:\n" << err;
  // One error line must carry both the location and the key.
  const std::string where = "vmsgate.yaml:" + std::to_string(c.line) + ":";
  bool found = false;
  for (const auto& line : p.stderr_lines())
    found = found || (line.find(where) != std::string::npos && line.find(c.key) != std::string::npos);
  EXPECT_TRUE(found) << "expected a line with '" << where << "' and key '" << c.key << "' in stderr:\n" << err;
}

INSTANTIATE_TEST_SUITE_P(Gateway, ConfigErrors, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<bad_config>& info) { return info.param.name; });

TEST(ConfigErrors, UnreadableFileIsExitTwo) {
  wait_for_stable_binary();
  process p({VMSGATE_BINARY, "run", "--config", "/nonexistent/vmsgate.yaml"});
  const auto status = p.wait_for_exit(20s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited && status->code == 2) << status->str() << "\n" << p.stderr_text();
}

}  // namespace
}  // namespace vmsgate::test
