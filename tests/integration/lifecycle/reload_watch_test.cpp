// reload.watch: true — renewal tools replace files without signalling anyone. The
// gateway must pick a new pair up on its own, and a pair written one file at a time
// must not produce a failed reload in between.

#include <gtest/gtest.h>

#include "tests/integration/lifecycle/reload_common.hpp"
#include "tests/support/backends.hpp"

namespace vmsgate::test {
namespace {

using namespace live;

// Polls the served serial until it equals `want` or `timeout` passes.
bool serves_serial(std::uint16_t port, const std::string& want, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (served_serial(port) == want) return true;
    std::this_thread::sleep_for(250ms);
  }
  return false;
}

struct watched {
  site s;
  echo_server echo;
  std::unique_ptr<gateway> gw;
  watched() {
    auto c = config_for(s, echo.address());
    c.watch = true;
    gw = std::make_unique<gateway>(c.yaml());
  }
};

TEST(ReloadWatch, ReplacedPairIsPickedUpWithoutASignal) {
  watched w;
  ASSERT_TRUE(w.gw->wait_ready()) << w.gw->log();
  const std::uint16_t port = w.gw->port("rec");
  const std::string old_serial = file_serial(w.s.cert());
  ASSERT_EQ(served_serial(port), old_serial);
  w.s.issue();
  w.s.install();
  const std::string new_serial = file_serial(w.s.cert());
  ASSERT_NE(new_serial, old_serial);
  EXPECT_TRUE(serves_serial(port, new_serial, 10s)) << w.gw->log();
  const auto ok = w.gw->events("reload_succeeded");
  ASSERT_EQ(ok.size(), 1u) << w.gw->log();
  EXPECT_EQ(json_field(ok[0], "trigger"), "file change") << ok[0];
  EXPECT_TRUE(w.gw->events("reload_failed").empty()) << w.gw->log();
  // Nothing changes afterwards: no second reload of the same files.
  std::this_thread::sleep_for(3500ms);
  EXPECT_EQ(w.gw->events("reload_started").size(), 1u) << w.gw->log();
}

// The certificate first, the key `pause` later: while only the certificate is new,
// the pair does not match, and the watcher must wait instead of failing.
void pair_written_apart(std::chrono::milliseconds pause) {
  watched w;
  ASSERT_TRUE(w.gw->wait_ready()) << w.gw->log();
  const std::uint16_t port = w.gw->port("rec");
  const std::string old_serial = file_serial(w.s.cert());
  w.s.issue();
  w.s.install_cert(w.s.issued_cert());
  std::this_thread::sleep_for(pause);
  EXPECT_TRUE(w.gw->events("reload_failed").empty()) << "failed while half the pair was written\n" << w.gw->log();
  // The old pair still serves while the new one is half written.
  EXPECT_EQ(served_serial(port), old_serial) << w.gw->log();
  w.s.install_key(w.s.issued_key());
  const std::string new_serial = file_serial(w.s.cert());
  EXPECT_TRUE(serves_serial(port, new_serial, 10s)) << w.gw->log();
  EXPECT_TRUE(w.gw->events("reload_failed").empty()) << w.gw->log();
  EXPECT_EQ(w.gw->events("reload_succeeded").size(), 1u) << w.gw->log();
  EXPECT_EQ(reloads(*w.gw, "failure"), 0);
}

TEST(ReloadWatch, CertificateThenKeyOneAndAHalfSecondsApart) { pair_written_apart(1500ms); }

// Longer than the time the watcher lets files settle.
TEST(ReloadWatch, CertificateThenKeyFourSecondsApart) { pair_written_apart(4000ms); }

// A broken replacement is tried once, fails, and is not retried in a loop.
TEST(ReloadWatch, BrokenReplacementFailsOnceAndKeepsTheOldCertificate) {
  watched w;
  ASSERT_TRUE(w.gw->wait_ready()) << w.gw->log();
  const std::uint16_t port = w.gw->port("rec");
  const std::string old_serial = file_serial(w.s.cert());
  w.s.issue("cam99.example.local");
  w.s.install("cam99.example.local");  // a matching pair, for the wrong host
  const auto failed = w.gw->wait_for_event("reload_failed", 10s);
  ASSERT_TRUE(failed) << w.gw->log();
  std::this_thread::sleep_for(3500ms);
  EXPECT_EQ(w.gw->events("reload_failed").size(), 1u) << w.gw->log();
  EXPECT_EQ(served_serial(port), old_serial);
  EXPECT_EQ(reloads(*w.gw, "failure"), 1);
}

}  // namespace
}  // namespace vmsgate::test
