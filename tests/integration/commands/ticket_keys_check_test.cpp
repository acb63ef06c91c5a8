// The ticket-key file is guarded like a private key (issue 32, finding 3): `check`
// (and so `run` and every reload) warns when others may read it and, with `user:`
// set, refuses it when the service account cannot; so too the CA files, which every
// reload reads again (finding 4).

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

using namespace std::chrono_literals;

// The tests' usual one-route config, with the ticket-key file and `extra` on top.
std::string config(const std::string& keys, const std::string& extra) {
  gateway_config c;
  c.backends = {"127.0.0.1:9"};
  return extra + "tls:\n  ticket_keys: " + keys + "\n" + c.yaml();
}

TEST(TicketKeysCheck, AFileOthersMayReadIsWarnedOfAndOneTheServiceAccountCannotReadIsRefused) {
  temp_dir dir("vmsgate-tkcheck");
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // the service account may enter it
  const std::string keys = (dir.path() / "tickets.key").string();
  const auto made = run_command("openssl rand 80 | base64 -w0 > " + shell_quote(keys), 30s);
  ASSERT_EQ(made.code(), 0) << made.err;
  const std::string cfg = (dir.path() / "vmsgate.yaml").string();
  auto check = [&](const std::string& extra) {
    std::ofstream(cfg) << config(keys, extra);
    return run_command(std::string(VMSGATE_BINARY) + " check --config " + shell_quote(cfg) + " 2>&1", 60s);
  };
  ASSERT_EQ(::chmod(keys.c_str(), 0644), 0);
  auto r = check("");
  EXPECT_NE(r.out.find("[ticket_keys_permissions]"), std::string::npos) << r.out;
  EXPECT_EQ(r.code(), 0) << r.out;  // a warning
  ASSERT_EQ(::chmod(keys.c_str(), 0600), 0);
  r = check("");
  EXPECT_EQ(r.out.find("[ticket_keys_permissions]"), std::string::npos) << r.out;
  // Owned by root and 0600: the service account could not read it on a reload.
  if (::geteuid() == 0) {
    r = check("user: nobody\n");
    EXPECT_NE(r.out.find("[ticket_keys_unreadable_by_user]"), std::string::npos) << r.out;
    EXPECT_NE(r.code(), 0) << r.out;
    // So is a CA file only root can read.
    const std::string ca = (dir.path() / "ca.pem").string();
    std::filesystem::copy_file(shared_pki().ca, ca);
    ASSERT_EQ(::chmod(ca.c_str(), 0600), 0);
    ASSERT_EQ(::chmod(keys.c_str(), 0644), 0);
    std::string yaml = config(keys, "user: nobody\n");
    yaml.replace(yaml.find(shared_pki().ca.string()), shared_pki().ca.string().size(), ca);
    std::ofstream(cfg) << yaml;
    r = run_command(std::string(VMSGATE_BINARY) + " check --config " + shell_quote(cfg) + " 2>&1", 60s);
    EXPECT_NE(r.out.find("[ca_unreadable_by_user]"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("[ticket_keys_unreadable_by_user]"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace vmsgate::test
