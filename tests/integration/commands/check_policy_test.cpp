// `vmsgate check` through the binary: one certificate per broken rule from
// tests/pki/make-policy-certs.sh, each giving exactly its finding line, the
// summary line and the contract's exit status.

#include <gtest/gtest.h>

#include <csignal>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

// The script's certificates, in the build tree's shared cache (made once for every
// test process). The configs name them relative to their own directory, so each
// config is written beside them, under a name that carries this process's id, and
// removed when its test is done.
std::string policy_pki() {
  static const std::string script = VMSGATE_SOURCE_DIR "/tests/pki/make-policy-certs.sh";
  static const std::string dir = shared_cache_dir("policy-pki", script, [](const std::filesystem::path& d) {
                                   const auto r = run_command(
                                       "bash " + shell_quote(script) + " " + shell_quote(d.string()) + " >/dev/null",
                                       120s);
                                   if (r.code() != 0)
                                     throw std::runtime_error("make-policy-certs.sh failed: " + r.err);
                                 }).string();
  return dir;
}

// A config file beside the policy certificates, removed on destruction.
class config_file {
 public:
  config_file(const std::string& stem, const std::string& yaml)
      : path_(policy_pki() + "/" + stem + "-" + std::to_string(::getpid()) + ".yaml") {
    std::ofstream(path_) << yaml;
  }
  ~config_file() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  config_file(const config_file&) = delete;
  config_file& operator=(const config_file&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct check_run {
  exit_status status;
  std::vector<std::string> lines;  // stdout
  std::string err;
};

check_run run_check(const std::string& yaml) {
  static int n = 0;
  const config_file file("config-" + std::to_string(++n), yaml);
  process p({VMSGATE_BINARY, "check", "--config", file.path()});
  const auto status = p.wait_for_exit(60s);
  p.wait_for_output_end(10s);
  return {status.value_or(exit_status{}), p.stdout_lines(), p.stderr_text()};
}

std::string config(const std::string& cert, const std::string& key, const std::string& ca = "ca.pem") {
  return "admin:\n"
         "  listen: \"127.0.0.1:0\"\n"
         "roles:\n"
         "  recording:\n"
         "    ca: " + ca + "\n"
         "    expiry_warning: 30d\n"
         "routes:\n"
         "  - name: recording-live\n"
         "    role: recording\n"
         "    mode: terminate\n"
         "    listen: \"127.0.0.1:0\"\n"
         "    server_names: [rec01.example.local]\n"
         "    cert: " + cert + "\n"
         "    key: " + key + "\n"
         "    backends: [\"127.0.0.1:9\"]\n";
}

struct broken_case {
  const char* cert;
  const char* key;
  const char* ca;
  const char* rule;
  bool error;  // false: a warning, and check still exits 0
};

class CheckFinds : public ::testing::TestWithParam<broken_case> {};

TEST_P(CheckFinds, ExactlyItsFinding) {
  const broken_case c = GetParam();
  const auto r = run_check(config(c.cert, c.key, c.ca));
  ASSERT_TRUE(r.status.exited) << r.status.str();
  EXPECT_EQ(r.status.code, c.error ? 1 : 0) << r.err;
  ASSERT_EQ(r.lines.size(), 2u) << ::testing::PrintToString(r.lines) << r.err;
  const std::string route = std::string(c.ca) == "ca.pem" ? "recording-live" : "role recording";
  EXPECT_EQ(r.lines[0].rfind(std::string(c.error ? "error " : "warning ") + route + ": ", 0), 0u) << r.lines[0];
  EXPECT_TRUE(r.lines[0].ends_with(std::string(" [") + c.rule + "]")) << r.lines[0];
  EXPECT_EQ(r.lines[1], c.error ? "1 errors, 0 warnings" : "0 errors, 1 warnings");
}

INSTANTIATE_TEST_SUITE_P(
    PolicyCerts, CheckFinds,
    ::testing::Values(broken_case{"untrusted.pem", "leaf.key", "ca.pem", "chain_untrusted", true},
                      broken_case{"wrong-name.pem", "leaf.key", "ca.pem", "name_not_covered", true},
                      broken_case{"expired.pem", "leaf.key", "ca.pem", "expired", true},
                      broken_case{"not-yet-valid.pem", "leaf.key", "ca.pem", "not_yet_valid", true},
                      broken_case{"soon.pem", "leaf.key", "ca.pem", "expires_soon", false},
                      broken_case{"ecdsa.pem", "ecdsa.key", "ca.pem", "key_not_rsa", true},
                      broken_case{"small.pem", "small.key", "ca.pem", "key_too_small", true},
                      broken_case{"client-only.pem", "leaf.key", "ca.pem", "missing_server_auth", true},
                      broken_case{"no-eku.pem", "leaf.key", "ca.pem", "eku_absent", false},
                      broken_case{"good.pem", "missing.key", "ca.pem", "key_unreadable", true},
                      broken_case{"good.pem", "garbage.key", "ca.pem", "key_unreadable", true},
                      broken_case{"good.pem", "loose.key", "ca.pem", "key_permissions", false},
                      broken_case{"good.pem", "other.key", "ca.pem", "key_mismatch", true},
                      broken_case{"good.pem", "leaf.key", "missing-ca.pem", "ca_unreadable", true},
                      broken_case{"soon-ca-leaf.pem", "leaf.key", "soon-ca.pem", "ca_expiring", false}));

// `run` applies the same policy: an error refuses to start (exit 1) and is logged;
// a warning does not stop it.
TEST_P(CheckFinds, RunRefusesOnErrorsOnly) {
  const broken_case c = GetParam();
  const config_file file(std::string("run-") + c.rule + "-" + c.key, config(c.cert, c.key, c.ca));
  process p({VMSGATE_BINARY, "run", "--config", file.path()});
  if (!c.error) {
    // A warning is logged and the gateway serves anyway.
    ASSERT_TRUE(p.wait_for_line("\"event\":\"ready\"", 30s)) << p.stderr_text();
    EXPECT_NE(p.stderr_text().find(c.rule), std::string::npos) << p.stderr_text();
    p.send_signal(SIGTERM);
    const auto status = p.wait_for_exit(30s);
    ASSERT_TRUE(status && status->exited) << p.stderr_text();
    EXPECT_EQ(status->code, 0);
    return;
  }
  const auto status = p.wait_for_exit(30s);
  ASSERT_TRUE(status && status->exited) << "run did not refuse to start";
  EXPECT_EQ(status->code, 1);
  p.wait_for_output_end(10s);
  EXPECT_NE(p.stderr_text().find(c.rule), std::string::npos) << p.stderr_text();
}

TEST(Check, GoodConfigExitsZero) {
  const auto r = run_check(config("good.pem", "leaf.key"));
  EXPECT_TRUE(r.status.exited && r.status.code == 0) << r.status.str() << r.err;
  EXPECT_EQ(r.lines, std::vector<std::string>{"0 errors, 0 warnings"});
}

TEST(Check, ListsEveryFindingOfEveryRoute) {
  std::string yaml = config("wrong-name.pem", "other.key");
  yaml += "  - name: second\n"
          "    role: recording\n"
          "    listen: \"127.0.0.1:0\"\n"
          "    server_names: [rec01.example.local]\n"
          "    cert: expired.pem\n"
          "    key: loose.key\n"
          "    backends: [\"127.0.0.1:9\"]\n";
  const auto r = run_check(yaml);
  EXPECT_EQ(r.status.code, 1);
  ASSERT_EQ(r.lines.size(), 5u) << ::testing::PrintToString(r.lines);
  EXPECT_NE(r.lines[0].find("does not cover rec01.example.local: its SAN lists rec02.example.local"),
            std::string::npos);
  EXPECT_TRUE(r.lines[1].ends_with("[key_mismatch]"));
  EXPECT_TRUE(r.lines[2].starts_with("error second: ") && r.lines[2].ends_with("[expired]"));
  EXPECT_TRUE(r.lines[3].starts_with("warning second: ") && r.lines[3].ends_with("[key_permissions]"));
  EXPECT_EQ(r.lines[4], "3 errors, 1 warnings");
}

TEST(Check, InvalidConfigExitsTwoWithTheErrorOnStderr) {
  const auto r = run_check("routes:\n  - name: x\n");
  EXPECT_EQ(r.status.code, 2);
  EXPECT_TRUE(r.lines.empty()) << ::testing::PrintToString(r.lines);
  EXPECT_NE(r.err.find("config-"), std::string::npos) << r.err;
}

TEST(Check, UnreadableConfigExitsTwo) {
  process p({VMSGATE_BINARY, "check", "--config", policy_pki() + "/does-not-exist.yaml"});
  const auto status = p.wait_for_exit(30s);
  ASSERT_TRUE(status && status->exited);
  EXPECT_EQ(status->code, 2);
}

}  // namespace
}  // namespace vmsgate::test
