// Connection and process life cycle through the real binary: half-close, the drain
// deadline, and a listener that cannot bind.

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

// The client sends everything and its close_notify before reading a byte: the
// echo must still come back in full, and the gateway must end the client's stream
// with close_notify (not a bare TCP close, which a client cannot tell from truncation).
TEST(GatewayLifecycle, HalfCloseDeliversDataAfterClientCloseNotify) {
  echo_server echo;
  gateway_config cfg;
  cfg.backends = {echo.address()};
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error() << "\n" << gw.log();
  // Small enough to sit in socket buffers while nobody reads.
  std::vector<std::uint8_t> data(64 * 1024);
  fill_pattern(11, 0, data);
  ASSERT_TRUE(c.send_all(data)) << c.error();
  ASSERT_TRUE(c.shutdown_write()) << c.error();
  const std::string got = c.recv_all();
  EXPECT_EQ(got.size(), data.size()) << "ended with " << to_string(c.last_end()) << ": " << c.error();
  EXPECT_TRUE(std::equal(data.begin(), data.end(), reinterpret_cast<const std::uint8_t*>(got.data())));
  EXPECT_EQ(c.last_end(), read_end::close_notify) << c.error();
}

// An idle connection that never ends is closed when drain_timeout passes, and the
// process still exits 0.
TEST(GatewayLifecycle, DrainTimeoutClosesIdleConnectionsAndExitsZero) {
  echo_server echo;
  gateway_config cfg;
  cfg.backends = {echo.address()};
  cfg.drain_timeout = "1s";
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error() << "\n" << gw.log();
  ASSERT_TRUE(c.send_all("hello")) << c.error();
  std::vector<std::uint8_t> buf(16);
  ASSERT_EQ(c.recv(buf), 5u) << c.error();

  const auto start = std::chrono::steady_clock::now();
  gw.proc().send_signal(SIGTERM);
  const auto status = gw.proc().wait_for_exit(10s);
  ASSERT_TRUE(status) << "still running 10 s after SIGTERM with drain_timeout 1s:\n" << gw.log();
  EXPECT_TRUE(status->exited && status->code == 0) << status->str() << "\n" << gw.log();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms) << "the connection was not given its drain time";
  EXPECT_EQ(gw.events("drain_started").size(), 1u) << gw.log();
  EXPECT_EQ(gw.events("drain_finished").size(), 1u) << gw.log();
  // The client sees its connection end rather than hang.
  c.set_timeout(5s);
  EXPECT_EQ(c.recv(buf), 0u);
  EXPECT_NE(c.last_end(), read_end::timeout);
}

// A route whose port is already taken: exit status 1 (CONTRACT.md).
TEST(GatewayLifecycle, ListenerThatCannotBindIsExitOne) {
  echo_server occupant;  // holds its port, without SO_REUSEPORT
  echo_server echo;
  gateway_config cfg;
  cfg.backends = {echo.address()};
  std::string yaml = cfg.yaml();
  const std::string from = "    listen: \"127.0.0.1:0\"";
  yaml.replace(yaml.find(from), from.size(), "    listen: \"" + occupant.address() + "\"");
  gateway gw(yaml);
  const auto status = gw.proc().wait_for_exit(20s);
  ASSERT_TRUE(status) << "did not exit although its port is taken:\n" << gw.log();
  EXPECT_TRUE(status->exited && status->code == 1) << status->str() << "\n" << gw.log();
  EXPECT_TRUE(gw.events("ready").empty()) << gw.log();
}

// Issue 26: a second vmsgate on the same port used to bind silently (both set
// SO_REUSEPORT) and take 14 of 20 connections, with its own certificate and
// backends. It now refuses to start, naming the address and who holds it.
TEST(GatewayLifecycle, ASecondGatewayOnTheSamePortRefusesToStart) {
  echo_server echo;
  gateway_config cfg;
  cfg.backends = {echo.address()};
  gateway first(cfg.yaml());
  ASSERT_TRUE(first.wait_ready()) << first.log();
  const std::string address = "127.0.0.1:" + std::to_string(first.port("rec"));
  std::string yaml = cfg.yaml();
  const std::string from = "    listen: \"127.0.0.1:0\"";
  yaml.replace(yaml.find(from), from.size(), "    listen: \"" + address + "\"");
  gateway second(yaml);
  const auto status = second.proc().wait_for_exit(20s);
  ASSERT_TRUE(status) << "the second gateway started on a port the first serves:\n" << second.log();
  EXPECT_EQ(status->str(), "exit 1") << second.log();
  const auto failed = second.events("startup_failed");
  ASSERT_EQ(failed.size(), 1u) << second.log();
  const std::string detail = json_field(failed[0], "detail").value_or("");
  EXPECT_NE(detail.find(address), std::string::npos) << detail;
  EXPECT_NE(detail.find("pid " + std::to_string(first.proc().pid()) + " (vmsgate)"), std::string::npos) << detail;
  EXPECT_TRUE(first.proc().running());
}

}  // namespace
}  // namespace vmsgate::test
