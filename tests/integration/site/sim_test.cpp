// The simulators and their checking clients: protocol round trips, then a recording
// server behind the real gateway, with its failover. The frames themselves:
// tests/demo/sim/frame_test.cpp.

#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "proxy/common/asio.hpp"
#include "demo/sim/client.hpp"
#include "demo/sim/frame.hpp"
#include "demo/sim/management.hpp"
#include "demo/sim/mobile.hpp"
#include "demo/sim/recording.hpp"
#include "demo/sim/wire.hpp"
#include "tests/support/gateway.hpp"

namespace vmsgate::test {
namespace {

// Simulators on their own io_context thread; destroying the host stops them and
// closes every connection, as a server that goes down does.
class sim_host {
 public:
  sim_host() = default;
  ~sim_host() {
    ctx_.stop();
    if (thread_.joinable()) thread_.join();
  }
  net::io_context& ctx() { return ctx_; }
  void run() { thread_ = std::thread([this] { ctx_.run(); }); }

 private:
  net::io_context ctx_{1};
  net::executor_work_guard<net::io_context::executor_type> work_{ctx_.get_executor()};
  std::thread thread_;
};

sim::client_options plain(const tcp::endpoint& ep) {
  sim::client_options o;
  o.connect = endpoint_label(ep);
  o.timeout = 5s;
  return o;
}

sim::recording_options recording(std::string name) {
  sim::recording_options o;
  o.name = std::move(name);
  o.listen = "127.0.0.1:0";
  return o;
}

TEST(SimRecording, LiveAndPlaybackRoundTrips) {
  sim_host host;
  const auto ep = sim::start_recording(host.ctx(), recording("rec01"));
  host.run();
  const auto live = sim::check_live(plain(ep), 3, 1500ms);
  EXPECT_TRUE(live.ok) << live.error;
  EXPECT_EQ(live.server, "rec01");
  EXPECT_GE(live.frames, 25u);  // 25 fps for 1.5 s, with slack for a busy machine
  const auto playback = sim::check_playback(plain(ep), 2, 1000, 300, 0);
  EXPECT_TRUE(playback.ok) << playback.error;
  EXPECT_EQ(playback.frames, 300u);
  const auto missing = sim::check_live(plain(ep), 99, 500ms);
  EXPECT_FALSE(missing.ok);
  EXPECT_NE(missing.error.find("unknown camera"), std::string::npos) << missing.error;
}

TEST(SimRecording, LiveBitrateIsTheCameras) {
  sim_host host;
  auto o = recording("rec01");
  o.bitrate = 4'000'000;
  const auto ep = sim::start_recording(host.ctx(), o);
  host.run();
  const auto r = sim::check_live(plain(ep), 1, 2000ms);
  ASSERT_TRUE(r.ok) << r.error;
  const double mbit = static_cast<double>(r.bytes) * 8 / 2.0 / 1e6;
  EXPECT_GT(mbit, 3.0);
  EXPECT_LT(mbit, 5.0);
}

TEST(SimManagement, LinkApiAndUplink) {
  sim_host host;
  sim::management_options mo;
  mo.http_listen = "127.0.0.1:0";
  mo.link_listen = "127.0.0.1:0";
  const auto m = sim::start_management(host.ctx(), mo);
  auto ro = recording("rec07");
  ro.management = endpoint_label(m.link);
  sim::start_recording(host.ctx(), ro);
  host.run();
  const auto link = sim::check_link(plain(m.link), "rec-test", 3);
  EXPECT_TRUE(link.ok) << link.error;
  EXPECT_EQ(link.frames, 3u);
  std::this_thread::sleep_for(1500ms);  // the recording server's uplink says hello at start
  const auto status = sim::http_fetch(plain(m.http), "/api/status");
  ASSERT_TRUE(status.ok) << status.error;
  EXPECT_NE(status.body.find("\"name\":\"rec07\",\"connected\":true"), std::string::npos) << status.body;
  EXPECT_EQ(sim::http_fetch(plain(m.http), "/nope").status, 404);
}

TEST(SimMobile, MjpegStreamIsChecked) {
  sim_host host;
  sim::mobile_options o;
  o.listen = "127.0.0.1:0";
  const auto ep = sim::start_mobile(host.ctx(), o);
  host.run();
  const auto r = sim::check_mjpeg(plain(ep), 4, 1200ms);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_GE(r.frames, 8u);
  EXPECT_EQ(r.status, 200);
  // The page names every camera; a camera that does not exist is not found, however
  // it is spelled (2^32 + 1 must not wrap to camera 1).
  const auto page = sim::http_fetch(plain(ep), "/");
  ASSERT_TRUE(page.ok) << page.error;
  for (const char* camera : {"camera=1\"", "camera=4\""}) EXPECT_NE(page.body.find(camera), std::string::npos);
  EXPECT_EQ(page.body.find("camera=5\""), std::string::npos);
  for (const char* bad : {"5", "0", "4294967297", "", "abc", "2x"})
    EXPECT_EQ(sim::http_fetch(plain(ep), std::string("/video.mjpeg?camera=") + bad).status, 404) << bad;
}

TEST(SimRecording, HttpLiveIsAnMjpegStreamOfTheCamerasFrames) {
  sim_host host;
  const auto ep = sim::start_recording(host.ctx(), recording("rec05"));
  host.run();
  for (const char* bad : {"/live?camera=17", "/live?camera=4294967297", "/live?camera=x", "/other"})
    EXPECT_EQ(sim::http_fetch(plain(ep), bad).status, 404) << bad;
}

// The simulators as test peers of the gateway: a verified TLS live stream, and a
// failover once the first recording server goes down.
TEST(SimThroughGateway, LiveStreamAndFailover) {
  auto rec01 = std::make_unique<sim_host>();
  sim_host rec02;
  const auto ep1 = sim::start_recording(rec01->ctx(), recording("rec01"));
  const auto ep2 = sim::start_recording(rec02.ctx(), recording("rec02"));
  rec01->run();
  rec02.run();
  gateway_config cfg;
  cfg.backends = {endpoint_label(ep1), endpoint_label(ep2)};
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  sim::client_options o;
  o.connect = "127.0.0.1:" + std::to_string(gw.port("rec"));
  o.tls = true;
  o.ca_file = shared_pki().ca.string();
  o.sni = "rec01.example.local";
  const auto first = sim::check_live(o, 1, 1000ms);
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(first.server, "rec01");
  EXPECT_FALSE(first.tls_version.empty());
  rec01.reset();
  const auto second = sim::check_live(o, 1, 1000ms);
  ASSERT_TRUE(second.ok) << second.error;
  EXPECT_EQ(second.server, "rec02");
}

}  // namespace
}  // namespace vmsgate::test
