// Hostile or broken peers once the handshake is done, against the real binary: a
// client that never reads, a backend that never reads, one that never answers, and
// one that resets mid-stream. Each stalled connection must end at idle_timeout (2 s
// here) with the right `end`, another route's client is served meanwhile, and the
// gateway's memory stays bounded and returns near its baseline.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "tests/integration/hostile/hostile_common.hpp"

namespace vmsgate::test {
namespace {

using namespace hostile;

// Accepts and then neither reads nor writes until the test ends.
class black_hole : public tcp_server {
 public:
  black_hole() { start(); }
  ~black_hole() override { stop(); }

 private:
  void serve(int) override {
    while (!stopping()) std::this_thread::sleep_for(20ms);
  }
};

// Sends 1 MiB of pattern 5, then resets the connection (SO_LINGER 0 makes the
// caller's close send RST rather than FIN).
class resetting_server : public tcp_server {
 public:
  resetting_server() { start(); }
  ~resetting_server() override { stop(); }

 private:
  void serve(int fd) override {
    std::vector<std::uint8_t> data(1 << 20);
    fill_pattern(5, 0, data);
    send_bytes(fd, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
    std::this_thread::sleep_for(200ms);
    const linger abort{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  }
};

struct peer_gateway {
  echo_server echo;
  std::unique_ptr<gateway> gw;
  long baseline_kib = 0;

  explicit peer_gateway(const std::string& attacked_backend) {
    config cfg;
    cfg.attacked_backend = attacked_backend;
    cfg.good_backend = echo.address();
    gw = std::make_unique<gateway>(cfg.yaml());
  }
  bool start() {
    if (!gw->wait_ready() || !legit_round_trip(gw->port("good"))) return false;
    baseline_kib = gw->proc().rss_kib();
    return true;
  }
  // The checks every test here ends with.
  void expect_recovered(const char* end, const clock::time_point stalled) {
    ASSERT_TRUE(gw->proc().running()) << "the gateway died:\n" << gw->log().substr(0, 4000);
    std::string why;
    EXPECT_TRUE(legit_round_trip(gw->port("good"), &why)) << why;
    EXPECT_EQ(wait_closed_with(*gw, "attacked", end, 1, 6s), 1u) << gw->log().substr(0, 4000);
    ::testing::Test::RecordProperty("closed_after_stall_s",
                                    std::to_string(std::chrono::duration<double>(clock::now() - stalled).count()));
    const long after = settle_rss(gw->proc(), baseline_kib, 4096, 5s);
    ::testing::Test::RecordProperty("rss_baseline_kib", std::to_string(baseline_kib));
    ::testing::Test::RecordProperty("rss_after_kib", std::to_string(after));
    EXPECT_TRUE(rss_within(after, baseline_kib + 4096));
  }
};

TEST(HostilePeers, ClientThatNeverReadsIsClosedAtIdleTimeout) {
  source_server source(std::nullopt, 3);
  peer_gateway p(source.address());
  ASSERT_TRUE(p.start()) << p.gw->log();
  tls_client c;
  ASSERT_TRUE(c.connect(p.gw->port("attacked"), legit_client_options())) << c.error();
  std::vector<std::uint8_t> buf(4096);
  ASSERT_GT(c.recv(buf), 0u) << c.error();  // data flows, then the client stops reading
  const auto stalled = clock::now();
  std::string why;
  EXPECT_TRUE(legit_round_trip(p.gw->port("good"), &why)) << "served while a client stalls: " << why;
  // Backpressure bounds what the backend could push into a client that reads nothing.
  EXPECT_EQ(wait_closed_with(*p.gw, "attacked", "idle_timeout", 1, 8s), 1u) << p.gw->log().substr(0, 4000);
  EXPECT_LT(source.bytes_sent(), 64u << 20);
  ::testing::Test::RecordProperty("backend_bytes_sent", std::to_string(source.bytes_sent()));
  p.expect_recovered("idle_timeout", stalled);
}

TEST(HostilePeers, BackendThatNeverReadsIsClosedAtIdleTimeout) {
  black_hole hole;
  peer_gateway p(hole.address());
  ASSERT_TRUE(p.start()) << p.gw->log();
  tls_client c;
  ASSERT_TRUE(c.connect(p.gw->port("attacked"), legit_client_options(1s))) << c.error();
  // Write until the client's own writes block: the gateway must not buffer without bound.
  std::vector<std::uint8_t> chunk(64 * 1024);
  fill_pattern(9, 0, chunk);
  std::uint64_t sent = 0;
  while (sent < (256u << 20) && c.send_all(chunk)) sent += chunk.size();
  const auto stalled = clock::now();
  ::testing::Test::RecordProperty("client_bytes_accepted", std::to_string(sent));
  EXPECT_LT(sent, 64u << 20) << "the gateway accepted " << sent << " bytes for a backend that reads nothing";
  p.expect_recovered("idle_timeout", stalled);
}

TEST(HostilePeers, BackendThatNeverAnswersIsClosedAtIdleTimeout) {
  mute_server mute;
  peer_gateway p(mute.address());
  ASSERT_TRUE(p.start()) << p.gw->log();
  tls_client c;
  ASSERT_TRUE(c.connect(p.gw->port("attacked"), legit_client_options(8s))) << c.error();
  ASSERT_TRUE(c.send_all("GET /video HTTP/1.1\r\nHost: rec01\r\n\r\n")) << c.error();
  const auto stalled = clock::now();
  std::vector<std::uint8_t> buf(4096);
  EXPECT_EQ(c.recv(buf), 0u);
  EXPECT_NE(c.last_end(), read_end::timeout) << "the client was left hanging";
  EXPECT_LT(clock::now() - stalled, 5s);
  p.expect_recovered("idle_timeout", stalled);
}

TEST(HostilePeers, BackendResetMidStreamEndsTheClientPromptly) {
  resetting_server resetter;
  peer_gateway p(resetter.address());
  ASSERT_TRUE(p.start()) << p.gw->log();
  tls_client c;
  ASSERT_TRUE(c.connect(p.gw->port("attacked"), legit_client_options(8s))) << c.error();
  const auto started = clock::now();
  const std::string got = c.recv_all(4u << 20);
  EXPECT_EQ(got.size(), 1u << 20) << "ended with " << to_string(c.last_end());
  // Well before idle_timeout: the reset itself ends the connection.
  EXPECT_LT(clock::now() - started, slack(1500ms)) << "ended with " << to_string(c.last_end());
  ::testing::Test::RecordProperty("client_saw", std::string(to_string(c.last_end())));
  p.expect_recovered("backend_reset", started);  // it reset after 1 MiB had flowed
}

}  // namespace
}  // namespace vmsgate::test
