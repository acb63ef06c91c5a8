// Many servers behind one port (issue 28): terminate routes that share a listen
// address, chosen by the client's SNI, each with its own certificate, client
// authentication, backend and metrics; a session resumes only on the route that
// issued it; a reload adds and removes routes on the address without closing it.
// Through the real binary, with certificates from `vmsgate pki`.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

namespace fs = std::filesystem;

command_result vmsgate(const std::string& args) {
  return run_command(shell_quote(VMSGATE_BINARY) + " " + args + " 2>&1", 60s);
}

// Two recording servers' certificates and a management client certificate, one CA.
class sni_pki {
 public:
  sni_pki() {
    wait_for_stable_binary();
    run("pki init --dir " + d() + " --name 'Site CA' --bits 2048");
    run("pki issue --dir " + d() + " --role recording --host rec01.example.local");
    run("pki issue --dir " + d() + " --role recording --host rec02.example.local");
    run("pki issue --dir " + d() + " --role recording --host rec03.example.local");
    run("pki issue --dir " + d() + " --role management --host mgmt01.example.local --client");
  }
  std::string d() const { return shell_quote(dir_.path().string()); }
  std::string file(const std::string& name) const { return (dir_.path() / name).string(); }

  // A client that dials `name` and verifies the certificate carries it; `as`: the
  // client certificate to show, if any.
  tls_options dial(const std::string& name, const std::string& as = {}) const {
    tls_options o;
    o.sni = name;
    o.ca_file = file("ca.pem");
    o.verify_host = name;
    if (!as.empty()) {
      o.cert_file = file(as + ".pem");
      o.key_file = file(as + ".key");
    }
    o.timeout = 10s;
    return o;
  }

  struct route {
    std::string name;     // also the host: NAME.example.local
    std::string backend;  // host:port
    bool is_default = false;
    bool client_auth = false;  // management clients only
    int max_connections = 0;   // 0: the global limit only
  };
  // `workers`: a TLS 1.2 session id is cached by one worker's context.
  std::string config(std::uint16_t port, const std::vector<route>& routes, int workers = 2) const {
    std::string y = "admin:\n  listen: \"127.0.0.1:0\"\nworkers: " + std::to_string(workers) + "\n"
                    "roles:\n"
                    "  recording:\n    ca: " + file("ca.pem") + "\n" +
                    "  management:\n    ca: " + file("ca.pem") + "\n    peer_names: [mgmt01.example.local]\n" +
                    "routes:\n";
    for (const auto& r : routes) {
      const std::string host = r.name + ".example.local";
      y += "  - name: " + r.name + "\n    role: recording\n    listen: \"127.0.0.1:" + std::to_string(port) + "\"\n" +
           "    server_names: [" + host + "]\n    cert: " + file(host + ".pem") + "\n    key: " + file(host + ".key") +
           "\n    backends: [\"" + r.backend + "\"]\n";
      if (r.is_default) y += "    default: true\n";
      if (r.client_auth) y += "    client_auth: required\n    peer_roles: [management]\n";
      if (r.max_connections > 0) y += "    max_connections: " + std::to_string(r.max_connections) + "\n";
    }
    return y;
  }

 private:
  void run(const std::string& args) {
    const auto r = vmsgate(args);
    if (r.code() != 0) throw std::runtime_error("vmsgate " + args + ": " + r.out);
  }
  temp_dir dir_{"vmsgate-sni"};
};

// Connects, echoes a few bytes, closes; the gateway's closing line for it.
std::optional<std::string> attempt(gateway& gw, std::uint16_t port, const tls_options& o, bool* echoed = nullptr) {
  const auto from = gw.proc().stderr_line_count();
  {
    tls_client c;
    const bool up = c.connect(port, o);
    const bool ok = up && echo_transfer(c, 4096, 3).ok;
    if (echoed != nullptr) *echoed = ok;
  }
  return gw.wait_for_event("connection_closed", 10s, from);
}

TEST(SniRouting, TwoRecordingServersBehindOnePortEachWithItsOwnCertificateAndBackend) {
  sni_pki pki;
  echo_server rec01_backend, rec02_backend;
  const std::uint16_t port = unused_port();
  ASSERT_NE(port, 0);
  gateway gw(pki.config(port, {{"rec01", rec01_backend.address()}, {"rec02", rec02_backend.address()}}));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  ASSERT_EQ(gw.port("rec01"), port);
  ASSERT_EQ(gw.port("rec02"), port);

  // Each name gets its own certificate (the client verifies it carries the name it
  // dialled) and its own backend.
  for (int i = 0; i < 3; ++i) {
    bool echoed = false;
    const auto one = attempt(gw, port, pki.dial("rec01.example.local"), &echoed);
    ASSERT_TRUE(one && echoed) << gw.log();
    EXPECT_EQ(json_field(*one, "route"), "rec01") << *one;
    const auto two = attempt(gw, port, pki.dial("rec02.example.local"), &echoed);
    ASSERT_TRUE(two && echoed) << gw.log();
    EXPECT_EQ(json_field(*two, "route"), "rec02") << *two;
  }
  EXPECT_EQ(rec01_backend.data_connections(), 3u);
  EXPECT_EQ(rec02_backend.data_connections(), 3u);

  // A name no route serves, and no name at all: refused, as there is no default.
  tls_options unknown = pki.dial("rec03.example.local");
  unknown.ca_file.clear();
  const auto refused = attempt(gw, port, unknown);
  ASSERT_TRUE(refused) << gw.log();
  EXPECT_EQ(json_field(*refused, "handshake_failure"), "name_mismatch") << *refused;
  EXPECT_NE(json_field(*refused, "detail").value_or("").find("no route on this address serves the name "
                                                             "rec03.example.local"),
            std::string::npos)
      << *refused;
  tls_options nameless;
  nameless.timeout = 10s;
  const auto anonymous = attempt(gw, port, nameless);
  ASSERT_TRUE(anonymous) << gw.log();
  EXPECT_EQ(json_field(*anonymous, "handshake_failure"), "name_mismatch") << *anonymous;
  EXPECT_NE(json_field(*anonymous, "detail").value_or("").find("no route on this address is the default"),
            std::string::npos)
      << *anonymous;
  // openssl's own client sees the alert: unrecognized_name.
  const auto s_client = run_command("openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                                        " -servername rec03.example.local </dev/null 2>&1",
                                    30s);
  EXPECT_NE(s_client.out.find("unrecognized name"), std::string::npos) << s_client.out;
  EXPECT_EQ(rec01_backend.data_connections() + rec02_backend.data_connections(), 6u);

  // Metrics keep each route's own labels.
  const std::string text = scrape(gw.admin_port());
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshakes_total", "route=\"rec01\""), 3) << text;
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshakes_total", "route=\"rec02\""), 3) << text;
  EXPECT_EQ(sum_samples(text, "vmsgate_transferred_bytes_total", "route=\"rec02\""), 2 * 3 * 4096) << text;
  EXPECT_EQ(sample(text, "vmsgate_connections_total{route=\"rec02\"}"), 3) << text;
  // A connection no route took is counted on the address's first route.
  EXPECT_EQ(sample(text, "vmsgate_connections_total{route=\"rec01\"}"), 6) << text;
  EXPECT_EQ(sample(text, "vmsgate_tls_handshake_failures_total{route=\"rec01\",reason=\"name_mismatch\"}"), 3)
      << text;
}

TEST(SniRouting, ClientAuthenticationFollowsTheChosenRoute) {
  sni_pki pki;
  echo_server open_backend, guarded_backend;
  const std::uint16_t port = unused_port();
  ASSERT_NE(port, 0);
  // rec01 (the first, whose context every connection starts on) asks for no client
  // certificate; rec02 requires a management one.
  gateway gw(pki.config(port, {{"rec01", open_backend.address()},
                               {"rec02", guarded_backend.address(), false, /*client_auth=*/true}}));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  bool echoed = false;
  const auto open = attempt(gw, port, pki.dial("rec01.example.local"), &echoed);
  ASSERT_TRUE(open && echoed) << gw.log();
  const auto without = attempt(gw, port, pki.dial("rec02.example.local"), &echoed);
  ASSERT_TRUE(without) << gw.log();
  EXPECT_FALSE(echoed);
  EXPECT_EQ(json_field(*without, "handshake_failure"), "no_certificate") << *without;
  EXPECT_EQ(json_field(*without, "route"), "rec02") << *without;
  const auto with = attempt(gw, port, pki.dial("rec02.example.local", "mgmt01.example.local"), &echoed);
  ASSERT_TRUE(with && echoed) << gw.log();
  EXPECT_NE(json_field(*with, "peer_subject").value_or("").find("mgmt01.example.local"), std::string::npos) << *with;
  EXPECT_EQ(guarded_backend.data_connections(), 1u);
  EXPECT_EQ(open_backend.data_connections(), 1u);
}

// The session a route handed out resumes there, and only there: offered under the
// other route's name it gets a full handshake with that route's certificate.
TEST(SniRouting, ASessionResumesOnlyOnTheRouteThatIssuedIt) {
  sni_pki pki;
  echo_server a, b;
  const std::uint16_t port = unused_port();
  ASSERT_NE(port, 0);
  gateway gw(pki.config(port, {{"rec01", a.address()}, {"rec02", b.address()}}, 1));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  const std::string ca = shell_quote(pki.file("ca.pem"));
  for (const std::string version : {"-tls1_3", "-tls1_2", "-tls1_2 -no_ticket"}) {
    SCOPED_TRACE(version);
    const std::string sess = pki.file("rec01" + std::to_string(version.size()) + ".sess");
    const auto s_client = [&](const std::string& name, const std::string& extra) {
      return run_command("(sleep 1; printf ping) | openssl s_client " + version + " -connect 127.0.0.1:" +
                             std::to_string(port) + " -servername " + name + " -CAfile " + ca + " " + extra +
                             " 2>&1",
                         30s)
          .out;
    };
    const std::string first = s_client("rec01.example.local", "-sess_out " + shell_quote(sess));
    ASSERT_NE(first.find("New, "), std::string::npos) << first;
    const std::string again = s_client("rec01.example.local", "-sess_in " + shell_quote(sess));
    EXPECT_NE(again.find("Reused, "), std::string::npos) << again;
    const std::string crossed = s_client("rec02.example.local", "-sess_in " + shell_quote(sess));
    EXPECT_NE(crossed.find("New, "), std::string::npos) << crossed;
    EXPECT_NE(crossed.find("subject=OU = recording, CN = rec02.example.local"), std::string::npos) << crossed;
    EXPECT_NE(crossed.find("Verify return code: 0 (ok)"), std::string::npos) << crossed;
  }
}

TEST(SniRouting, AReloadAddsAndRemovesRoutesOnTheAddressWithoutClosingIt) {
  sni_pki pki;
  echo_server a, b, c;
  const std::uint16_t port = unused_port();
  ASSERT_NE(port, 0);
  gateway gw(pki.config(port, {{"rec01", a.address()}}));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  // A stream to rec01 that stays open through every reload below.
  tls_client stream;
  ASSERT_TRUE(stream.connect(port, pki.dial("rec01.example.local"))) << stream.error();
  ASSERT_TRUE(ping(stream, "frame 1")) << stream.error();

  // rec02 joins the address, as its default; rec03 too.
  ASSERT_TRUE(gw.reload(pki.config(port, {{"rec01", a.address()},
                                           {"rec02", b.address(), /*is_default=*/true},
                                           {"rec03", c.address()}})))
      << gw.log();
  EXPECT_TRUE(gw.events("route_closed").empty()) << gw.log();
  ASSERT_TRUE(ping(stream, "frame 2")) << stream.error();
  bool echoed = false;
  auto line = attempt(gw, port, pki.dial("rec02.example.local"), &echoed);
  ASSERT_TRUE(line && echoed) << gw.log();
  EXPECT_EQ(json_field(*line, "route"), "rec02");
  line = attempt(gw, port, pki.dial("rec03.example.local"), &echoed);
  ASSERT_TRUE(line && echoed) << gw.log();
  EXPECT_EQ(json_field(*line, "route"), "rec03");
  // The default takes a client that sends no name, and one that sends an unknown name.
  tls_options nameless;
  nameless.timeout = 10s;
  line = attempt(gw, port, nameless, &echoed);
  ASSERT_TRUE(line && echoed) << gw.log();
  EXPECT_EQ(json_field(*line, "route"), "rec02") << *line;
  tls_options stranger = pki.dial("cam07.example.local");
  stranger.ca_file.clear();
  line = attempt(gw, port, stranger, &echoed);
  ASSERT_TRUE(line && echoed) << gw.log();
  EXPECT_EQ(json_field(*line, "route"), "rec02") << *line;

  // rec01 leaves the address: its open stream goes on, its name now finds the default.
  ASSERT_TRUE(gw.reload(pki.config(port, {{"rec02", b.address(), true}, {"rec03", c.address()}}))) << gw.log();
  ASSERT_EQ(gw.events("route_closed").size(), 1u) << gw.log();
  ASSERT_TRUE(ping(stream, "frame 3")) << stream.error();
  tls_options former = pki.dial("rec01.example.local");
  former.ca_file.clear();
  line = attempt(gw, port, former, &echoed);
  ASSERT_TRUE(line && echoed) << gw.log();
  EXPECT_EQ(json_field(*line, "route"), "rec02") << *line;
  EXPECT_EQ(a.data_connections(), 1u);

  // The address never closed: no new bind, the one listener kept throughout.
  EXPECT_EQ(gw.events("listening").size(), 3u) << gw.log();  // rec01 at start, rec02 and rec03 joining
  ASSERT_TRUE(stream.shutdown_write());
}

// A route's own max_connections holds on a shared address too, applied when the
// SNI has chosen it: counted as refused on that route, not as a failed handshake,
// and the address's other route is not touched.
TEST(SniRouting, TheChosenRoutesMaxConnectionsRefusesWithRouteLimit) {
  sni_pki pki;
  echo_server a, b;
  const std::uint16_t port = unused_port();
  ASSERT_NE(port, 0);
  gateway gw(pki.config(port, {{"rec01", a.address()}, {"rec02", b.address(), false, false, /*max_connections=*/1}}));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  tls_client held;
  ASSERT_TRUE(held.connect(port, pki.dial("rec02.example.local"))) << held.error();
  ASSERT_TRUE(ping(held, "frame 1")) << held.error();
  const auto from = gw.proc().stderr_line_count();
  {
    tls_client over;
    EXPECT_FALSE(over.connect(port, pki.dial("rec02.example.local")));
  }
  const auto refused = gw.wait_for_event("connection_closed", 10s, from);
  ASSERT_TRUE(refused) << gw.log();
  EXPECT_EQ(json_field(*refused, "route"), "rec02") << *refused;
  EXPECT_EQ(json_field(*refused, "end"), "route_limit") << *refused;
  EXPECT_FALSE(json_field(*refused, "handshake_failure")) << *refused;
  EXPECT_NE(json_field(*refused, "detail").value_or("").find("max_connections"), std::string::npos) << *refused;

  bool echoed = false;
  const auto other = attempt(gw, port, pki.dial("rec01.example.local"), &echoed);
  ASSERT_TRUE(other && echoed) << gw.log();
  const std::string text = scrape(gw.admin_port());
  EXPECT_EQ(sample(text, R"(vmsgate_connections_refused_total{route="rec02"})"), 1.0) << text;
  EXPECT_EQ(sample(text, R"(vmsgate_connections_refused_total{route="rec01"})"), 0.0) << text;
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshake_failures_total", "route=\"rec02\""), 0.0) << text;

  // Its place freed, the route takes a connection again.
  ASSERT_TRUE(held.shutdown_write());
  held.close();
  for (int i = 0; i < 100 && sample(scrape(gw.admin_port()), R"(vmsgate_connections_active{route="rec02"})") != 0.0; ++i)
    std::this_thread::sleep_for(50ms);
  const auto again = attempt(gw, port, pki.dial("rec02.example.local"), &echoed);
  ASSERT_TRUE(again && echoed) << gw.log();
  EXPECT_EQ(json_field(*again, "route"), "rec02") << *again;
}

TEST(SniRouting, CheckRefusesANameOnTwoRoutesAndTwoDefaults) {
  sni_pki pki;
  temp_dir dir("vmsgate-sni-check");
  const std::uint16_t port = 7563;
  const auto judge = [&](std::string yaml) {
    const fs::path path = dir.path() / "vmsgate.yaml";
    std::ofstream(path) << yaml;
    return vmsgate("check --config " + shell_quote(path.string()));
  };
  const auto ok = judge(pki.config(port, {{"rec01", "127.0.0.1:9"}, {"rec02", "127.0.0.1:9", true}}));
  EXPECT_EQ(ok.code(), 0) << ok.out;

  auto yaml = pki.config(port, {{"rec01", "127.0.0.1:9", true}, {"rec02", "127.0.0.1:9", true}});
  const auto two_defaults = judge(yaml);
  EXPECT_EQ(two_defaults.code(), 2) << two_defaults.out;
  EXPECT_NE(two_defaults.out.find("only one route on \"127.0.0.1:7563\" may be the default"), std::string::npos)
      << two_defaults.out;

  yaml = pki.config(port, {{"rec01", "127.0.0.1:9"}, {"rec02", "127.0.0.1:9"}});
  yaml.replace(yaml.find("[rec02.example.local]"), 21, "[rec02.example.local, rec01.example.local]");
  const auto overlap = judge(yaml);
  EXPECT_EQ(overlap.code(), 2) << overlap.out;
  EXPECT_NE(overlap.out.find("\"rec01.example.local\" is also a server name of routes[0] \"rec01\""),
            std::string::npos)
      << overlap.out;
}

}  // namespace
}  // namespace vmsgate::test
