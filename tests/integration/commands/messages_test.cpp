// Messages a newcomer meets (issue 26): each names the address, file or key and,
// where there is one, the fix; none carries a Boost source location.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/mtls.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

namespace fs = std::filesystem;

command_result vmsgate(const std::string& args) {
  return run_command(shell_quote(VMSGATE_BINARY) + " " + args + " 2>&1", 30s);
}

std::string route_config(const std::string& key, const std::string& backend) {
  const auto& pki = shared_mtls_pki();
  return "admin:\n  listen: \"127.0.0.1:0\"\nworkers: 1\n"
         "roles:\n  management:\n    ca: " + pki.ca.string() + "\n" +
         "routes:\n  - name: link\n    role: management\n    listen: \"127.0.0.1:0\"\n"
         "    server_names: [mgmt01.example.local]\n"
         "    cert: " + pki.mgmt01.cert.string() + "\n    key: " + key + "\n"
         "    backends: [\"" + backend + "\"]\n";
}

TEST(Messages, AnEncryptedKeySaysHowToDecryptIt) {
  temp_dir dir("vmsgate-msg");
  const fs::path key = dir.path() / "mgmt01.key";
  const auto made = run_command("openssl pkey -in " + shell_quote(shared_mtls_pki().mgmt01.key.string()) +
                                    " -aes256 -passout pass:secret -out " + shell_quote(key.string()) + " 2>&1",
                                20s);
  ASSERT_EQ(made.code(), 0) << made.out;
  const fs::path config = dir.path() / "vmsgate.yaml";
  std::ofstream(config) << route_config(key.string(), "127.0.0.1:9");
  const auto r = vmsgate("check --config " + shell_quote(config.string()));
  EXPECT_EQ(r.code(), 1) << r.out;
  EXPECT_NE(r.out.find("is encrypted with a passphrase"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("openssl pkey -in " + key.string() + " -out " + key.string() + ".plain"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("bad decrypt"), std::string::npos) << r.out;
}

TEST(Messages, ABackendNameThatDoesNotResolveFailsCheckAsItWouldFailRun) {
  temp_dir dir("vmsgate-msg");
  const fs::path config = dir.path() / "vmsgate.yaml";
  std::ofstream(config) << route_config(shared_mtls_pki().mgmt01.key.string(), "mgmt99.invalid:9443");
  const auto r = vmsgate("check --config " + shell_quote(config.string()));
  EXPECT_EQ(r.code(), 1) << r.out;
  EXPECT_NE(r.out.find("cannot resolve mgmt99.invalid"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[backend_unresolvable]"), std::string::npos) << r.out;
}

TEST(Messages, ABackendThatDoesNotAnswerAtStartIsWarnedOfOnce) {
  // A port that was free a moment ago: nothing answers there.
  const std::string silent = "127.0.0.1:" + std::to_string(unused_port());
  gateway gw(route_config(shared_mtls_pki().mgmt01.key.string(), silent));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const auto warned = gw.wait_for_event("backend_unreachable", 10s);
  ASSERT_TRUE(warned) << gw.log();
  EXPECT_EQ(json_field(*warned, "route"), "link");
  EXPECT_NE(json_field(*warned, "detail").value_or("").find(silent + ": Connection refused"), std::string::npos)
      << *warned;
  std::this_thread::sleep_for(5s);  // two more probe rounds
  EXPECT_EQ(gw.events("backend_unreachable").size(), 1u) << gw.log();
}

TEST(Messages, AListenAddressInUseIsNamedWithoutBoostInternals) {
  echo_server taken;
  const auto r = vmsgate("simulate recording --listen " + taken.address());
  EXPECT_EQ(r.code(), 1) << r.out;
  EXPECT_NE(r.out.find("cannot listen on " + taken.address() + ": Address already in use"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("/usr/include"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("usage"), std::string::npos) << "not a usage error:\n" << r.out;
}

TEST(Messages, YamlMistakesPointAtTheirOwnLine) {
  temp_dir dir("vmsgate-msg");
  const fs::path config = dir.path() / "vmsgate.yaml";
  std::ofstream(config) << "roles:\n  management:\n\tca: ca.pem\nroutes: []\n";
  auto r = vmsgate("check --config " + shell_quote(config.string()));
  EXPECT_EQ(r.code(), 2) << r.out;
  EXPECT_NE(r.out.find("vmsgate.yaml:3:1: a tab in the indentation: YAML indents with spaces only"), std::string::npos)
      << r.out;
  std::ofstream(config) << "admin:\n  listen \"127.0.0.1:0\"\nworkers: 1\nroutes: []\n";
  r = vmsgate("check --config " + shell_quote(config.string()));
  EXPECT_EQ(r.code(), 2) << r.out;
  EXPECT_NE(r.out.find("vmsgate.yaml:2:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace vmsgate::test
