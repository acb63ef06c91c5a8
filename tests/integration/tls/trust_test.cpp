// Trust that can be bound and revoked (issue 28), through the real binary and a
// site PKI made by `vmsgate pki`, one CA for every role as the README sets it up:
// role URIs keep a phone's certificate off the management link, and a CRL made by
// `pki revoke` shuts out a stolen recording server after a reload while the other
// recording servers' streams go on.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/mtls.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

namespace fs = std::filesystem;

command_result vmsgate(const std::string& args) {
  return run_command(shell_quote(VMSGATE_BINARY) + " " + args + " 2>&1", 60s);
}

// A site PKI: the management server's certificate, two recording servers' client
// certificates, a phone's (role mobile), and a "legacy" recording certificate from
// the same CA with no role URI, as issued before role URIs existed.
class site_pki {
 public:
  site_pki() {
    wait_for_stable_binary();
    run("pki init --dir " + d() + " --name 'Site CA' --bits 2048");
    run("pki issue --dir " + d() + " --role management --host mgmt01.example.local --ip 127.0.0.1");
    run("pki issue --dir " + d() + " --role recording --host rec01.example.local --client");
    run("pki issue --dir " + d() + " --role recording --host rec02.example.local --client");
    run("pki issue --dir " + d() + " --role mobile --host phone.example.local --client");
    make_client_cert(file("ca.pem"), file("ca.key"), "legacy.example.local", -3600, 86400,
                     {dir_.path() / "legacy.pem", dir_.path() / "legacy.key"});
    run("pki crl --dir " + d());
  }
  std::string d() const { return shell_quote(dir_.path().string()); }
  std::string file(const std::string& name) const { return (dir_.path() / name).string(); }
  const fs::path& dir() const { return dir_.path(); }

  tls_options client(const std::string& who) const {
    tls_options o;
    o.sni = "mgmt01.example.local";
    o.ca_file = file("ca.pem");
    o.verify_host = "mgmt01.example.local";
    o.cert_file = file(who + ".pem");
    o.key_file = file(who + ".key");
    o.timeout = 10s;
    return o;
  }

  // The management link: mutual TLS, recording servers only; one CA for every role,
  // with peer_names that overlap (any *.example.local).
  std::string config(const std::string& backend, bool require_uri, bool crl) const {
    const std::string extra = std::string(require_uri ? "    require_role_uri: true\n" : "") +
                              (crl ? "    crl: [" + file("crl.pem") + "]\n" : "");
    return "admin:\n  listen: \"127.0.0.1:0\"\nworkers: 1\n"
           "roles:\n"
           "  management:\n    ca: " + file("ca.pem") + "\n" +
           "  recording:\n    ca: " + file("ca.pem") + "\n    peer_names: [\"*.example.local\"]\n" + extra +
           "  mobile:\n    ca: " + file("ca.pem") + "\n    peer_names: [\"*.example.local\"]\n"
           "routes:\n"
           "  - name: link\n"
           "    role: management\n"
           "    mode: terminate\n"
           "    listen: \"127.0.0.1:0\"\n"
           "    server_names: [mgmt01.example.local]\n"
           "    cert: " + file("mgmt01.example.local.pem") + "\n"
           "    key: " + file("mgmt01.example.local.key") + "\n"
           "    client_auth: required\n"
           "    peer_roles: [recording]\n"
           "    backends: [\"" + backend + "\"]\n";
  }

 private:
  void run(const std::string& args) {
    const auto r = vmsgate(args);
    if (r.code() != 0) throw std::runtime_error("vmsgate " + args + ": " + r.out);
  }
  temp_dir dir_{"vmsgate-trust"};
};

// Connects with `who`'s certificate and echoes a few bytes; the gateway's closing
// line for that connection.
std::optional<std::string> attempt(gateway& gw, const site_pki& pki, const std::string& who) {
  const auto from = gw.proc().stderr_line_count();
  {
    tls_client c;
    if (c.connect(gw.port("link"), pki.client(who))) echo_transfer(c, 1024, 5);
  }
  return gw.wait_for_event("connection_closed", 10s, from);
}

TEST(RoleUri, APhoneCertificateIsRefusedOnTheRecordingOnlyLink) {
  site_pki pki;
  echo_server echo;
  gateway gw(pki.config(echo.address(), false, false));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  const auto rec = attempt(gw, pki, "rec01.example.local");
  ASSERT_TRUE(rec) << gw.log();
  EXPECT_EQ(json_field(*rec, "end"), "client_closed") << *rec;

  // The case of the issue: before role URIs, this phone certificate (same CA, a
  // name inside *.example.local, clientAuth) was accepted as a recording server.
  const auto phone = attempt(gw, pki, "phone.example.local");
  ASSERT_TRUE(phone) << gw.log();
  EXPECT_EQ(json_field(*phone, "handshake_failure"), "peer_not_allowed") << *phone;
  const std::string detail = json_field(*phone, "detail").value_or("");
  EXPECT_NE(detail.find("bound to role mobile"), std::string::npos) << detail;
  EXPECT_NE(detail.find("not to role recording"), std::string::npos) << detail;
  EXPECT_NE(detail.find("[role_uri_mismatch]"), std::string::npos) << detail;
  EXPECT_EQ(json_field(*phone, "bytes_to_backend"), "0");

  // A certificate without any role URI passes while the role does not require one...
  const auto legacy = attempt(gw, pki, "legacy");
  ASSERT_TRUE(legacy) << gw.log();
  EXPECT_EQ(json_field(*legacy, "end"), "client_closed") << *legacy;
  // ...and check says the roles cannot be told apart.
  const auto warned = vmsgate("check --config " + shell_quote(gw.config_path().string()));
  EXPECT_NE(warned.out.find("[roles_indistinguishable]"), std::string::npos) << warned.out;

  // require_role_uri: true shuts it out, and check is satisfied.
  ASSERT_TRUE(gw.reload(pki.config(echo.address(), true, false))) << gw.log();
  const auto refused = attempt(gw, pki, "legacy");
  ASSERT_TRUE(refused) << gw.log();
  EXPECT_EQ(json_field(*refused, "handshake_failure"), "peer_not_allowed") << *refused;
  EXPECT_NE(json_field(*refused, "detail").value_or("").find("[role_uri_missing]"), std::string::npos) << *refused;
  const auto still = attempt(gw, pki, "rec01.example.local");
  ASSERT_TRUE(still);
  EXPECT_EQ(json_field(*still, "end"), "client_closed") << *still;
  const auto quiet = vmsgate("check --config " + shell_quote(gw.config_path().string()));
  EXPECT_EQ(quiet.out.find("[roles_indistinguishable]"), std::string::npos) << quiet.out;
}

TEST(Revocation, ARevokedRecordingServerIsRefusedAfterReloadWhileAnotherStreamGoesOn) {
  site_pki pki;
  echo_server echo;
  gateway gw(pki.config(echo.address(), true, true));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::uint16_t port = gw.port("link");

  // rec02's long-lived link, open across the revocation and the reload.
  tls_client rec02;
  ASSERT_TRUE(rec02.connect(port, pki.client("rec02.example.local"))) << rec02.error();
  ASSERT_TRUE(ping(rec02, "heartbeat 1")) << rec02.error();

  // rec01 connects, and keeps a session to resume later (TLS 1.3 ticket).
  const std::string sess = (pki.dir() / "rec01.sess").string();
  const std::string s_client = "(sleep 1; printf ping) | openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                               " -servername mgmt01.example.local -CAfile " + shell_quote(pki.file("ca.pem")) +
                               " -cert " + shell_quote(pki.file("rec01.example.local.pem")) + " -key " +
                               shell_quote(pki.file("rec01.example.local.key"));
  const auto first = run_command(s_client + " -sess_out " + shell_quote(sess) + " 2>&1", 30s);
  ASSERT_NE(first.out.find("New, "), std::string::npos) << first.out;

  // The server is stolen: revoke it, and reload.
  const auto revoked = vmsgate("pki revoke --dir " + pki.d() + " --cert " +
                               shell_quote(pki.file("rec01.example.local.pem")));
  ASSERT_EQ(revoked.code(), 0) << revoked.out;
  ASSERT_TRUE(gw.reload()) << gw.log();

  const auto refused = attempt(gw, pki, "rec01.example.local");
  ASSERT_TRUE(refused) << gw.log();
  EXPECT_EQ(json_field(*refused, "handshake_failure"), "revoked") << *refused;
  EXPECT_NE(json_field(*refused, "detail").value_or("").find("revoked by role recording's CRL"), std::string::npos)
      << *refused;
  // Its session from before does not let it back in: the reload's new CRL ended
  // every session, so it must show its certificate, which is refused.
  const auto from = gw.proc().stderr_line_count();
  const auto resumed = run_command(s_client + " -sess_in " + shell_quote(sess) + " 2>&1", 30s);
  EXPECT_EQ(resumed.out.find("Reused, "), std::string::npos) << resumed.out;
  const auto closed = gw.wait_for_event("connection_closed", 10s, from);
  ASSERT_TRUE(closed) << gw.log();
  EXPECT_EQ(json_field(*closed, "handshake_failure"), "revoked") << *closed;

  // rec02's stream never noticed.
  EXPECT_TRUE(ping(rec02, "heartbeat 2")) << rec02.error();
  const std::string metrics = scrape(gw.admin_port());
  EXPECT_GE(sample(metrics, R"(vmsgate_tls_handshake_failures_total{route="link",reason="revoked"})").value_or(0), 2.0)
      << metrics;
  EXPECT_EQ(sum_samples(metrics, "vmsgate_crl_next_update_timestamp_seconds", R"(role="recording")") > 1.7e9, true)
      << metrics;
}

// check holds CRLs to the role's CA, warns of one past its nextUpdate, and says when
// a route's own certificate is revoked.
TEST(Revocation, CheckJudgesTheCrlsAndTheRoutesOwnCertificate) {
  site_pki pki;
  site_pki other;  // another CA
  echo_server echo;
  temp_dir dir("vmsgate-crlcheck");
  auto check = [&](const std::string& yaml) {
    const auto cfg = dir.write_file("check.yaml", yaml);
    return vmsgate("check --config " + shell_quote(cfg.string()));
  };
  std::string yaml = pki.config(echo.address(), true, true);
  EXPECT_EQ(check(yaml).code(), 0) << check(yaml).out;

  std::string foreign = yaml;
  foreign.replace(foreign.find(pki.file("crl.pem")), pki.file("crl.pem").size(), other.file("crl.pem"));
  const auto wrong = check(foreign);
  EXPECT_EQ(wrong.code(), 1) << wrong.out;
  EXPECT_NE(wrong.out.find("[crl_not_signed_by_ca]"), std::string::npos) << wrong.out;
  // run refuses it too.
  gateway refused(foreign);
  const auto st = refused.proc().wait_for_exit(20s);
  ASSERT_TRUE(st) << refused.log();
  EXPECT_EQ(st->str(), "exit 1") << refused.log();

  // The route's own certificate revoked: management's CRL would list it.
  std::string own = yaml;
  own.replace(own.find("  management:\n    ca: " + pki.file("ca.pem") + "\n"),
              std::string("  management:\n    ca: " + pki.file("ca.pem") + "\n").size(),
              "  management:\n    ca: " + pki.file("ca.pem") + "\n    crl: [" + pki.file("crl.pem") + "]\n");
  ASSERT_EQ(vmsgate("pki revoke --dir " + pki.d() + " --cert " + shell_quote(pki.file("mgmt01.example.local.pem")))
                .code(),
            0);
  const auto revoked = check(own);
  EXPECT_EQ(revoked.code(), 1) << revoked.out;
  EXPECT_NE(revoked.out.find("[own_certificate_revoked]"), std::string::npos) << revoked.out;

  // A broken CRL file is an error naming it.
  std::ofstream(dir.path() / "junk.pem") << "not a CRL\n";
  std::string junk = yaml;
  junk.replace(junk.find(pki.file("crl.pem")), pki.file("crl.pem").size(), (dir.path() / "junk.pem").string());
  const auto bad = check(junk);
  EXPECT_NE(bad.out.find("[crl_unreadable]"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace vmsgate::test
