// Half-close through the gateway when the backend finishes first: a legacy server
// that sends its answer and closes its side, while the client is still sending.
// OpenSSL 3.0 drops what it reads after it has sent close_notify unless the gateway
// works around it; this test fails if the client's upload is cut off.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

using namespace std::chrono_literals;

// Sends a banner, shuts its writing side down at once, then counts what arrives.
class banner_then_sink : public tcp_server {
 public:
  banner_then_sink() { start(); }
  ~banner_then_sink() override { stop(); }
  std::uint64_t received() const { return received_.load(); }
  bool saw_eof() const { return eof_.load(); }

 private:
  void serve(int fd) override {
    const char banner[] = "banner\n";
    if (::send(fd, banner, sizeof banner - 1, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof banner - 1)) return;
    ::shutdown(fd, SHUT_WR);
    char buf[65536];
    std::uint64_t mine = 0;
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // The readiness prober's connections carry nothing; only the upload counts.
        if (mine > 0) eof_ = n == 0;
        return;
      }
      mine += static_cast<std::uint64_t>(n);
      received_ += static_cast<std::uint64_t>(n);
    }
  }
  std::atomic<std::uint64_t> received_{0};
  std::atomic<bool> eof_{false};
};

TEST(HalfClose, ClientKeepsSendingAfterTheBackendClosedItsSide) {
  banner_then_sink backend;
  gateway_config cfg;
  cfg.backends = {backend.address()};
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error();
  // The backend's whole answer, then its close as a TLS close_notify.
  EXPECT_EQ(c.recv_all(), "banner\n");
  EXPECT_EQ(c.last_end(), read_end::close_notify);

  constexpr std::size_t upload = 4 * 1024 * 1024;
  const std::string chunk(64 * 1024, 'x');
  for (std::size_t sent = 0; sent < upload; sent += chunk.size()) ASSERT_TRUE(c.send_all(chunk)) << c.error();
  ASSERT_TRUE(c.shutdown_write()) << c.error();

  for (int i = 0; i < 100 && !backend.saw_eof(); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(backend.saw_eof());
  EXPECT_EQ(backend.received(), upload) << gw.log();
  c.close();
  const auto closed = gw.wait_for_event("connection_closed", 5s);
  ASSERT_TRUE(closed) << gw.log();
  EXPECT_EQ(json_field(*closed, "bytes_to_backend"), std::to_string(upload)) << *closed;
}

// A backend that answers "last words\n" and ends at once: with a FIN, which arrives
// with the data (one recv(2) takes the data short, the FIN queued behind it), or with
// a reset (SO_LINGER 0), which epoll often reports in the same wake-up as the data.
// Either way the client must see the end at once, not at idle_timeout.
class answer_then_end : public tcp_server {
 public:
  enum class ending { fin, reset };
  explicit answer_then_end(ending e) : ending_(e) { start(); }
  ~answer_then_end() override { stop(); }

 private:
  void serve(int fd) override {
    const char answer[] = "last words\n";
    (void)::send(fd, answer, sizeof answer - 1, MSG_NOSIGNAL);
    if (ending_ == ending::reset) {
      const linger abort{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
  }  // returning closes the socket
  const ending ending_;
};

TEST(HalfClose, BackendDataAndFinTogetherReachTheClientAtOnce) {
  answer_then_end backend(answer_then_end::ending::fin);
  gateway_config cfg;
  cfg.backends = {backend.address()};
  gateway gw(cfg.yaml());  // idle_timeout 1h: a lost FIN would hang the test
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  for (int i = 0; i < 20; ++i) {
    tls_client c;
    tls_options o = rec01_client();
    o.timeout = 3s;
    ASSERT_TRUE(c.connect(gw.port("rec"), o)) << c.error();
    EXPECT_EQ(c.recv_all(), "last words\n");
    ASSERT_EQ(c.last_end(), read_end::close_notify) << "round " << i << "\n" << gw.log();
  }
}

// The answer must reach the client before the end, and the end must be a backend
// error, never a clean close_notify (that would tell the client the answer was whole).
TEST(HalfClose, BackendResetRightAfterItsAnswerEndsAsABackendError) {
  answer_then_end backend(answer_then_end::ending::reset);
  gateway_config cfg;
  cfg.backends = {backend.address()};
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  constexpr int rounds = 10;
  for (int i = 0; i < rounds; ++i) {
    tls_client c;
    tls_options o = rec01_client();
    o.timeout = 3s;
    ASSERT_TRUE(c.connect(gw.port("rec"), o)) << c.error();
    EXPECT_EQ(c.recv_all(), "last words\n") << "round " << i;
    EXPECT_NE(c.last_end(), read_end::close_notify) << "round " << i << "\n" << gw.log();
    EXPECT_NE(c.last_end(), read_end::timeout) << "round " << i;
  }
  for (int i = 0; i < 100 && gw.events("connection_closed").size() < rounds; ++i) std::this_thread::sleep_for(50ms);
  const auto closed = gw.events("connection_closed");
  ASSERT_EQ(closed.size(), static_cast<std::size_t>(rounds)) << gw.log();
  for (const auto& line : closed) {
    EXPECT_EQ(json_field(line, "end"), "backend_reset") << line;  // a reset after the answer: an end, not an error
    EXPECT_EQ(json_field(line, "bytes_to_client"), "11") << line;
  }
}

}  // namespace
}  // namespace vmsgate::test
