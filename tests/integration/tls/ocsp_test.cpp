// OCSP stapling (issue 28): a terminate route staples the DER response named by
// ocsp_response to handshakes whose client asks (openssl s_client -status), after
// checking it against the route's certificate. The response is made here the way a
// site would get one: `openssl ocsp` answering as the CA's responder, from an index
// of the CA's certificates. One that does not match is dropped with a warning.

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

command_result sh(const std::string& cmd) { return run_command("set -e; " + cmd + " 2>&1", 60s); }

class mobile_site {
 public:
  mobile_site() {
    wait_for_stable_binary();
    const std::string v = shell_quote(VMSGATE_BINARY);
    const auto r = sh("cd " + d() + "; " + v + " pki init --dir . --bits 2048 >/dev/null; " + v +
                      " pki issue --dir . --role mobile --host mobile.example.local >/dev/null; " + v +
                      " pki issue --dir . --role mobile --host other.example.local >/dev/null");
    if (r.code() != 0) throw std::runtime_error(r.out);
  }
  std::string d() const { return shell_quote(dir_.path().string()); }
  std::string file(const std::string& n) const { return (dir_.path() / n).string(); }

  // The CA's responder answers for `host`'s certificate: status good, valid a week.
  std::string respond_for(const std::string& host) const {
    const std::string out = file(host + ".ocsp");
    const auto r = sh("cd " + d() + "; openssl x509 -in " + host + ".pem -out " + host + ".leaf; " +
                      "printf 'V\\t%s\\t\\t%s\\tunknown\\t%s\\n' "
                      "\"$(date -u -d \"$(openssl x509 -in " + host + ".leaf -noout -enddate | cut -d= -f2)\" +%y%m%d%H%M%SZ)\" "
                      "\"$(openssl x509 -in " + host + ".leaf -noout -serial | cut -d= -f2)\" "
                      "\"$(openssl x509 -in " + host + ".leaf -noout -subject -nameopt compat | sed 's/subject=//')\" "
                      "> index.txt; "
                      "openssl ocsp -issuer ca.pem -cert " + host + ".leaf -reqout req.der -no_nonce >/dev/null; "
                      "openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem -reqin req.der "
                      "-respout " + shell_quote(out) + " -ndays 7 >/dev/null");
    if (r.code() != 0) throw std::runtime_error(r.out);
    return out;
  }

  std::string config(const std::string& backend, const std::string& ocsp) const {
    return "admin:\n  listen: \"127.0.0.1:0\"\nworkers: 1\n"
           "roles:\n  mobile:\n    ca: " + file("ca.pem") + "\n"
           "routes:\n"
           "  - name: mobile\n"
           "    role: mobile\n"
           "    mode: terminate\n"
           "    listen: \"127.0.0.1:0\"\n"
           "    server_names: [mobile.example.local]\n"
           "    cert: " + file("mobile.example.local.pem") + "\n"
           "    key: " + file("mobile.example.local.key") + "\n"
           "    ocsp_response: " + ocsp + "\n"
           "    backends: [\"" + backend + "\"]\n";
  }

  // What `openssl s_client -status` says of the staple.
  std::string s_client_status(std::uint16_t port) const {
    return run_command("openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                           " -servername mobile.example.local -status -CAfile " + shell_quote(file("ca.pem")) +
                           " </dev/null 2>&1",
                       30s)
        .out;
  }

 private:
  temp_dir dir_{"vmsgate-ocsp"};
};

TEST(Ocsp, AGoodResponseIsStapledForClientsThatAsk) {
  mobile_site site;
  echo_server echo;
  gateway gw(site.config(echo.address(), site.respond_for("mobile.example.local")));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::string out = site.s_client_status(gw.port("mobile"));
  EXPECT_NE(out.find("OCSP Response Status: successful"), std::string::npos) << out;
  EXPECT_NE(out.find("Cert Status: good"), std::string::npos) << out;
  EXPECT_NE(out.find("Verify return code: 0 (ok)"), std::string::npos) << out;
  EXPECT_EQ(gw.log().find("ocsp_"), std::string::npos) << gw.log();
}

TEST(Ocsp, AResponseForAnotherCertificateIsDroppedWithAWarning) {
  mobile_site site;
  echo_server echo;
  gateway gw(site.config(echo.address(), site.respond_for("other.example.local")));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  EXPECT_NE(gw.log().find("ocsp_not_for_certificate"), std::string::npos) << gw.log();
  const std::string out = site.s_client_status(gw.port("mobile"));
  EXPECT_NE(out.find("OCSP response: no response sent"), std::string::npos) << out;
  EXPECT_NE(out.find("Verify return code: 0 (ok)"), std::string::npos) << "the route still serves\n" << out;

  // check says the same, as a warning: the route works, unstapled.
  const auto check = run_command(shell_quote(VMSGATE_BINARY) + " check --config " +
                                     shell_quote(gw.config_path().string()) + " 2>&1",
                                 30s);
  EXPECT_EQ(check.code(), 0) << check.out;
  EXPECT_NE(check.out.find("[ocsp_not_for_certificate]"), std::string::npos) << check.out;

  // Not a DER response at all.
  std::ofstream(gw.dir() / "junk.ocsp") << "junk";
  std::ofstream(gw.dir() / "junk.yaml") << site.config(echo.address(), (gw.dir() / "junk.ocsp").string());
  const auto bad = run_command(shell_quote(VMSGATE_BINARY) + " check --config " +
                                   shell_quote((gw.dir() / "junk.yaml").string()) + " 2>&1",
                               30s);
  EXPECT_NE(bad.out.find("[ocsp_unreadable]"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace vmsgate::test
