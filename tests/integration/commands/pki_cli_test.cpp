// `vmsgate pki init` / `pki issue` / `pki renew` through the binary: what they
// write passes `openssl verify`, `vmsgate check`, and curl's verification when
// vmsgate serves it.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "proxy/pki/files.hpp"
#include "proxy/tls/certificate.hpp"
#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

command_result vmsgate(const std::string& args) { return run_command(shell_quote(VMSGATE_BINARY) + " " + args, 120s); }

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

// One site PKI per test program: a CA and a server certificate for rec01.
class PkiCli : public ::testing::Test {
 protected:
  // A failure here is recorded and fails every test in SetUp: an assertion in
  // SetUpTestSuite would only mark the tests skipped, which ctest counts as passing.
  static void SetUpTestSuite() {
    wait_for_stable_binary();
    dir_ = new temp_dir("vmsgate-pki-cli");
    const auto init = vmsgate("pki init --dir " + d() + " --name 'site CA' --bits 2048");
    if (init.code() != 0) setup_error_ = "pki init: " + init.out + init.err;
    const auto issue =
        vmsgate("pki issue --dir " + d() + " --role recording --host rec01.example.local --ip 127.0.0.1");
    if (issue.code() != 0) setup_error_ += "pki issue: " + issue.out + issue.err;
  }
  void SetUp() override { ASSERT_EQ(setup_error_, "") << "the suite's PKI could not be made"; }
  static void TearDownTestSuite() { delete dir_; }
  static std::string d() { return shell_quote(dir_->path().string()); }
  static std::string file(const std::string& name) { return (dir_->path() / name).string(); }
  static std::string openssl_verify(const std::string& purpose, const std::string& cert,
                                    const std::string& options = "") {
    return "openssl verify -CAfile " + shell_quote(file("ca.pem")) + " -purpose " + purpose + " " + options + " " +
           shell_quote(file(cert));
  }

  // A terminate route serving rec01 from the issued files (the suite's, or those in `pki`).
  static std::string site_yaml(const std::string& backend, const std::string& pki = "") {
    const auto f = [&pki](const char* n) { return pki.empty() ? file(n) : pki + "/" + n; };
    return "admin:\n  listen: \"127.0.0.1:0\"\n"
           "roles:\n  recording:\n    ca: " + f("ca.pem") + "\n"
           "routes:\n"
           "  - name: rec\n"
           "    role: recording\n"
           "    mode: terminate\n"
           "    listen: \"127.0.0.1:0\"\n"
           "    server_names: [rec01.example.local, 127.0.0.1]\n"
           "    cert: " + f("rec01.example.local.pem") + "\n"
           "    key: " + f("rec01.example.local.key") + "\n"
           "    backends: [\"" + backend + "\"]\n";
  }

  static temp_dir* dir_;
  static std::string setup_error_;
};
temp_dir* PkiCli::dir_ = nullptr;
std::string PkiCli::setup_error_;

TEST_F(PkiCli, KeysAreOwnerOnly) {
  EXPECT_EQ(mode_of(file("ca.key")), 0600u);
  EXPECT_EQ(mode_of(file("rec01.example.local.key")), 0600u);
}

TEST_F(PkiCli, ServerCertificateVerifiesAsSslServer) {
  const auto r =
      run_command(openssl_verify("sslserver", "rec01.example.local.pem", "-verify_hostname rec01.example.local"));
  EXPECT_EQ(r.code(), 0) << r.out << r.err;
}

TEST_F(PkiCli, ClientCertificateVerifiesAsSslClient) {
  const auto issue = vmsgate("pki issue --dir " + d() + " --role management --host mgmt01.example.local --client");
  ASSERT_EQ(issue.code(), 0) << issue.err;
  const auto r = run_command(openssl_verify("sslclient", "mgmt01.example.local.pem"));
  EXPECT_EQ(r.code(), 0) << r.out << r.err;
}

TEST_F(PkiCli, ExistingFilesAreNotOverwrittenWithoutForce) {
  const auto again = vmsgate("pki issue --dir " + d() + " --role recording --host rec01.example.local");
  EXPECT_NE(again.code(), 0);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  const auto ca_again = vmsgate("pki init --dir " + d());
  EXPECT_NE(ca_again.code(), 0);
  const auto forced = vmsgate("pki issue --dir " + d() + " --role recording --host forced.example.local --force");
  EXPECT_EQ(forced.code(), 0) << forced.err;
}

TEST_F(PkiCli, BadArgumentsFailWithAMessage) {
  EXPECT_NE(vmsgate("pki issue --dir " + d() + " --role recording").code(), 0);
  EXPECT_NE(vmsgate("pki issue --dir " + d() + " --host x.example.local").code(), 0);
  EXPECT_NE(vmsgate("pki issue --dir " + d() + " --role r --host x.example.local --bits many").code(), 0);
  EXPECT_NE(vmsgate("pki frobnicate").code(), 0);
}

TEST_F(PkiCli, IssuedCertificatePassesCheck) {
  const temp_dir conf("vmsgate-pki-check");
  const auto path = conf.write_file("vmsgate.yaml", site_yaml("127.0.0.1:9"));
  const auto r = vmsgate("check --config " + shell_quote(path.string()));
  EXPECT_EQ(r.code(), 0) << r.out << r.err;
  EXPECT_EQ(r.out, "0 errors, 0 warnings\n");
}

TEST_F(PkiCli, CurlTrustsTheIssuedCertificateServedByVmsgate) {
  http_responder http;
  gateway gw(site_yaml(http.address()));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::string port = std::to_string(gw.port("rec"));
  const auto r = run_command("curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert " +
                             shell_quote(file("ca.pem")) + " --resolve rec01.example.local:" + port +
                             ":127.0.0.1 https://rec01.example.local:" + port + "/");
  EXPECT_EQ(r.code(), 0) << r.err << gw.log();
  EXPECT_EQ(r.out, "200");
}

tls::cert_info leaf_of(const std::string& path) {
  std::string why;
  const auto chain = tls::load_certificates(path, why);
  EXPECT_FALSE(chain.empty()) << path << ": " << why;
  return chain.empty() ? tls::cert_info{} : tls::inspect(chain.front().get());
}

TEST_F(PkiCli, RenewReissuesWhatExpiresSoonAndCheckStillPasses) {
  // A directory of its own, so that the suite's certificates stay as issued.
  const temp_dir pki("vmsgate-pki-renew");
  const std::string d = shell_quote(pki.path().string());
  const std::string rec01 = (pki.path() / "rec01.example.local.pem").string();
  const std::string rec02 = (pki.path() / "rec02.example.local.pem").string();
  ASSERT_EQ(vmsgate("pki init --dir " + d + " --bits 2048").code(), 0);
  const auto issue = vmsgate("pki issue --dir " + d + " --role recording --host rec01.example.local --ip 127.0.0.1 "
                             "--days 2 && " + shell_quote(VMSGATE_BINARY) + " pki issue --dir " + d +
                             " --role recording --host rec02.example.local");
  ASSERT_EQ(issue.code(), 0) << issue.err;
  const tls::cert_info before = leaf_of(rec01);
  const std::string far = pki::read_file(rec02);
  // notAfter holds whole seconds: the same two days counted from a later second
  // end later.
  std::this_thread::sleep_for(1100ms);

  const auto r = vmsgate("pki renew --dir " + d + " --within 30d");
  EXPECT_EQ(r.code(), 0) << r.out << r.err;
  EXPECT_NE(r.out.find(rec01 + ": renewed, notAfter " + tls::format_time(before.not_after) + " -> "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(rec02 + ": still valid until "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 renewed, 1 still valid, 0 skipped, 0 failed"), std::string::npos) << r.out;
  const tls::cert_info after = leaf_of(rec01);
  EXPECT_GT(after.not_after, before.not_after);
  EXPECT_NE(after.serial, before.serial);
  EXPECT_EQ(after.uris, before.uris);
  EXPECT_EQ(pki::read_file(rec02), far);
  const auto verify = run_command("openssl verify -CAfile " + shell_quote((pki.path() / "ca.pem").string()) +
                                  " -purpose sslserver -verify_ip 127.0.0.1 " + shell_quote(rec01));
  EXPECT_EQ(verify.code(), 0) << verify.out << verify.err;

  const temp_dir conf("vmsgate-pki-renew-check");
  const auto path = conf.write_file("vmsgate.yaml", site_yaml("127.0.0.1:9", pki.path().string()));
  const auto check = vmsgate("check --config " + shell_quote(path.string()));
  EXPECT_EQ(check.code(), 0) << check.out << check.err;
  EXPECT_NE(check.out.find("0 errors"), std::string::npos) << check.out;
}

TEST_F(PkiCli, RenewRefusesABadWindow) {
  for (const char* within : {"30x", "30", "soon"}) {
    const auto r = vmsgate("pki renew --dir " + d() + " --within " + within);
    EXPECT_NE(r.code(), 0) << within;
    EXPECT_NE(r.err.find("is not a duration"), std::string::npos) << within << ": " << r.err;
  }
  const auto missing = vmsgate("pki renew --dir " + shell_quote(file("nowhere")));
  EXPECT_EQ(missing.code(), 1);
  EXPECT_NE(missing.err.find("vmsgate pki renew: "), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace vmsgate::test
