// A handshake flood beyond max_connections, against the real binary: connections
// over the cap are refused at once (closed on accept, counted), those under it are
// held only until handshake_timeout, and streams already established are unharmed.

#include <gtest/gtest.h>

#include "tests/integration/hostile/hostile_common.hpp"

namespace vmsgate::test {
namespace {

using namespace hostile;

struct flood_result {
  std::size_t refused_promptly = 0;  // closed by the gateway within 1 s of connecting
  std::vector<int> held;             // still open after that: accepted into a handshake
};

flood_result flood(std::uint16_t port, int count) {
  std::vector<int> fds;
  for (int i = 0; i < count; ++i) fds.push_back(raw_connect(port));
  flood_result r;
  const auto deadline = clock::now() + slack(1s);
  for (int fd : fds) {
    if (fd >= 0 && closed_by(fd, deadline)) {
      ++r.refused_promptly;
      ::close(fd);
    } else if (fd >= 0) {
      r.held.push_back(fd);
    }
  }
  return r;
}

// An established stream keeps working: one more echo of 256 KiB through it.
bool stream_still_works(tls_client& c) {
  std::vector<std::uint8_t> data(256 * 1024), got(data.size());
  fill_pattern(42, 0, data);
  if (!c.send_all(data)) return false;
  std::size_t have = 0;
  while (have < got.size()) {
    const std::size_t n = c.recv(std::span(got).subspan(have));
    if (n == 0) return false;
    have += n;
  }
  return got == data;
}

// The global cap: 20. One established stream, then 200 connections that never
// send a byte: 19 are accepted into a handshake, 181 refused promptly.
TEST(HostileFlood, GlobalMaxConnectionsRefusesPromptlyAndSparesEstablishedStreams) {
  echo_server echo;
  config cfg;
  cfg.max_connections = 20;
  cfg.handshake_timeout = "5s";
  cfg.idle_timeout = "30s";
  cfg.attacked_backend = cfg.good_backend = echo.address();
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  tls_client established;
  ASSERT_TRUE(established.connect(gw.port("good"), legit_client_options())) << established.error();
  ASSERT_TRUE(stream_still_works(established)) << established.error();
  const long baseline_kib = gw.proc().rss_kib();

  const auto started = clock::now();
  flood_result r = flood(gw.port("attacked"), 200);
  EXPECT_EQ(r.held.size(), 19u);
  EXPECT_EQ(r.refused_promptly, 181u);
  EXPECT_EQ(metric(gw.admin_port(), "vmsgate_connections_refused_total", {"route=\"attacked\""}), 181);
  EXPECT_TRUE(stream_still_works(established)) << "the flood harmed an established stream: " << established.error();

  // Those accepted end at handshake_timeout, and new clients are served again.
  EXPECT_EQ(count_closed_by(r.held, started + slack(8s)), 19u);
  EXPECT_EQ(wait_closed_with(gw, "attacked", "handshake_timeout", 19, 3s), 19u) << gw.log().substr(0, 4000);
  std::string why;
  EXPECT_TRUE(legit_round_trip(gw.port("good"), &why)) << why;
  EXPECT_TRUE(stream_still_works(established)) << established.error();
  const long after_kib = settle_rss(gw.proc(), baseline_kib, 4096, 5s);
  RecordProperty("rss_baseline_kib", std::to_string(baseline_kib));
  RecordProperty("rss_after_kib", std::to_string(after_kib));
  EXPECT_TRUE(rss_within(after_kib, baseline_kib + 4096));
}

// The per-route cap: a flood on one route does not take the connections another
// route's clients need.
TEST(HostileFlood, PerRouteCapKeepsOtherRoutesServedDuringTheFlood) {
  echo_server echo;
  config cfg;
  cfg.attacked_max_connections = 10;
  cfg.handshake_timeout = "5s";
  cfg.attacked_backend = cfg.good_backend = echo.address();
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  const auto started = clock::now();
  flood_result r = flood(gw.port("attacked"), 200);
  EXPECT_EQ(r.held.size(), 10u);
  EXPECT_EQ(r.refused_promptly, 190u);
  std::string why;
  EXPECT_TRUE(legit_round_trip(gw.port("good"), &why)) << "refused during a flood on another route: " << why;
  EXPECT_EQ(metric(gw.admin_port(), "vmsgate_connections_refused_total", {"route=\"good\""}), 0);
  EXPECT_EQ(count_closed_by(r.held, started + slack(8s)), 10u);
}

// limits.max_handshakes_per_source: one address holding its share of handshakes is
// refused more at once (end "handshake_limit"), while another address is not.
TEST(HostileFlood, PerSourceHandshakeCapRefusesOneNoisyAddressOnly) {
  echo_server echo;
  config cfg;
  cfg.max_handshakes_per_source = 5;
  cfg.handshake_timeout = "5s";
  cfg.attacked_backend = cfg.good_backend = echo.address();
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  const auto started = clock::now();
  flood_result noisy = flood(gw.port("attacked"), 50);
  EXPECT_EQ(noisy.held.size(), 5u);
  EXPECT_EQ(noisy.refused_promptly, 45u);
  EXPECT_EQ(wait_closed_with(gw, "attacked", "handshake_limit", 45, 3s), 45u) << gw.log().substr(0, 4000);
  // Another client address still gets its handshakes, on either route.
  std::vector<int> other;
  for (int i = 0; i < 5; ++i) other.push_back(raw_connect(gw.port("good"), "127.0.0.2"));
  std::size_t other_refused = 0;
  for (int fd : other) other_refused += closed_by(fd, clock::now() + 500ms) ? 1 : 0;
  EXPECT_EQ(other_refused, 0u) << "a second address was refused for the first one's handshakes";
  EXPECT_EQ(count_closed_by(noisy.held, started + slack(8s)), 5u);
  EXPECT_EQ(count_closed_by(other, started + slack(8s)), 5u);
  // With its handshakes over, the noisy address is served again.
  std::string why;
  EXPECT_TRUE(legit_round_trip(gw.port("attacked"), &why)) << why;
}

}  // namespace
}  // namespace vmsgate::test
