// Signals that reach `vmsgate run` while it is still starting (issue 32, finding 6).
// Before the fix the handlers were installed only after binding and building every
// context, so a SIGHUP in that window killed the process (exit by signal 1, no log
// line, and systemd's Restart=on-failure does not restart a death by SIGHUP). Now
// main blocks them on its first line and the gateway takes them once it is ready:
// a SIGHUP is a reload right after start, a SIGTERM a drain.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/lifecycle/reload_common.hpp"
#include "tests/support/backends.hpp"

namespace vmsgate::test {
namespace {

using namespace live;

// The signal mask line `field` ("SigBlk", "ShdPnd", …) of /proc/PID/status as a
// bit set; nullopt once the process is gone.
std::optional<std::uint64_t> status_mask(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(std::string(field) + ":", 0) != 0) continue;
    return std::stoull(line.substr(field.size() + 1), nullptr, 16);
  }
  return std::nullopt;
}

// A verified TLS connection through the route echoes a few bytes; "" when it does.
std::string quick_echo_ok(std::uint16_t port, const fs::path& ca) {
  tls_client c;
  if (!c.connect(port, client_options(ca))) return "connect: " + c.error();
  const auto r = echo_transfer(c, 4096, 3);
  return r.ok ? std::string() : "echo: " + r.error;
}

bool has(std::uint64_t mask, int sig) { return (mask >> (sig - 1)) & 1u; }

// Waits until the process's main thread blocks `sig`: main's first line has run.
// False if it never does (the process handles signals only once ready, or died).
bool wait_until_blocked(process& p, int sig, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    const auto blocked = status_mask(p.pid(), "SigBlk");
    if (!blocked) return false;
    if (has(*blocked, sig)) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

// Whether the signal was still waiting when the test looked: it then reached the
// gateway before "ready" (recorded, not asserted: a fast start may beat the test).
void record_pending(process& p, int sig) {
  const auto pending = status_mask(p.pid(), "ShdPnd");
  ::testing::Test::RecordProperty("signal_pending_before_ready", pending && has(*pending, sig) ? "yes" : "no");
}

// Sends `sig` once `gw`'s main thread blocks it, that is while it is still
// starting; fails when it never blocks it.
::testing::AssertionResult send_while_starting(gateway& gw, int sig) {
  if (!wait_until_blocked(gw.proc(), sig, 20s))
    return ::testing::AssertionFailure() << "vmsgate run never blocked signal " << sig
                                         << " while starting: it would have died of it\n"
                                         << gw.log();
  gw.proc().send_signal(sig);
  record_pending(gw.proc(), sig);
  return ::testing::AssertionSuccess();
}

TEST(EarlySignals, SighupWhileStartingIsAReloadOnceReady) {
  site s;
  echo_server echo;
  gateway gw(config_for(s, echo.address()).yaml());
  ASSERT_TRUE(send_while_starting(gw, SIGHUP));

  ASSERT_TRUE(gw.wait_ready()) << "the SIGHUP sent while starting stopped the gateway\n" << gw.log();
  const auto outcome = gw.wait_for_event("reload_succeeded", 20s);
  ASSERT_TRUE(outcome) << "the SIGHUP was lost: no reload after start\n" << gw.log();
  EXPECT_EQ(json_field(*outcome, "trigger"), "SIGHUP") << *outcome;
  const std::string log = gw.log();
  EXPECT_LT(log.find("\"event\":\"ready\""), log.find("\"event\":\"reload_started\"")) << log;
  EXPECT_EQ(quick_echo_ok(gw.port("rec"), s.ca()), "") << gw.log();
  gw.proc().send_signal(SIGTERM);
  const auto st = gw.proc().wait_for_exit(30s);
  ASSERT_TRUE(st) << gw.log();
  EXPECT_EQ(st->str(), "exit 0");
}

TEST(EarlySignals, SigtermWhileStartingDrainsOnceReadyAndExitsZero) {
  site s;
  echo_server echo;
  gateway gw(config_for(s, echo.address()).yaml());
  ASSERT_TRUE(send_while_starting(gw, SIGTERM));
  const auto st = gw.proc().wait_for_exit(30s);
  ASSERT_TRUE(st) << "the SIGTERM sent while starting was lost\n" << gw.log();
  EXPECT_EQ(st->str(), "exit 0") << gw.log();
  const std::string log = gw.log();
  const auto ready = log.find("\"event\":\"ready\"");
  const auto drained = log.find("\"event\":\"drain_finished\"");
  ASSERT_NE(ready, std::string::npos) << log;
  ASSERT_NE(drained, std::string::npos) << log;
  EXPECT_LT(ready, drained) << log;
}

// The other commands give the signals back at once: Ctrl-C still stops them.
TEST(EarlySignals, OtherCommandsDoNotHoldTheSignals) {
  process sim({VMSGATE_BINARY, "simulate", "recording", "--listen", "127.0.0.1:0"});
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(sim.running()) << sim.stderr_text();
  const auto blocked = status_mask(sim.pid(), "SigBlk");
  ASSERT_TRUE(blocked);
  EXPECT_FALSE(has(*blocked, SIGHUP)) << "simulate kept SIGHUP blocked";
  EXPECT_FALSE(has(*blocked, SIGINT)) << "simulate kept SIGINT blocked";
  sim.send_signal(SIGINT);
  const auto st = sim.wait_for_exit(10s);
  ASSERT_TRUE(st) << sim.stderr_text();
}

}  // namespace
}  // namespace vmsgate::test
