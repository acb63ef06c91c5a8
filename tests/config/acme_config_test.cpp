// The `acme:` block of a terminate route: what it reads, its defaults, and every
// mistake reported with its key and line.

#include <gtest/gtest.h>

#include <string>

#include "proxy/config/config.hpp"

namespace vmsgate::config {
namespace {

using namespace std::chrono_literals;

const std::string test_file = "/etc/vmsgate/test.yaml";

std::string route_with(const std::string& acme, const std::string& extra = {}) {
  return R"(roles:
  mobile:
    ca: pki/ca.pem
routes:
  - name: mobile
    role: mobile
    listen: "*:8082"
    server_names: [mobile.example.local]
    cert: live/mobile.pem
    key: live/mobile.key
    backends: ["127.0.0.1:18082"]
)" + extra + "    acme:\n" + acme;
}

std::string all_errors(const load_result& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

bool has_error(const load_result& r, const std::string& key, const std::string& words) {
  for (const auto& e : r.errors)
    if (e.key == key && e.message.find(words) != std::string::npos) return true;
  return false;
}

TEST(AcmeConfig, ReadsEveryKeyAndResolvesPathsAgainstTheConfigFile) {
  const auto r = load_string(route_with(R"(      directory: https://acme.example.local/directory
      contact: [mailto:ops@example.local, mailto:oncall@example.local]
      challenge: http-01
      http_listen: "0.0.0.0:80"
      ca: pki/acme-server-ca.pem
      account_key: acme/account.key
      renew_before: 30d
)"),
                             test_file);
  ASSERT_TRUE(r.cfg) << all_errors(r);
  const auto& acme = r.cfg->routes[0].acme;
  ASSERT_TRUE(acme.has_value());
  EXPECT_EQ(acme->directory, "https://acme.example.local/directory");
  EXPECT_EQ(acme->contact, (std::vector<std::string>{"mailto:ops@example.local", "mailto:oncall@example.local"}));
  EXPECT_EQ(acme->challenge, acme_challenge::http_01);
  ASSERT_TRUE(acme->http_listen.has_value());
  EXPECT_EQ(acme->http_listen->port, 80);
  EXPECT_EQ(acme->ca, "/etc/vmsgate/pki/acme-server-ca.pem");
  EXPECT_EQ(acme->account_key, "/etc/vmsgate/acme/account.key");
  EXPECT_EQ(acme->renew_before, std::chrono::milliseconds(30 * 24h));
  EXPECT_FALSE(acme->renew_before_fraction.has_value());
}

TEST(AcmeConfig, DefaultsToTlsAlpnAnAccountKeyBesideTheCertificateAndAThirdOfTheLifetime) {
  const auto r = load_string(route_with("      directory: https://acme.example.local/dir\n      contact: mailto:a@b\n"),
                             test_file);
  ASSERT_TRUE(r.cfg) << all_errors(r);
  const auto& acme = *r.cfg->routes[0].acme;
  EXPECT_EQ(acme.challenge, acme_challenge::tls_alpn_01);
  EXPECT_EQ(acme.account_key, "/etc/vmsgate/live/acme-account.key");
  EXPECT_EQ(acme.contact, std::vector<std::string>{"mailto:a@b"});
  EXPECT_FALSE(acme.renew_before.has_value());
  EXPECT_FALSE(acme.renew_before_fraction.has_value());
  EXPECT_TRUE(acme.ca.empty());
}

TEST(AcmeConfig, RenewBeforeTakesAPercentageOfTheLifetime) {
  const auto r =
      load_string(route_with("      directory: https://a.example/dir\n      renew_before: 33%\n"), test_file);
  ASSERT_TRUE(r.cfg) << all_errors(r);
  ASSERT_TRUE(r.cfg->routes[0].acme->renew_before_fraction.has_value());
  EXPECT_DOUBLE_EQ(*r.cfg->routes[0].acme->renew_before_fraction, 0.33);
  for (const char* bad : {"0%", "100%", "150%", "x%", "-5%", "0s", "soon"}) {
    const auto b = load_string(
        route_with(std::string("      directory: https://a.example/dir\n      renew_before: ") + bad + "\n"), test_file);
    EXPECT_FALSE(b.cfg) << bad;
    EXPECT_TRUE(has_error(b, "routes[0].acme.renew_before", "")) << bad << "\n" << all_errors(b);
  }
}

TEST(AcmeConfig, RefusesWhatCannotWork) {
  // Not HTTPS.
  auto r = load_string(route_with("      directory: http://acme.example.local/dir\n"), test_file);
  EXPECT_TRUE(has_error(r, "routes[0].acme.directory", "https://")) << all_errors(r);
  // No directory.
  r = load_string(route_with("      contact: mailto:a@b\n"), test_file);
  EXPECT_TRUE(has_error(r, "routes[0].acme.directory", "missing")) << all_errors(r);
  // http-01 without its listener, and a listener without http-01.
  r = load_string(route_with("      directory: https://a.example/dir\n      challenge: http-01\n"), test_file);
  EXPECT_TRUE(has_error(r, "routes[0].acme.http_listen", "http-01")) << all_errors(r);
  r = load_string(route_with("      directory: https://a.example/dir\n      http_listen: \"*:80\"\n"), test_file);
  EXPECT_TRUE(has_error(r, "routes[0].acme.http_listen", "tls-alpn-01")) << all_errors(r);
  // An unknown challenge and an unknown key.
  r = load_string(route_with("      directory: https://a.example/dir\n      challenge: dns-01\n"), test_file);
  EXPECT_TRUE(has_error(r, "routes[0].acme.challenge", "")) << all_errors(r);
  r = load_string(route_with("      directory: https://a.example/dir\n      email: a@b\n"), test_file);
  EXPECT_FALSE(r.cfg);
  // The http-01 listener on the route's own port.
  r = load_string(route_with("      directory: https://a.example/dir\n      challenge: http-01\n      http_listen: "
                             "\"0.0.0.0:8082\"\n"),
                  test_file);
  EXPECT_TRUE(has_error(r, "routes[0].acme.http_listen", "overlaps")) << all_errors(r);
}

TEST(AcmeConfig, AnIpAddressCannotBeOrderedAndOriginateRoutesHaveNoAcme) {
  std::string yaml = route_with("      directory: https://a.example/dir\n");
  yaml.replace(yaml.find("[mobile.example.local]"), 22, "[mobile.example.local, 10.0.0.5]");
  auto r = load_string(yaml, test_file);
  EXPECT_TRUE(has_error(r, "routes[0].server_names", "IP address")) << all_errors(r);

  r = load_string(R"(roles:
  management:
    ca: pki/ca.pem
routes:
  - name: up
    role: management
    mode: originate
    listen: "127.0.0.1:9000"
    peer_roles: [management]
    backends: ["mgmt.example.local:443"]
    acme:
      directory: https://a.example/dir
)",
                  test_file);
  EXPECT_TRUE(has_error(r, "routes[0].acme", "terminate")) << all_errors(r);
}

TEST(AcmeConfig, EachAcmeRouteWritesFilesOfItsOwn) {
  auto r = load_string(route_with("      directory: https://a.example/dir\n      account_key: live/mobile.key\n"),
                       test_file);
  EXPECT_TRUE(has_error(r, "routes[0].acme.account_key", "file of its own")) << all_errors(r);
  std::string two = route_with("      directory: https://a.example/dir\n");
  two += R"(  - name: mobile2
    role: mobile
    listen: "*:8083"
    server_names: [mobile2.example.local]
    cert: live/mobile.pem
    key: live/mobile2.key
    backends: ["127.0.0.1:18083"]
)";
  r = load_string(two, test_file);
  EXPECT_TRUE(has_error(r, "routes[0].acme", "also uses")) << all_errors(r);
}

}  // namespace
}  // namespace vmsgate::config
