// Certificates that renew themselves (issue 29): the gateway against pebble, the
// ACME test server, on loopback. pebble-challtestsrv is pebble's DNS and answers
// 127.0.0.1 for every name, so the CA's validations reach the gateway's own
// listeners. Each test starts its own pebble (whose CA is new on every start).

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "proxy/pki/builder.hpp"
#include "tests/integration/lifecycle/reload_common.hpp"
#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

namespace fs = std::filesystem;
using live::paused_stream;

constexpr const char* name = "cam.acme.test";

std::string text_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// The HTTPS certificate of pebble's own API, made by the test: the gateway trusts
// it through acme.ca, as a site trusts its internal ACME CA's server.
struct api_pki {
  fs::path ca, cert, key;
};

api_pki make_api_pki(const fs::path& dir) {
  const auto now = pki::clock::now();
  const auto ca_key = pki::generate_ec();
  pki::cert_spec ca;
  ca.common_name = "pebble API test CA";
  ca.ca = true;
  ca.not_before = now - std::chrono::hours(1);
  ca.not_after = now + std::chrono::hours(24);
  const auto ca_cert = pki::make_certificate(ca, ca_key.get(), nullptr, ca_key.get());
  const auto key = pki::generate_ec();
  pki::cert_spec leaf;
  leaf.common_name = "localhost";
  leaf.dns_names = {"localhost"};
  leaf.ip_addresses = {"127.0.0.1"};
  leaf.not_before = ca.not_before;
  leaf.not_after = ca.not_after;
  const auto cert = pki::make_certificate(leaf, key.get(), ca_cert.get(), ca_key.get());
  api_pki out{dir / "api-ca.pem", dir / "api.pem", dir / "api.key"};
  write_text(out.ca, pki::to_pem(ca_cert.get()));
  write_text(out.cert, pki::to_pem(cert.get()));
  write_text(out.key, pki::to_pem(key.get()));
  return out;
}

// pebble and its DNS, on ports of their own. The validations go to `tls_port`
// (tls-alpn-01) and `http_port` (http-01) of 127.0.0.1.
class pebble_ca {
 public:
  pebble_ca(const fs::path& dir, std::uint16_t tls_port, std::uint16_t http_port, int nonce_reject_percent = 0)
      : dir_(dir), api_(make_api_pki(dir)) {
    api_port_ = unused_port();
    management_port_ = unused_port();
    dns_port_ = unused_port();
    const fs::path config = dir / "pebble.json";
    write_text(config, R"({"pebble": {"listenAddress": "127.0.0.1:)" + std::to_string(api_port_) +
                           R"(", "managementListenAddress": "127.0.0.1:)" + std::to_string(management_port_) +
                           R"(", "certificate": ")" + api_.cert.string() + R"(", "privateKey": ")" +
                           api_.key.string() + R"(", "httpPort": )" + std::to_string(http_port) +
                           R"(, "tlsPort": )" + std::to_string(tls_port) +
                           R"(, "ocspResponderURL": "", "externalAccountBindingRequired": false}})");
    dns_ = std::make_unique<process>(std::vector<std::string>{
        "/usr/bin/pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01",
        "127.0.0.1:" + std::to_string(dns_port_), "-http01", "", "-https01", "", "-tlsalpn01", "", "-management",
        "127.0.0.1:" + std::to_string(unused_port())});
    start(nonce_reject_percent);
  }

  // Starts pebble (again): a new CA, no accounts.
  void start(int nonce_reject_percent = 0) {
    server_ = std::make_unique<process>(
        std::vector<std::string>{"/usr/bin/pebble", "-config", (dir_ / "pebble.json").string(), "-dnsserver",
                                 "127.0.0.1:" + std::to_string(dns_port_)},
        std::vector<std::string>{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0",
                                 "PEBBLE_WFE_NONCEREJECT=" + std::to_string(nonce_reject_percent)});
    // pebble logs to stdout.
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!(ready_ = server_->stdout_text().find("ACME directory available") != std::string::npos) &&
           server_->running() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(50ms);
  }
  void stop() { server_.reset(); }
  bool ready() const { return ready_; }

  std::string directory() const { return "https://127.0.0.1:" + std::to_string(api_port_) + "/dir"; }
  const fs::path& api_ca() const { return api_.ca; }
  std::string log() const { return server_ ? server_->stdout_text() + server_->stderr_text() : std::string{}; }

  // The root pebble issues under now, written to `path`; false when it cannot be read.
  bool write_root(const fs::path& path) const {
    const auto r = run_command("curl -fsS --max-time 10 --cacert " + shell_quote(api_.ca.string()) +
                                   " https://127.0.0.1:" + std::to_string(management_port_) + "/roots/0 -o " +
                                   shell_quote(path.string()),
                               15s);
    return r.code() == 0 && fs::file_size(path) > 0;
  }

 private:
  fs::path dir_;
  api_pki api_;
  std::uint16_t api_port_ = 0, management_port_ = 0, dns_port_ = 0;
  std::unique_ptr<process> dns_;
  std::unique_ptr<process> server_;
  bool ready_ = false;
};

// A config whose one route takes its certificate from pebble.
struct acme_site {
  fs::path dir;  // cert, key, account key and the role's CA (pebble's root) live here
  std::uint16_t route_port = unused_port();
  std::uint16_t http_port = unused_port();
  std::string backend;
  std::string challenge = "tls-alpn-01";
  std::string renew_before = "30d";

  fs::path cert() const { return dir / "live" / "cam.pem"; }
  fs::path key() const { return dir / "live" / "cam.key"; }
  fs::path root() const { return dir / "pebble-root.pem"; }

  std::string yaml(const pebble_ca& ca) const {
    std::string acme = "      directory: " + ca.directory() + "\n      contact: mailto:ops@acme.test\n" +
                       "      challenge: " + challenge + "\n      ca: " + ca.api_ca().string() +
                       "\n      renew_before: " + renew_before + "\n";
    if (challenge == "http-01") acme += "      http_listen: 127.0.0.1:" + std::to_string(http_port) + "\n";
    return "admin:\n  listen: 127.0.0.1:0\nworkers: 1\nroles:\n  mobile:\n    ca: " + root().string() +
           "\nroutes:\n  - name: cam\n    role: mobile\n    listen: 127.0.0.1:" + std::to_string(route_port) +
           "\n    server_names: [" + name + "]\n    cert: " + cert().string() + "\n    key: " + key().string() +
           "\n    backends: [\"" + backend + "\"]\n    acme:\n" + acme;
  }
};

tls_options verified(const fs::path& root) {
  tls_options o;
  o.sni = name;
  o.ca_file = root.string();
  o.verify_host = name;
  o.timeout = 10s;
  return o;
}

std::string served_serial(std::uint16_t port) { return live::served_serial(port, name); }

double orders(gateway& gw, const std::string& result) {
  const std::string text = scrape(gw.admin_port());
  if (text.find("vmsgate_acme_orders_total") == std::string::npos) return -1;
  return sum_samples(text, "vmsgate_acme_orders_total", "result=\"" + result + "\"");
}

class Acme : public ::testing::Test {
 protected:
  void SetUp() override {
    site_.dir = dir_.path();
    fs::create_directories(site_.dir / "live");
    site_.backend = echo_.address();
  }

  // Starts a gateway on the site and waits for it to serve; the route's first
  // certificate arrives when pebble has validated it.
  std::unique_ptr<gateway> start_gateway(const pebble_ca& ca) {
    auto gw = std::make_unique<gateway>(site_.yaml(ca));
    EXPECT_TRUE(gw->wait_ready()) << gw->log();
    return gw;
  }

  temp_dir dir_{"vmsgate-acme"};
  echo_server echo_;
  acme_site site_;
};

// No certificate at start: the route refuses clients until pebble has validated it
// over tls-alpn-01 on the route's own port, then serves the certificate pebble issued.
TEST_F(Acme, ObtainsTheFirstCertificateAtStartOverTlsAlpnAndThenServes) {
  pebble_ca ca(site_.dir, site_.route_port, site_.http_port);
  ASSERT_TRUE(ca.ready()) << ca.log();
  ASSERT_TRUE(ca.write_root(site_.root()));
  ASSERT_FALSE(fs::exists(site_.cert()));
  // `check` knows it is coming and does not fail for it.
  const fs::path config = site_.dir / "check.yaml";
  write_text(config, site_.yaml(ca));
  const auto check =
      run_command(shell_quote(VMSGATE_BINARY) + " check --config " + shell_quote(config.string()) + " 2>&1", 30s);
  EXPECT_EQ(check.code(), 0) << check.out;
  EXPECT_NE(check.out.find("[acme_pending]"), std::string::npos) << check.out;
  gateway gw(site_.yaml(ca));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  ASSERT_TRUE(gw.wait_for_event("acme_certificate_installed", 60s)) << gw.log() << ca.log();
  ASSERT_TRUE(gw.wait_for_event("reload_succeeded", 20s)) << gw.log();

  tls_client c;
  ASSERT_TRUE(c.connect(site_.route_port, verified(site_.root()))) << c.error() << gw.log();
  EXPECT_EQ(c.verify_result(), X509_V_OK);
  ASSERT_TRUE(c.send_all("through the route"));
  std::string echoed(17, '\0');
  std::size_t got = 0;
  while (got < echoed.size()) {
    const std::size_t n = c.recv(std::span(reinterpret_cast<std::uint8_t*>(echoed.data()) + got, echoed.size() - got));
    if (n == 0) break;
    got += n;
  }
  EXPECT_EQ(echoed, "through the route");

  struct stat st {};
  ASSERT_EQ(::stat(site_.key().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((site_.dir / "live" / "acme-account.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(orders(gw, "success"), 1.0);
  EXPECT_EQ(orders(gw, "failure"), 0.0);
  // The validation itself never reached the backend: only the client above did.
  EXPECT_EQ(echo_.data_connections(), 1u);
  EXPECT_FALSE(gw.events("acme_order_finished").empty());
}

// While its certificate has not come, the route refuses every client (it holds
// only a stand-in), /readyz says why, and nothing reaches the backend.
TEST_F(Acme, APendingRouteRefusesClientsAndIsNotReady) {
  pebble_ca ca(site_.dir, closed_port(), site_.http_port);  // its validations cannot succeed
  ASSERT_TRUE(ca.ready()) << ca.log();
  ASSERT_TRUE(ca.write_root(site_.root()));
  auto gw = start_gateway(ca);
  tls_client c;
  tls_options o = verified(site_.root());
  o.ca_file.clear();  // not even a client that verifies nothing gets through
  EXPECT_FALSE(c.connect(site_.route_port, o));
  ASSERT_TRUE(gw->proc().wait_for_line(
      [](const std::string& l) {
        return is_event(l, "connection_closed") && l.find("no certificate yet") != std::string::npos;
      },
      10s))
      << gw->log();
  std::string body;
  EXPECT_EQ(http_get(gw->admin_port(), "/readyz", &body), 503);
  EXPECT_NE(body.find("route cam: waiting for its certificate from ACME"), std::string::npos) << body;
  EXPECT_EQ(sum_samples(scrape(gw->admin_port()), "vmsgate_route_ready", "route=\"cam\""), 0.0);
  EXPECT_EQ(echo_.data_connections(), 0u);
  ASSERT_TRUE(gw->wait_for_event("acme_order_failed", 60s)) << gw->log();
  EXPECT_FALSE(fs::exists(site_.cert()));
}

// http-01: pebble fetches the key authorization from the plain listener.
TEST_F(Acme, ObtainsTheCertificateOverHttp01OnThePlainListener) {
  site_.challenge = "http-01";
  pebble_ca ca(site_.dir, site_.route_port, site_.http_port);
  ASSERT_TRUE(ca.ready()) << ca.log();
  ASSERT_TRUE(ca.write_root(site_.root()));
  auto gw = start_gateway(ca);
  ASSERT_TRUE(gw->wait_for_event("acme_http_listening", 5s)) << gw->log();
  ASSERT_TRUE(gw->wait_for_event("acme_certificate_installed", 60s)) << gw->log() << ca.log();
  ASSERT_TRUE(gw->wait_for_event("reload_succeeded", 20s)) << gw->log();
  tls_client c;
  EXPECT_TRUE(c.connect(site_.route_port, verified(site_.root()))) << c.error();
  // The plain listener answers challenges only: no admin paths there.
  EXPECT_EQ(http_get(site_.http_port, "/healthz"), 404);
  EXPECT_EQ(http_get(site_.http_port, "/.well-known/acme-challenge/unknown"), 404);
  const auto challenge = gw->events("acme_challenge_ready");
  ASSERT_FALSE(challenge.empty());
  EXPECT_EQ(json_field(challenge.front(), "challenge"), "http-01");
}

// A renewal (renew_before longer than the lifetime, set by a reload) swaps the
// certificate while a stream through the route goes on, byte for byte.
TEST_F(Acme, ARenewalSwapsTheCertificateUnderAnOpenStream) {
  pebble_ca ca(site_.dir, site_.route_port, site_.http_port);
  ASSERT_TRUE(ca.ready()) << ca.log();
  ASSERT_TRUE(ca.write_root(site_.root()));
  {
    auto first = start_gateway(ca);
    ASSERT_TRUE(first->wait_for_event("acme_certificate_installed", 60s)) << first->log() << ca.log();
  }
  const std::string before = live::file_serial(site_.cert());
  ASSERT_FALSE(before.empty());

  auto gw = start_gateway(ca);
  EXPECT_EQ(served_serial(site_.route_port), before) << gw->log();
  EXPECT_TRUE(gw->events("acme_order_started").empty()) << "a fresh certificate is not due";
  tls_client c;
  ASSERT_TRUE(c.connect(site_.route_port, verified(site_.root()))) << c.error();
  paused_stream stream(c, 8 << 20, 4 << 20);
  ASSERT_TRUE(stream.wait_paused(30s));

  site_.renew_before = "36500d";
  const std::size_t mark = gw->proc().stderr_line_count();
  ASSERT_TRUE(gw->reload(site_.yaml(ca))) << gw->log();
  ASSERT_TRUE(gw->wait_for_event("acme_certificate_installed", 60s, mark)) << gw->log() << ca.log();
  ASSERT_TRUE(gw->wait_for_event("acme_renewed", 20s, mark)) << gw->log();
  const std::string after = live::file_serial(site_.cert());
  EXPECT_NE(after, before);
  EXPECT_EQ(served_serial(site_.route_port), after);

  std::string why;
  EXPECT_TRUE(stream.finish(why)) << why;
  EXPECT_EQ(orders(*gw, "success"), 1.0);
  // Always due, but not ordered again and again: the next is an hour away.
  const std::string text = scrape(gw->admin_port());
  const double next = sum_samples(text, "vmsgate_acme_next_renewal_timestamp_seconds", "route=\"cam\"");
  EXPECT_GT(next, static_cast<double>(std::time(nullptr)) + 3000) << text;
  EXPECT_FALSE(gw->events("acme_renew_before_too_long").empty());
}

// A name added to the route: the certificate in use no longer covers it, which
// is no reason to refuse the reload; a certificate for both names is ordered at
// once, and the old one is served until it comes.
TEST_F(Acme, ANameAddedByAReloadIsOrderedAtOnce) {
  pebble_ca ca(site_.dir, site_.route_port, site_.http_port);
  ASSERT_TRUE(ca.ready()) << ca.log();
  ASSERT_TRUE(ca.write_root(site_.root()));
  auto gw = start_gateway(ca);
  ASSERT_TRUE(gw->wait_for_event("acme_renewed", 60s)) << gw->log() << ca.log();
  const std::string before = live::file_serial(site_.cert());
  std::string yaml = site_.yaml(ca);
  yaml.replace(yaml.find(std::string("[") + name + "]"), std::string(name).size() + 2,
               std::string("[") + name + ", cam2.acme.test]");
  const std::size_t mark = gw->proc().stderr_line_count();
  ASSERT_TRUE(gw->reload(yaml)) << gw->log();
  // Still served while the new one is ordered.
  EXPECT_EQ(served_serial(site_.route_port), before);
  ASSERT_TRUE(gw->wait_for_event("acme_certificate_outdated", 10s, mark)) << gw->log();
  ASSERT_TRUE(gw->wait_for_event("acme_renewed", 60s, mark)) << gw->log() << ca.log();
  const auto names = run_command("openssl x509 -noout -ext subjectAltName -in " + shell_quote(site_.cert().string()));
  EXPECT_NE(names.out.find("cam2.acme.test"), std::string::npos) << names.out;
  EXPECT_NE(names.out.find(name), std::string::npos) << names.out;
  tls_client c;
  tls_options o = verified(site_.root());
  o.sni = o.verify_host = "cam2.acme.test";
  EXPECT_TRUE(c.connect(site_.route_port, o)) << c.error();
}

// pebble refuses a share of nonces as badNonce (as a CA may at any time): each is
// retried with the fresh nonce it sent, and the order still succeeds.
TEST_F(Acme, BadNoncesAreRetriedWithTheNonceTheRefusalCarries) {
  pebble_ca ca(site_.dir, site_.route_port, site_.http_port, 50);
  ASSERT_TRUE(ca.ready()) << ca.log();
  ASSERT_TRUE(ca.write_root(site_.root()));
  auto gw = start_gateway(ca);
  ASSERT_TRUE(gw->wait_for_event("acme_certificate_installed", 90s)) << gw->log() << ca.log();
  const auto finished = gw->events("acme_order_finished");
  ASSERT_FALSE(finished.empty());
  const auto retries = json_field(finished.back(), "bad_nonce_retries");
  ASSERT_TRUE(retries.has_value()) << finished.back();
  EXPECT_GT(std::stoi(*retries), 0) << finished.back();
  EXPECT_EQ(json_field(finished.back(), "result"), "success");
}

// The CA down, then a validation it cannot complete: each failure is logged and
// counted, the certificate in use stays, and the next attempt after the CA is back
// succeeds.
TEST_F(Acme, FailuresKeepTheCertificateInUseAndTheNextAttemptSucceeds) {
  auto ca = std::make_unique<pebble_ca>(site_.dir, site_.route_port, site_.http_port);
  ASSERT_TRUE(ca->ready()) << ca->log();
  ASSERT_TRUE(ca->write_root(site_.root()));
  {
    auto first = start_gateway(*ca);
    ASSERT_TRUE(first->wait_for_event("acme_certificate_installed", 60s)) << first->log() << ca->log();
  }
  const std::string before = live::file_serial(site_.cert());
  const fs::path old_root = site_.dir / "old-root.pem";
  fs::copy_file(site_.root(), old_root);

  // 1. The CA is down.
  ca->stop();
  site_.renew_before = "36500d";
  auto gw = start_gateway(*ca);
  auto failed = gw->wait_for_event("acme_order_failed", 30s);
  ASSERT_TRUE(failed) << gw->log();
  EXPECT_NE(failed->find("cannot reach the ACME server"), std::string::npos) << *failed;
  EXPECT_EQ(served_serial(site_.route_port), before);
  tls_client c;
  EXPECT_TRUE(c.connect(site_.route_port, verified(old_root))) << c.error();
  EXPECT_GE(orders(*gw, "failure"), 1.0);

  // 2. The CA is back, but its validations go to a port where nobody answers.
  const std::size_t mark = gw->proc().stderr_line_count();
  fs::create_directories(site_.dir / "wrong");
  ca = std::make_unique<pebble_ca>(site_.dir / "wrong", closed_port(), site_.http_port);
  ASSERT_TRUE(ca->ready()) << ca->log();
  site_.renew_before = "36500d";
  // The gateway's acme.directory still names the first CA's port: point it here.
  ASSERT_TRUE(gw->reload(site_.yaml(*ca))) << gw->log();
  failed = gw->proc().wait_for_line(
      [](const std::string& l) { return is_event(l, "acme_order_failed") && l.find("tls-alpn-01") != std::string::npos; },
      90s, mark);
  ASSERT_TRUE(failed) << gw->log() << ca->log();
  EXPECT_EQ(served_serial(site_.route_port), before);
  EXPECT_GE(orders(*gw, "failure"), 2.0);
  EXPECT_EQ(orders(*gw, "success"), 0.0);

  // 3. A CA that can validate: the next attempt installs a certificate from it.
  fs::create_directories(site_.dir / "good");
  ca = std::make_unique<pebble_ca>(site_.dir / "good", site_.route_port, site_.http_port);
  ASSERT_TRUE(ca->ready()) << ca->log();
  // The role trusts both roots while it moves from one CA to the other: the
  // certificate in use must still pass the reload's check.
  const fs::path new_root = site_.dir / "new-root.pem";
  ASSERT_TRUE(ca->write_root(new_root));
  write_text(site_.root(), text_of(old_root) + text_of(new_root));
  const std::size_t mark2 = gw->proc().stderr_line_count();
  ASSERT_TRUE(gw->reload(site_.yaml(*ca))) << gw->log();
  ASSERT_TRUE(gw->wait_for_event("acme_certificate_installed", 120s, mark2)) << gw->log() << ca->log();
  ASSERT_TRUE(gw->wait_for_event("acme_renewed", 20s, mark2)) << gw->log();
  EXPECT_NE(live::file_serial(site_.cert()), before);
  EXPECT_EQ(orders(*gw, "success"), 1.0);
}

}  // namespace
}  // namespace vmsgate::test
