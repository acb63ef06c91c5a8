// Hostile clients before and during the TLS handshake, against the real binary:
// silent connections, a ClientHello one byte a second, random bytes, truncated and
// oversized handshake records. Each test checks that a legitimate client is served
// meanwhile, every hostile connection is closed by its deadline with the right `end`
// and counter, and the gateway's memory returns near its baseline.

#include <gtest/gtest.h>

#include <atomic>
#include <random>

#include "tests/integration/hostile/hostile_common.hpp"

namespace vmsgate::test {
namespace {

using namespace hostile;

// A ClientHello's first bytes: record type 22, version 3.1, length 512; enough for
// OpenSSL to wait for the rest rather than refuse.
const std::string hello_prefix("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);

struct attacked_gateway {
  echo_server echo;
  std::unique_ptr<gateway> gw;
  long baseline_kib = 0;

  explicit attacked_gateway(config cfg = {}) {
    cfg.attacked_backend = echo.address();
    cfg.good_backend = echo.address();
    gw = std::make_unique<gateway>(cfg.yaml());
  }
  bool start() {
    if (!gw->wait_ready()) return false;
    // One legitimate connection and one scrape first, so that the baseline includes
    // what serving and being scraped cost.
    if (!legit_round_trip(gw->port("good"))) return false;
    if (metric(gw->admin_port(), "vmsgate_build_info", {}) != 1) return false;
    baseline_kib = gw->proc().rss_kib();
    return true;
  }
  std::uint16_t attacked() const { return gw->port("attacked"); }
  std::uint16_t good() const { return gw->port("good"); }
};

struct stall_outcome {
  std::size_t silent_closed = 0;
  std::size_t slow_closed = 0;
  bool served_meanwhile = false;
  long rss_during_kib = 0;
};

// 300 connections that never send a byte, and 20 that send a ClientHello one byte a
// second, all closed by handshake_timeout (2 s) plus 2 s of slack for a loaded CI
// machine; a legitimate client is served while they wait.
stall_outcome stall_attack(attacked_gateway& a) {
  stall_outcome out;
  std::vector<int> silent, slow;
  const auto opened = clock::now();
  for (int i = 0; i < 300; ++i) silent.push_back(raw_connect(a.attacked()));
  for (int i = 0; i < 20; ++i) slow.push_back(raw_connect(a.attacked()));
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (std::size_t i = 0; i < hello_prefix.size() && !stop; ++i) {
      for (int fd : slow) send_bytes(fd, hello_prefix.substr(i, 1));
      std::this_thread::sleep_for(1s);
    }
  });
  out.served_meanwhile = legit_round_trip(a.good());
  out.rss_during_kib = a.gw->proc().rss_kib();
  out.silent_closed = count_closed_by(silent, opened + slack(4s));
  out.slow_closed = count_closed_by(slow, opened + slack(4s));
  stop = true;
  trickle.join();
  return out;
}

// The handshake deadline is absolute, so the trickle does not extend it. The attack
// runs three times. Once a burst of connections has closed, the gateway hands the
// freed memory back to the kernel (a `memory_returned` line): after each round RSS is
// back within 2.5 MiB of the baseline, and a third round leaves no more than the
// second (a leak would).
TEST(HostileHandshake, SilentAndSlowlorisConnectionsCloseAtHandshakeTimeout) {
  attacked_gateway a;
  ASSERT_TRUE(a.start()) << a.gw->log();
  long after_kib[3] = {0, 0, 0};
  for (int round = 0; round < 3; ++round) {
    const stall_outcome o = stall_attack(a);
    EXPECT_EQ(o.silent_closed, 300u);
    EXPECT_EQ(o.slow_closed, 20u) << "a one-byte-a-second ClientHello outlived handshake_timeout";
    EXPECT_TRUE(o.served_meanwhile);
    const std::size_t want = 320u * (round + 1);
    EXPECT_EQ(wait_closed_with(*a.gw, "attacked", "handshake_timeout", want, 3s), want)
        << a.gw->log().substr(0, 4000);
    EXPECT_GE(metric(a.gw->admin_port(), "vmsgate_tls_handshake_failures_total",
                     {"route=\"attacked\"", "reason=\"timeout\""}),
              static_cast<double>(want));
    std::string why;
    EXPECT_TRUE(legit_round_trip(a.good(), &why)) << why;
    const auto returned = clock::now() + slack(5s);
    while (a.gw->events("memory_returned").size() < static_cast<std::size_t>(round + 1) && clock::now() < returned)
      std::this_thread::sleep_for(50ms);
    EXPECT_GE(a.gw->events("memory_returned").size(), static_cast<std::size_t>(round + 1))
        << "no memory_returned after 320 connections closed";
    after_kib[round] = a.gw->proc().rss_kib();
    RecordProperty("rss_during_kib_round" + std::to_string(round), std::to_string(o.rss_during_kib));
    RecordProperty("rss_after_kib_round" + std::to_string(round), std::to_string(after_kib[round]));
    EXPECT_TRUE(rss_within(after_kib[round], a.baseline_kib + 2560)) << "round " << round;
  }
  RecordProperty("rss_baseline_kib", std::to_string(a.baseline_kib));
  EXPECT_TRUE(rss_within(after_kib[2], after_kib[1] + 512)) << "a third identical attack grew RSS: a leak";
}

// Random bytes are not TLS: each connection is refused at once (not at the
// deadline) as a protocol failure.
TEST(HostileHandshake, RandomBytesAreRefusedPromptly) {
  attacked_gateway a;
  ASSERT_TRUE(a.start()) << a.gw->log();
  std::mt19937_64 rng(8);
  std::vector<int> fds;
  const auto opened = clock::now();
  for (int i = 0; i < 50; ++i) {
    std::string junk(4096, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    junk[0] = static_cast<char>(i % 2 == 0 ? 0x16 : junk[0]);  // half look like a handshake record
    const int fd = raw_connect(a.attacked());
    ASSERT_GE(fd, 0);
    send_bytes(fd, junk);
    fds.push_back(fd);
  }
  // Well inside the 2 s handshake_timeout: refused on the bytes, not the clock.
  EXPECT_EQ(count_closed_by(fds, opened + slack(1500ms)), 50u);
  EXPECT_EQ(wait_closed_with(*a.gw, "attacked", "handshake_failed", 50, 3s), 50u) << a.gw->log().substr(0, 4000);
  EXPECT_EQ(closed_with(*a.gw, "attacked", "handshake_timeout"), 0u);
  EXPECT_GE(metric(a.gw->admin_port(), "vmsgate_tls_handshake_failures_total",
                   {"route=\"attacked\"", "reason=\"protocol\""}),
            1);
  std::string why;
  EXPECT_TRUE(legit_round_trip(a.good(), &why)) << why;
  EXPECT_TRUE(rss_within(settle_rss(a.gw->proc(), a.baseline_kib, 4096, 5s), a.baseline_kib + 4096));
}

// A record header announcing more than TLS allows (2^14 + 2048 bytes of ciphertext)
// is refused on the header; one that announces 512 bytes and sends 100 waits for
// the rest until the handshake deadline, and one that then closes ends at once.
TEST(HostileHandshake, OversizedAndTruncatedRecords) {
  attacked_gateway a;
  ASSERT_TRUE(a.start()) << a.gw->log();
  const auto opened = clock::now();
  std::vector<int> oversized, truncated, truncated_then_closed;
  for (int i = 0; i < 20; ++i) {
    const int big = raw_connect(a.attacked());
    send_bytes(big, std::string("\x16\x03\x01\xff\xff", 5) + std::string(4096, 'A'));
    oversized.push_back(big);
    const int cut = raw_connect(a.attacked());
    send_bytes(cut, hello_prefix + std::string(89, '\0'));
    truncated.push_back(cut);
    const int gone = raw_connect(a.attacked());
    send_bytes(gone, hello_prefix + std::string(89, '\0'));
    ::shutdown(gone, SHUT_WR);
    truncated_then_closed.push_back(gone);
  }
  EXPECT_EQ(count_closed_by(oversized, opened + slack(1500ms)), 20u) << "an oversized record waited for its bytes";
  EXPECT_EQ(count_closed_by(truncated_then_closed, opened + slack(1500ms)), 20u);
  EXPECT_EQ(count_closed_by(truncated, opened + slack(4s)), 20u) << "a truncated record outlived handshake_timeout";
  EXPECT_EQ(wait_closed_with(*a.gw, "attacked", "handshake_failed", 40, 3s), 40u) << a.gw->log().substr(0, 4000);
  EXPECT_EQ(wait_closed_with(*a.gw, "attacked", "handshake_timeout", 20, 3s), 20u);
  std::string why;
  EXPECT_TRUE(legit_round_trip(a.good(), &why)) << why;
  EXPECT_TRUE(rss_within(settle_rss(a.gw->proc(), a.baseline_kib, 4096, 5s), a.baseline_kib + 4096));
}

}  // namespace
}  // namespace vmsgate::test
