// systemd's notification protocol (issue 27): the gateway run with NOTIFY_SOCKET
// (as a Type=notify unit runs it) tells systemd READY=1 once it serves,
// RELOADING=1 then READY=1 around each reload (a failed one included, with a
// STATUS= saying so), STOPPING=1 at the drain, and WATCHDOG=1 while WATCHDOG_USEC
// is set. A datagram socket of the test's stands in for systemd.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>

#include "tests/integration/lifecycle/reload_common.hpp"
#include "tests/support/backends.hpp"

namespace vmsgate::test {
namespace {

using namespace live;

class notify_socket {
 public:
  explicit notify_socket(const fs::path& path) : path_(path), fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.string().copy(a.sun_path, sizeof a.sun_path - 1);
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    timeval tv{0, 100000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~notify_socket() { ::close(fd_); }
  bool bound() const { return bound_; }

  // Collects messages until one contains `what` (or the timeout); returns it.
  std::optional<std::string> wait_for(std::string_view what, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string m(buf, static_cast<std::size_t>(n));
      all_.push_back(m);
      if (m.find(what) != std::string::npos) return m;
    }
    return std::nullopt;
  }
  // Every message so far, watchdog pings left out, in order.
  std::vector<std::string> states() const {
    std::vector<std::string> out;
    for (const auto& m : all_)
      if (m != "WATCHDOG=1") out.push_back(m.substr(0, m.find('\n')));
    return out;
  }
  std::size_t watchdogs() const { return static_cast<std::size_t>(std::count(all_.begin(), all_.end(), "WATCHDOG=1")); }

 private:
  fs::path path_;
  int fd_;
  bool bound_ = false;
  std::vector<std::string> all_;
};

// A gateway run as systemd runs a Type=notify unit, `env` added (WATCHDOG_USEC).
struct notified_gateway {
  explicit notified_gateway(const std::vector<std::string>& env = {}) {
    cfg = dir.write_file("vmsgate.yaml", config_for(s, echo.address()).yaml());
    std::vector<std::string> all = env;
    all.push_back("NOTIFY_SOCKET=" + (dir.path() / "notify.sock").string());
    gw = std::make_unique<process>(std::vector<std::string>{VMSGATE_BINARY, "run", "--config", cfg.string()}, all);
  }
  site s;
  echo_server echo;
  temp_dir dir{"vmsgate-notify"};
  notify_socket sd{dir.path() / "notify.sock"};  // bound before the gateway starts
  fs::path cfg;
  std::unique_ptr<process> gw;
};

TEST(SystemdNotify, ReadyReloadingStoppingAndWatchdogInOrder) {
  notified_gateway n({"WATCHDOG_USEC=400000"});
  ASSERT_TRUE(n.sd.bound());
  notify_socket& sd = n.sd;
  process& gw = *n.gw;
  const fs::path& cfg = n.cfg;
  const auto ready = sd.wait_for("READY=1", 20s);
  ASSERT_TRUE(ready) << gw.stderr_text();
  EXPECT_NE(ready->find("STATUS=serving 1 routes"), std::string::npos) << *ready;
  // READY=1 comes once the listeners are bound, with the ready line.
  EXPECT_TRUE(gw.wait_for_line([](const std::string& l) { return is_event(l, "ready"); }, 10s));

  gw.send_signal(SIGHUP);
  ASSERT_TRUE(sd.wait_for("RELOADING=1", 20s)) << gw.stderr_text();
  const auto reloaded = sd.wait_for("READY=1", 20s);
  ASSERT_TRUE(reloaded) << gw.stderr_text();
  EXPECT_NE(reloaded->find("STATUS=reloaded"), std::string::npos) << *reloaded;

  // A reload that fails still ends in READY=1 (the gateway serves the old
  // configuration), and its status says so.
  std::ofstream(cfg) << "routes: [\n";
  gw.send_signal(SIGHUP);
  ASSERT_TRUE(sd.wait_for("RELOADING=1", 20s)) << gw.stderr_text();
  const auto failed = sd.wait_for("READY=1", 20s);
  ASSERT_TRUE(failed) << gw.stderr_text();
  EXPECT_NE(failed->find("STATUS=reload failed"), std::string::npos) << *failed;

  ASSERT_TRUE(sd.wait_for("WATCHDOG=1", 5s)) << "no watchdog ping with WATCHDOG_USEC set";
  gw.send_signal(SIGTERM);
  ASSERT_TRUE(sd.wait_for("STOPPING=1", 20s)) << gw.stderr_text();
  const auto st = gw.wait_for_exit(30s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->str(), "exit 0");

  const std::vector<std::string> want = {"READY=1", "RELOADING=1", "READY=1", "RELOADING=1", "READY=1", "STOPPING=1"};
  EXPECT_EQ(sd.states(), want);
  EXPECT_GE(sd.watchdogs(), 2u);
}

// Without NOTIFY_SOCKET nothing is sent and nothing changes (the rest of the suite
// runs that way); with it but no WATCHDOG_USEC, no pings.
TEST(SystemdNotify, NoWatchdogPingsWithoutWatchdogUsec) {
  notified_gateway n;
  ASSERT_TRUE(n.sd.bound());
  notify_socket& sd = n.sd;
  process& gw = *n.gw;
  ASSERT_TRUE(sd.wait_for("READY=1", 20s)) << gw.stderr_text();
  EXPECT_FALSE(sd.wait_for("WATCHDOG=1", 1500ms));
  gw.send_signal(SIGTERM);
  EXPECT_TRUE(gw.wait_for_exit(30s));
}

}  // namespace
}  // namespace vmsgate::test
