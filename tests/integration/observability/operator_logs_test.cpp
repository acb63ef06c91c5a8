// What an operator reads (issue 26): log.level and log.connections, a reset after
// a stream has flowed logged as an end rather than an error, the readiness probes'
// own connections kept out of the log of the vmsgate they reach, and
// admin.probe_interval: 0 turning the probes off.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/mtls.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

namespace fs = std::filesystem;

// `log`: the log section's lines, if any; `probe_interval`: admin.probe_interval, if set.
std::string config(const std::string& backend, const std::string& log = {}, const std::string& probe_interval = {}) {
  const auto& pki = shared_mtls_pki();
  return (log.empty() ? std::string() : "log:\n" + log) + "admin:\n  listen: \"127.0.0.1:0\"\n" +
         (probe_interval.empty() ? std::string() : "  probe_interval: " + probe_interval + "\n") +
         "workers: 1\n"
         "roles:\n  management:\n    ca: " + pki.ca.string() + "\n" +
         "routes:\n"
         "  - name: link\n"
         "    role: management\n"
         "    listen: \"127.0.0.1:0\"\n"
         "    server_names: [mgmt01.example.local]\n"
         "    cert: " + pki.mgmt01.cert.string() + "\n" +
         "    key: " + pki.mgmt01.key.string() + "\n" +
         "    backends: [\"" + backend + "\"]\n";
}

tls_options client() {
  tls_options o;
  o.sni = "mgmt01.example.local";
  o.ca_file = shared_mtls_pki().ca.string();
  o.verify_host = "mgmt01.example.local";
  o.timeout = 10s;
  return o;
}

// A TCP connection that sends nothing and closes: what a readiness probe does.
void probe_like(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::close(fd);
}

void clean_stream(gateway& gw) {
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("link"), client())) << c.error();
  ASSERT_TRUE(echo_transfer(c, 2048, 2).ok);
}

void refused_handshake(gateway& gw) {
  tls_options o = client();
  o.sni = "nobody.example.local";
  o.ca_file.clear();
  tls_client c;
  EXPECT_FALSE(c.connect(gw.port("link"), o));
}

// The connection_closed lines logged from stderr line `from` on, once the line of
// a marker (a refused handshake, always logged unless log.connections is none) has
// arrived: the lines before it are then all there are.
std::vector<std::string> lines_before_marker(gateway& gw, std::size_t from) {
  refused_handshake(gw);
  const auto marker = gw.proc().wait_for_line("\"handshake_failure\":\"name_mismatch\"", 10s, from);
  EXPECT_TRUE(marker) << gw.log();
  std::vector<std::string> out;
  const auto all = gw.proc().stderr_lines();
  for (std::size_t i = from; i < all.size(); ++i)
    if (all[i].find("\"connection_closed\"") != std::string::npos && all[i].find("name_mismatch") == std::string::npos)
      out.push_back(all[i]);
  return out;
}

TEST(OperatorLogs, LevelAndConnectionsDecideWhichLinesAreWritten) {
  echo_server echo;
  gateway gw(config(echo.address()));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  // The default: every connection's line, but not one that never sent a byte.
  probe_like(gw.port("link"));
  clean_stream(gw);
  auto lines = lines_before_marker(gw, 0);
  ASSERT_EQ(lines.size(), 1u) << gw.log();
  EXPECT_EQ(json_field(lines[0], "end"), "client_closed");

  // log.level: debug shows it.
  ASSERT_TRUE(gw.reload(config(echo.address(), "  level: debug\n"))) << gw.log();
  auto from = gw.proc().stderr_line_count();
  probe_like(gw.port("link"));
  const auto probe = gw.proc().wait_for_line("\"end\":\"closed_before_handshake\"", 10s, from);
  ASSERT_TRUE(probe) << gw.log();
  EXPECT_EQ(json_field(*probe, "level"), "debug") << *probe;

  // log.connections: errors: a stream that ended well writes nothing, a refused
  // handshake still does.
  ASSERT_TRUE(gw.reload(config(echo.address(), "  connections: errors\n"))) << gw.log();
  from = gw.proc().stderr_line_count();
  clean_stream(gw);
  lines = lines_before_marker(gw, from);
  EXPECT_TRUE(lines.empty()) << gw.log();

  // log.connections: none: not even a refusal; the metrics still count it.
  ASSERT_TRUE(gw.reload(config(echo.address(), "  connections: none\n"))) << gw.log();
  from = gw.proc().stderr_line_count();
  refused_handshake(gw);
  clean_stream(gw);
  std::this_thread::sleep_for(500ms);
  const auto all = gw.proc().stderr_lines();
  for (std::size_t i = from; i < all.size(); ++i) EXPECT_EQ(all[i].find("connection_closed"), std::string::npos) << all[i];
  const std::string metrics = scrape(gw.admin_port());
  EXPECT_EQ(sample(metrics, R"(vmsgate_tls_handshake_failures_total{route="link",reason="name_mismatch"})"), 3.0)
      << metrics;

  // log.level: warn drops info lines, a reload's own among them (the reload is seen
  // in the metrics instead).
  const auto reloads = [&] {
    return sample(scrape(gw.admin_port()), R"(vmsgate_config_reloads_total{result="success"})").value_or(-1);
  };
  const double done = reloads();
  // Its own reload_succeeded line is below warn: the wait for it times out.
  EXPECT_FALSE(gw.reload(config(echo.address(), "  level: warn\n"), 2s)) << gw.log();
  for (int i = 0; i < 200 && reloads() == done; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(reloads(), done + 1) << gw.log();
  from = gw.proc().stderr_line_count();
  clean_stream(gw);
  gw.proc().send_signal(SIGHUP);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(gw.proc().stderr_line_count(), from) << gw.log();
}

// A video client that ends its stream by resetting the connection (a player closed
// with SO_LINGER 0): `client_reset`, not an error.
TEST(OperatorLogs, AResetAfterTheStreamHasFlowedIsAnEndNotAnError) {
  source_server camera(std::nullopt);
  gateway gw(config(camera.address()));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  {
    tls_client c;
    ASSERT_TRUE(c.connect(gw.port("link"), client())) << c.error();
    std::uint8_t buf[16384];
    std::size_t got = 0;
    while (got < 256 * 1024) {
      const std::size_t n = c.recv(buf);
      ASSERT_GT(n, 0u) << c.error();
      got += n;
    }
    const linger hard{1, 0};
    ASSERT_EQ(::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
    c.close();
  }
  const auto line = gw.wait_for_event("connection_closed", 10s);
  ASSERT_TRUE(line) << gw.log();
  EXPECT_EQ(json_field(*line, "end"), "client_reset") << *line;
  EXPECT_EQ(json_field(*line, "level"), "info") << *line;
}

// admin.probe_interval: 0: nothing connects to the backend but clients, and /readyz
// answers from the listeners alone; with the default, a backend that is down makes
// the route not ready.
TEST(OperatorLogs, ProbeIntervalZeroTurnsTheProbesOff) {
  echo_server echo;
  {
    gateway gw(config(echo.address()));
    ASSERT_TRUE(gw.wait_ready()) << gw.log();
    for (int i = 0; i < 100 && echo.connections() == 0; ++i) std::this_thread::sleep_for(50ms);
    EXPECT_GT(echo.connections(), 0u) << "the default probes every 2 s";
  }
  const std::size_t probed = echo.connections();
  gateway gw(config(echo.address(), {}, "0s"));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(echo.connections(), probed) << "no probe with probe_interval: 0";
  std::string body;
  EXPECT_EQ(http_get(gw.admin_port(), "/readyz", &body), 200) << body;
}

}  // namespace
}  // namespace vmsgate::test
