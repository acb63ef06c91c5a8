// Originate routes (issue 3) against the real binary: a plain legacy client ->
// originate route "uplink" (presents rec01's client certificate) -> terminate route
// "mgmt" (client_auth: required) in a second gateway -> plain echo server. Also the
// upstream's name check, session resumption on both sides, and failover that
// remembers a dead backend.

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <string>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/mtls.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

std::uint64_t big_bytes() {
  const char* s = std::getenv("VMSGATE_TEST_SANITIZED");
  return s != nullptr && std::string(s) == "1" ? 32 * MiB : 256 * MiB;
}

std::string local(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// The management side: echo server behind a terminate route with client_auth required.
struct mgmt_side {
  echo_server echo;
  gateway gw;
  explicit mgmt_side(const cert_pair& cert = shared_mtls_pki().mgmt01,
                     const std::string& name = "mgmt01.example.local")
      : gw(mtls_terminate_yaml(shared_mtls_pki(), cert, name, "required", {echo.address()})) {}
  std::string address() { return local(gw.port("mgmt")); }
};

mtls_gateway_options one_worker() {
  mtls_gateway_options o;
  o.workers = 1;  // sessions and back-off are per worker: one makes them observable
  return o;
}

TEST(Originate, PlainClientThroughBothRoutes256MiBByteExact) {
  mgmt_side m;
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  gateway up(mtls_originate_yaml(shared_mtls_pki(), &shared_mtls_pki().rec01,
                                 {{m.address(), "mgmt01.example.local"}}));
  ASSERT_TRUE(up.wait_ready()) << up.log();
  const std::uint64_t bytes = big_bytes();
  const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), bytes, 7, 60s);
  ASSERT_TRUE(r.ok) << r.error << "\nuplink:\n" << up.log() << "\nmgmt:\n" << m.gw.log();
  EXPECT_EQ(r.received, bytes);
  EXPECT_EQ(m.echo.bytes_echoed(), bytes);

  const auto u = up.wait_for_event("connection_closed", 10s);
  ASSERT_TRUE(u) << up.log();
  EXPECT_EQ(json_field(*u, "route"), "uplink") << *u;
  EXPECT_EQ(json_field(*u, "backend"), m.address()) << *u;
  EXPECT_EQ(json_field(*u, "bytes_to_backend"), std::to_string(bytes)) << *u;
  EXPECT_EQ(json_field(*u, "bytes_to_client"), std::to_string(bytes)) << *u;
  EXPECT_EQ(json_field(*u, "end"), "client_closed") << *u;
  EXPECT_EQ(json_field(*u, "tls_version"), "TLSv1.3") << *u;
  EXPECT_NE(json_field(*u, "cipher").value_or(""), "") << *u;
  EXPECT_NE(json_field(*u, "peer_subject").value_or("").find("CN=mgmt01.example.local"), std::string::npos) << *u;

  const auto g = wait_closed(m.gw, 0);
  ASSERT_TRUE(g) << m.gw.log();
  EXPECT_EQ(json_field(*g, "bytes_to_backend"), std::to_string(bytes)) << *g;
  EXPECT_EQ(json_field(*g, "bytes_to_client"), std::to_string(bytes)) << *g;
  EXPECT_NE(json_field(*g, "peer_subject").value_or("").find("CN=rec01.rec.example.local"), std::string::npos) << *g;
  EXPECT_TRUE(up.events("backend_failed").empty()) << up.log();
}

TEST(Originate, UpstreamNameMismatchIsRefused) {
  mgmt_side m;  // presents mgmt01's certificate
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  gateway up(mtls_originate_yaml(shared_mtls_pki(), &shared_mtls_pki().rec01,
                                 {{m.address(), "mgmt02.example.local"}}));
  ASSERT_TRUE(up.wait_ready()) << up.log();
  const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), 1024, 1, 10s);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.received, 0u);
  const auto failed = up.wait_for_event("backend_failed", 10s);
  ASSERT_TRUE(failed) << up.log();
  EXPECT_EQ(json_field(*failed, "reason"), "tls") << *failed;
  EXPECT_EQ(json_field(*failed, "handshake_failure"), "name_mismatch") << *failed;
  EXPECT_EQ(json_field(*failed, "backend"), m.address()) << *failed;
  const auto closed = up.wait_for_event("connection_closed", 10s);
  ASSERT_TRUE(closed) << up.log();
  EXPECT_EQ(json_field(*closed, "end"), "handshake_failed") << *closed;
  EXPECT_EQ(json_field(*closed, "handshake_failure"), "name_mismatch") << *closed;
  EXPECT_EQ(m.echo.bytes_echoed(), 0u);
}

TEST(Originate, UpstreamFromAnUnknownCaIsRefused) {
  mgmt_side m;
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  // The management role's CA is the unrelated one: the site's server is not trusted.
  gateway up(mtls_originate_yaml(shared_mtls_pki(), &shared_mtls_pki().rec01,
                                 {{m.address(), "mgmt01.example.local"}}, {}, shared_mtls_pki().other_ca));
  ASSERT_TRUE(up.wait_ready()) << up.log();
  const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), 1024, 1, 10s);
  EXPECT_FALSE(r.ok);
  const auto closed = up.wait_for_event("connection_closed", 10s);
  ASSERT_TRUE(closed) << up.log();
  EXPECT_EQ(json_field(*closed, "end"), "handshake_failed") << *closed;
  EXPECT_EQ(json_field(*closed, "handshake_failure"), "unknown_ca") << *closed;
}

TEST(Originate, WithoutClientCertificateRequiredRefuses) {
  mgmt_side m;
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  gateway up(mtls_originate_yaml(shared_mtls_pki(), nullptr, {{m.address(), "mgmt01.example.local"}}));
  ASSERT_TRUE(up.wait_ready()) << up.log();
  const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), 1024, 1, 10s);
  EXPECT_FALSE(r.ok);
  const auto g = wait_closed(m.gw, 0);
  ASSERT_TRUE(g) << m.gw.log();
  EXPECT_EQ(json_field(*g, "handshake_failure"), "no_certificate") << *g;
  EXPECT_EQ(m.echo.bytes_echoed(), 0u);
  EXPECT_TRUE(up.wait_for_event("connection_closed", 10s)) << up.log();
}

TEST(Resumption, SecondOriginateConnectionResumesOnBothRoutes) {
  mgmt_side m;
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  gateway up(mtls_originate_yaml(shared_mtls_pki(), &shared_mtls_pki().rec01,
                                 {{m.address(), "mgmt01.example.local"}}, one_worker()));
  ASSERT_TRUE(up.wait_ready()) << up.log();
  // The first is a full handshake; every later one resumes, since each resumption
  // brings a fresh single-use TLS 1.3 ticket back into the route's cache.
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE("connection " + std::to_string(i + 1));
    const auto up_from = up.proc().stderr_line_count();
    const auto m_from = m.gw.proc().stderr_line_count();
    const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), 256 * 1024, 3, 10s);
    ASSERT_TRUE(r.ok) << r.error << "\n" << up.log();
    const auto u = up.wait_for_event("connection_closed", 10s, up_from);
    const auto g = wait_closed(m.gw, m_from);
    ASSERT_TRUE(u && g) << up.log() << "\n" << m.gw.log();
    const std::string expected = i == 0 ? "false" : "true";
    EXPECT_EQ(json_field(*u, "resumed"), expected) << *u;
    EXPECT_EQ(json_field(*g, "resumed"), expected) << *g;
    // A resumed session still knows who the peer is.
    EXPECT_NE(json_field(*g, "peer_subject").value_or("").find("CN=rec01.rec.example.local"), std::string::npos)
        << *g;
  }
}

// Issue 32, finding 1, on the originate side: a session cached from an upstream is
// offered only while the certificate it carries is valid. Past the upstream's
// notAfter the route makes a full handshake, which sees the expired certificate and
// refuses it, never a resumption that would not look at it.
TEST(Resumption, OriginateDoesNotResumePastTheUpstreamsCertificate) {
  const auto& p = shared_mtls_pki();
  temp_dir dir("vmsgate-upexp");
  const cert_pair expiring{dir.path() / "mgmt.pem", dir.path() / "mgmt.key"};
  const auto not_after = std::chrono::system_clock::now() + std::chrono::seconds(8);
  make_leaf_cert(p.ca, p.ca_key, "mgmt01.example.local", -3600, 8, expiring, "serverAuth");
  mgmt_side m(expiring);
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  gateway up(mtls_originate_yaml(p, &p.rec01, {{m.address(), "mgmt01.example.local"}}, one_worker()));
  ASSERT_TRUE(up.wait_ready()) << up.log();
  for (const char* expected : {"false", "true"}) {
    const auto from = up.proc().stderr_line_count();
    const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), 4096, 3, 10s);
    ASSERT_TRUE(r.ok) << r.error << "\n" << up.log();
    const auto u = up.wait_for_event("connection_closed", 10s, from);
    ASSERT_TRUE(u) << up.log();
    ASSERT_EQ(json_field(*u, "resumed"), expected) << *u;
  }
  std::this_thread::sleep_until(not_after + std::chrono::milliseconds(1500));
  const auto from = up.proc().stderr_line_count();
  const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), 4096, 3, 10s);
  EXPECT_FALSE(r.ok) << "a session with an expired upstream was resumed\n" << up.log();
  const auto failed = up.wait_for_event("backend_failed", 10s, from);
  ASSERT_TRUE(failed) << up.log();
  EXPECT_EQ(json_field(*failed, "handshake_failure"), "expired") << *failed;
}

// openssl s_client saves the session, then offers it again; "Reused" means the
// gateway's ticket (or, with TLS 1.2, its session) was accepted.
void expect_s_client_reuse(const std::string& version_flag) {
  mgmt_side m;
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  temp_dir dir("vmsgate-sess");
  const auto& p = shared_mtls_pki();
  const std::string sess = (dir.path() / "session.pem").string();
  const std::string base = "(sleep 1; printf ping) | openssl s_client -connect " + m.address() +
                           " -servername mgmt01.example.local -verify_return_error -CAfile " +
                           shell_quote(p.ca.string()) + " -cert " + shell_quote(p.rec01.cert.string()) + " -key " +
                           shell_quote(p.rec01.key.string()) + " " + version_flag;
  const auto first = run_command(base + " -sess_out " + shell_quote(sess) + " 2>&1", 30s);
  ASSERT_NE(first.out.find("New, "), std::string::npos) << first.out;
  ASSERT_TRUE(std::filesystem::exists(sess)) << first.out;
  const auto from = m.gw.proc().stderr_line_count();
  const auto second = run_command(base + " -sess_in " + shell_quote(sess) + " 2>&1", 30s);
  EXPECT_NE(second.out.find("Reused, "), std::string::npos) << second.out;
  const auto g = wait_closed(m.gw, from);
  ASSERT_TRUE(g) << m.gw.log();
  EXPECT_EQ(json_field(*g, "resumed"), "true") << *g;
}

TEST(Resumption, TerminateRouteResumesForOpensslTls13) { expect_s_client_reuse("-tls1_3"); }
TEST(Resumption, TerminateRouteResumesForOpensslTls12) { expect_s_client_reuse("-tls1_2"); }

TEST(Failover, DeadPrimaryIsRememberedThenRetriedAfterItsBackoff) {
  mgmt_side m;
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  const std::string dead = local(closed_port());
  gateway up(mtls_originate_yaml(shared_mtls_pki(), &shared_mtls_pki().rec01,
                                 {{dead, "mgmt01.example.local"}, {m.address(), "mgmt01.example.local"}},
                                 one_worker()));
  ASSERT_TRUE(up.wait_ready()) << up.log();
  const auto failed_dead = [&](std::size_t from) {
    std::size_t n = 0;
    for (const auto& l : events_since(up, "backend_failed", from))
      if (json_field(l, "backend") == dead) ++n;
    return n;
  };
  auto one = [&](std::size_t from) {
    const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), 64 * 1024, 5, 10s);
    EXPECT_TRUE(r.ok) << r.error << "\n" << up.log();
    const auto closed = up.wait_for_event("connection_closed", 10s, from);
    EXPECT_TRUE(closed) << up.log();
    if (closed) {
      EXPECT_EQ(json_field(*closed, "backend"), m.address()) << *closed;
    }
  };

  // First connection: the dead primary is tried, refuses, the failover serves.
  auto from = up.proc().stderr_line_count();
  auto start = std::chrono::steady_clock::now();
  one(from);
  ASSERT_EQ(failed_dead(from), 1u) << up.log();
  const auto line = events_since(up, "backend_failed", from).front();
  EXPECT_EQ(json_field(line, "reason"), "refused") << line;
  EXPECT_EQ(json_field(line, "route"), "uplink") << line;

  // Within the back-off (1 s at first) the dead one is not tried again.
  from = up.proc().stderr_line_count();
  for (int i = 0; i < 3; ++i) one(up.proc().stderr_line_count());
  const bool within = std::chrono::steady_clock::now() - start < 900ms;
  if (within) {
    EXPECT_EQ(failed_dead(from), 0u) << up.log();
  }

  // After it, the primary is retried (and refuses again), so its back-off doubles.
  std::this_thread::sleep_for(1200ms);
  from = up.proc().stderr_line_count();
  start = std::chrono::steady_clock::now();
  one(from);
  EXPECT_EQ(failed_dead(from), 1u) << "not retried after the back-off:\n" << up.log();
  from = up.proc().stderr_line_count();
  std::this_thread::sleep_for(1200ms);  // past 1 s but within the doubled 2 s
  one(from);
  if (std::chrono::steady_clock::now() - start < 1900ms) {
    EXPECT_EQ(failed_dead(from), 0u) << up.log();
  }
}

// The back-off is the route's, not each worker's: with two workers, the connections
// that follow the first failure (spread over both by SO_REUSEPORT) skip the dead
// primary, so within its first back-off it is tried once in all.
TEST(Failover, BackoffIsSharedByTheWorkers) {
  mgmt_side m;
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  const std::string dead = local(closed_port());
  mtls_gateway_options o;
  o.workers = 2;
  gateway up(mtls_originate_yaml(shared_mtls_pki(), &shared_mtls_pki().rec01,
                                 {{dead, "mgmt01.example.local"}, {m.address(), "mgmt01.example.local"}}, o));
  ASSERT_TRUE(up.wait_ready()) << up.log();
  const auto from = up.proc().stderr_line_count();
  const auto start = std::chrono::steady_clock::now();
  constexpr std::size_t connections = 8;
  for (std::size_t i = 0; i < connections; ++i) {
    const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), 4096, 3, 10s);
    ASSERT_TRUE(r.ok) << r.error << "\n" << up.log();
  }
  const bool within = std::chrono::steady_clock::now() - start < 900ms;
  for (int i = 0; i < 100 && events_since(up, "connection_closed", from).size() < connections; ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_EQ(events_since(up, "connection_closed", from).size(), connections) << up.log();
  std::set<std::string> workers;
  for (const auto& l : events_since(up, "connection_closed", from)) workers.insert(json_field(l, "worker").value_or(""));
  RecordProperty("workers_used", std::to_string(workers.size()));
  std::size_t dead_tries = 0;
  for (const auto& l : events_since(up, "backend_failed", from))
    if (json_field(l, "backend") == dead) ++dead_tries;
  if (within && workers.size() == 2) {
    EXPECT_EQ(dead_tries, 1u) << "each worker paid for the dead primary:\n" << up.log();
  } else {
    EXPECT_GE(dead_tries, 1u) << up.log();  // a slow machine: the back-off may have run out
  }
}

TEST(Failover, PrimaryThatComesBackIsUsedAgain) {
  mgmt_side live;
  ASSERT_TRUE(live.gw.wait_ready()) << live.gw.log();
  // The primary: a port to be taken later by a second management gateway.
  const std::uint16_t primary_port = closed_port();
  const std::string primary = local(primary_port);
  gateway up(mtls_originate_yaml(shared_mtls_pki(), &shared_mtls_pki().rec01,
                                 {{primary, "mgmt01.example.local"}, {live.address(), "mgmt01.example.local"}},
                                 one_worker()));
  ASSERT_TRUE(up.wait_ready()) << up.log();
  // Which backend served one connection, from the uplink's connection_closed line
  // (not the echo servers' counters: the readiness probe connects to them too).
  const auto served_by = [&] {
    const auto from = up.proc().stderr_line_count();
    const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), 4096, 1, 10s);
    EXPECT_TRUE(r.ok) << r.error << "\n" << up.log();
    const auto closed = up.wait_for_event("connection_closed", 10s, from);
    return closed ? json_field(*closed, "backend").value_or("") : std::string("(none)");
  };
  EXPECT_EQ(served_by(), live.address());

  echo_server back_echo;
  mtls_gateway_options o;
  o.listen = primary;
  gateway back(mtls_terminate_yaml(shared_mtls_pki(), shared_mtls_pki().mgmt01, "mgmt01.example.local", "required",
                                   {back_echo.address()}, o));
  ASSERT_TRUE(back.wait_ready()) << back.log();
  std::this_thread::sleep_for(1100ms);  // the first back-off (1 s) has passed
  EXPECT_EQ(served_by(), primary) << up.log();
  EXPECT_EQ(served_by(), primary) << "success must clear the back-off\n" << up.log();
  EXPECT_EQ(back_echo.bytes_echoed(), 2 * 4096u);
}

// The primary accepts TCP but never answers the TLS handshake. That attempt has its
// own deadline (handshake_timeout, 2 s here); after it the primary counts as failed
// with reason tls (handshake_failure timeout) and the failover serves the same
// client connection, well before the session's own backstop.
TEST(Failover, UpstreamThatNeverAnswersTlsFailsOverOnItsOwnDeadline) {
  mgmt_side m;
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  mute_server mute;  // a hung legacy TLS stack: takes the ClientHello, never answers
  mtls_gateway_options o = one_worker();
  o.handshake_timeout = "2s";
  gateway up(mtls_originate_yaml(shared_mtls_pki(), &shared_mtls_pki().rec01,
                                 {{mute.address(), "mgmt01.example.local"}, {m.address(), "mgmt01.example.local"}}, o));
  ASSERT_TRUE(up.wait_ready()) << up.log();
  const auto from = up.proc().stderr_line_count();
  const auto start = std::chrono::steady_clock::now();
  const auto r = plain_echo_transfer("127.0.0.1", up.port("uplink"), 64 * 1024, 9, 20s);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok) << r.error << "\n" << up.log();
  EXPECT_EQ(r.received, 64 * 1024u);
  EXPECT_GE(took, 1900ms) << "served before the mute primary's deadline: was it tried?";
  EXPECT_LT(took, 8s) << "the failover waited for more than the attempt's deadline";

  const auto failed = events_since(up, "backend_failed", from);
  ASSERT_EQ(failed.size(), 1u) << up.log();
  EXPECT_EQ(json_field(failed[0], "backend"), mute.address()) << failed[0];
  EXPECT_EQ(json_field(failed[0], "reason"), "tls") << failed[0];
  EXPECT_EQ(json_field(failed[0], "handshake_failure"), "timeout") << failed[0];
  const auto closed = up.wait_for_event("connection_closed", 10s, from);
  ASSERT_TRUE(closed) << up.log();
  EXPECT_EQ(json_field(*closed, "backend"), m.address()) << *closed;
  EXPECT_EQ(json_field(*closed, "end"), "client_closed") << *closed;
  const std::string text = scrape(up.admin_port());
  EXPECT_EQ(sum_samples(text, "vmsgate_backend_failures_total", R"(reason="tls")"), 1.0) << text;
  EXPECT_EQ(sum_samples(text, "vmsgate_backend_failovers_total", R"(route="uplink")"), 1.0) << text;
}

}  // namespace
}  // namespace vmsgate::test
