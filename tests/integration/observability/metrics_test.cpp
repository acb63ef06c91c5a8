// /metrics and /readyz of the real binary: exact handshake and byte counts after
// real traffic, a garbage client's failure reason, the expiry gauge against
// openssl's reading of the certificate, promtool, and readiness following the
// backend.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

gateway_config config_for(std::vector<std::string> backends) {
  gateway_config c;
  c.backends = std::move(backends);
  return c;
}

// Waits until `count` connection_closed events have been logged: by then each
// connection's counters are final.
bool wait_closed(gateway& gw, std::size_t count) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (gw.events("connection_closed").size() < count) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// Connects over plain TCP, writes `data`, and reads until the gateway closes.
void send_raw(std::uint16_t port, const std::string& data) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(send(fd, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
  char buf[1024];
  while (recv(fd, buf, sizeof buf, 0) > 0) {
  }
  close(fd);
}

TEST(Metrics, HandshakesAndBytesAreCountedExactly) {
  echo_server echo;
  gateway gw(config_for({echo.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  constexpr std::size_t n = 7;
  std::uint64_t sent = 0;
  for (std::size_t i = 0; i < n; ++i) {
    tls_client c;
    ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error();
    const auto r = echo_transfer(c, 1000 * (i + 1) + 17, i);
    ASSERT_TRUE(r.ok) << r.error;
    sent += r.sent;
  }
  ASSERT_TRUE(wait_closed(gw, n)) << gw.log();
  const std::string text = scrape(gw.admin_port());
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshakes_total", R"(route="rec")"), n) << text;
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshake_duration_seconds_count", R"(route="rec")"), n) << text;
  EXPECT_EQ(sample(text, R"(vmsgate_connections_total{route="rec"})"), n);
  EXPECT_EQ(sample(text, R"(vmsgate_connections_active{route="rec"})"), 0.0);
  EXPECT_EQ(sample(text, R"(vmsgate_transferred_bytes_total{route="rec",direction="to_backend"})"), sent);
  EXPECT_EQ(sample(text, R"(vmsgate_transferred_bytes_total{route="rec",direction="to_client"})"), sent);
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshake_failures_total"), 0.0);
}

TEST(Metrics, GarbageClientAddsOneProtocolFailure) {
  echo_server echo;
  gateway gw(config_for({echo.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  std::string garbage(512, '\0');
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (auto& ch : garbage) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    ch = static_cast<char>(x);
  }
  garbage[0] = '\x42';  // not a TLS record type, whatever the generator says
  send_raw(gw.port("rec"), garbage);
  ASSERT_TRUE(wait_closed(gw, 1)) << gw.log();
  const std::string text = scrape(gw.admin_port());
  EXPECT_EQ(sample(text, R"(vmsgate_tls_handshake_failures_total{route="rec",reason="protocol"})"), 1.0) << text;
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshake_failures_total"), 1.0) << text;
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshakes_total"), 0.0) << text;
}

// notAfter as `openssl x509 -enddate` prints it ("notAfter=Dec 26 22:57:56 2026 GMT").
std::optional<double> openssl_not_after(const std::filesystem::path& cert) {
  const auto r = run_command("openssl x509 -enddate -noout -in " + shell_quote(cert.string()));
  if (r.code() != 0) return std::nullopt;
  tm t{};
  if (strptime(r.out.c_str(), "notAfter=%b %d %H:%M:%S %Y GMT", &t) == nullptr) return std::nullopt;
  return static_cast<double>(timegm(&t));
}

TEST(Metrics, ExpiryGaugeIsTheCertificatesNotAfter) {
  echo_server echo;
  gateway gw(config_for({echo.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::string text = scrape(gw.admin_port());
  const auto server = openssl_not_after(shared_pki().rec01_cert);
  const auto ca = openssl_not_after(shared_pki().ca);
  ASSERT_TRUE(server && ca);
  const std::string family = "vmsgate_certificate_expiry_timestamp_seconds";
  EXPECT_EQ(sum_samples(text, family, R"(route="rec",role="recording",usage="server",subject="CN=rec01.example.local")"),
            *server)
      << text;
  EXPECT_EQ(sum_samples(text, family, R"(usage="ca",subject="CN=vmsgate test CA")"), *ca) << text;
}

TEST(Metrics, PromtoolAcceptsTheLiveOutput) {
  echo_server echo;
  gateway gw(config_for({echo.address(), "127.0.0.1:" + std::to_string(closed_port())}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error();
  ASSERT_TRUE(echo_transfer(c, 4096).ok);
  ASSERT_TRUE(wait_closed(gw, 1)) << gw.log();
  const std::string text = scrape(gw.admin_port());
  ASSERT_FALSE(text.empty());
  temp_dir dir;
  const auto path = dir.write_file("metrics.txt", text);
  const auto r = run_command("promtool check metrics < " + shell_quote(path.string()));
  EXPECT_EQ(r.code(), 0) << r.out << r.err << "\n" << text;
}

// Issue 27: from the running gateway, each backend's state as the prober found it,
// the route's readiness, and the standard process families.
TEST(Metrics, BackendUpRouteReadyAndProcessFamilies) {
  echo_server echo;
  const std::string dead = "127.0.0.1:" + std::to_string(closed_port());
  gateway gw(config_for({dead, echo.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  do {  // the first probe round runs right after start
    text = scrape(gw.admin_port());
    if (sample(text, "vmsgate_backend_up{route=\"rec\",backend=\"" + echo.address() + "\"}") == 1.0) break;
    std::this_thread::sleep_for(100ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(sample(text, "vmsgate_backend_up{route=\"rec\",backend=\"" + echo.address() + "\"}"), 1.0) << text;
  EXPECT_EQ(sample(text, "vmsgate_backend_up{route=\"rec\",backend=\"" + dead + "\"}"), 0.0) << text;
  EXPECT_EQ(sample(text, R"(vmsgate_route_ready{route="rec"})"), 1.0) << text;
  EXPECT_EQ(sample(text, "vmsgate_config_last_reload_successful"), 1.0) << text;
  EXPECT_GT(sample(text, "process_resident_memory_bytes").value_or(0), 1e6) << text;
  EXPECT_GT(sample(text, "process_open_fds").value_or(0), 5.0) << text;
  EXPECT_GT(sample(text, "process_start_time_seconds").value_or(0), 1.7e9) << text;
}

// Polls /readyz until it answers `status`; returns the last body.
std::optional<std::string> wait_readyz(std::uint16_t port, int status, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string body;
  while (std::chrono::steady_clock::now() < deadline) {
    if (http_get(port, "/readyz", &body) == status) return body;
    std::this_thread::sleep_for(100ms);
  }
  return std::nullopt;
}

TEST(Metrics, ReadyzFollowsTheBackend) {
  auto echo = std::make_unique<echo_server>();
  gateway gw(config_for({echo->address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const auto ready = wait_readyz(gw.admin_port(), 200, 10s);
  ASSERT_TRUE(ready) << gw.log();
  EXPECT_EQ(*ready, "ready\n");
  const std::string address = echo->address();
  echo.reset();
  const auto down = wait_readyz(gw.admin_port(), 503, 15s);
  ASSERT_TRUE(down) << gw.log();
  EXPECT_NE(down->find("route rec: no backend answers (" + address + ": "), std::string::npos) << *down;
}

}  // namespace
}  // namespace vmsgate::test
