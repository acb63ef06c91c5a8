// Tests of the test harness itself, against stand-ins (haproxy terminating TLS in
// front of the test backends, and shell commands), so that a failing gateway test
// can be told apart from a broken harness.

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <unistd.h>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

TEST(Support, RunCommandCapturesOutputAndStatus) {
  const auto r = run_command("echo out; echo err >&2; exit 3");
  EXPECT_EQ(r.code(), 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(r.timed_out);
}

TEST(Support, RunCommandTimesOut) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_command("sleep 30", 300ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Support, ProcessWaitsForLinesAndSignals) {
  process p({"/bin/sh", "-c", "echo one >&2; echo two >&2; trap 'exit 7' TERM; while :; do sleep 0.05; done"});
  EXPECT_TRUE(p.wait_for_line("two", 5s));
  EXPECT_FALSE(p.wait_for_line("three", 200ms));
  EXPECT_GT(p.rss_kib(), 0);
  EXPECT_GE(p.cpu_seconds(), 0.0);
  EXPECT_TRUE(p.running());
  p.send_signal(SIGTERM);
  const auto st = p.wait_for_exit(5s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 7);
}

// The shared cache is made once, by one of several concurrent callers, and made
// again when its maker changes, when it is older than 12 hours, or when a make did
// not finish.
TEST(Support, SharedCacheDirIsMadeOnceAndAgainWhenStale) {
  namespace fs = std::filesystem;
  const std::string name = "support-test-" + std::to_string(::getpid());
  const temp_dir scratch;
  const fs::path maker = scratch.write_file("maker.sh", "v1");
  std::atomic<int> makes{0};
  const auto make = [&](const fs::path& dir) {
    ++makes;
    std::this_thread::sleep_for(200ms);  // long enough for the others to wait on the lock
    std::ofstream(dir / "made") << makes.load();
  };
  std::vector<std::thread> callers;
  std::vector<fs::path> dirs(4);
  for (std::size_t i = 0; i < dirs.size(); ++i)
    callers.emplace_back([&, i] { dirs[i] = shared_cache_dir(name, maker, make); });
  for (auto& t : callers) t.join();
  EXPECT_EQ(makes, 1);
  for (const auto& d : dirs) EXPECT_TRUE(fs::exists(d / "made")) << d;
  EXPECT_EQ(shared_cache_dir(name, maker, make), dirs[0]);
  EXPECT_EQ(makes, 1);

  const fs::path marker = dirs[0].string() + ".complete";  // beside the directory
  ASSERT_TRUE(fs::exists(marker));
  EXPECT_FALSE(fs::exists(dirs[0] / ".complete")) << "the directory holds only what make made";

  // A newer maker: made again.
  fs::last_write_time(maker, fs::last_write_time(marker) + 1s);
  shared_cache_dir(name, maker, make);
  EXPECT_EQ(makes, 2);

  // Made 13 hours ago (and the maker older still): made again.
  const auto long_ago = fs::file_time_type::clock::now() - 13h;
  fs::last_write_time(maker, long_ago - 1h);
  fs::last_write_time(marker, long_ago);
  shared_cache_dir(name, maker, make);
  EXPECT_EQ(makes, 3);
  shared_cache_dir(name, maker, make);
  EXPECT_EQ(makes, 3);

  // A make that throws leaves no marker; the next caller makes it again.
  fs::last_write_time(marker, long_ago);
  EXPECT_THROW(shared_cache_dir(name, maker, [](const fs::path&) { throw std::runtime_error("disk full"); }),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(marker));
  shared_cache_dir(name, maker, make);
  EXPECT_EQ(makes, 4);

  fs::remove_all(dirs[0]);
  fs::remove(marker);
  fs::remove(dirs[0].string() + ".lock");
}

TEST(Support, JsonField) {
  const std::string line =
      R"({"ts":"2026-01-01T00:00:00Z","level":"info","event":"listening","route":"r\"1","address":"127.0.0.1:4433","n": 42})";
  EXPECT_EQ(json_field(line, "event"), "listening");
  EXPECT_EQ(json_field(line, "route"), "r\"1");
  EXPECT_EQ(json_field(line, "n"), "42");
  EXPECT_EQ(json_field(line, "missing"), std::nullopt);
  EXPECT_EQ(port_of("127.0.0.1:4433"), 4433);
  EXPECT_EQ(port_of("[::1]:80"), 80);
  EXPECT_EQ(port_of("nonsense"), std::nullopt);
  EXPECT_TRUE(is_event(line, "listening"));
}

TEST(Support, PatternIsDeterministicAtAnyOffset) {
  std::vector<std::uint8_t> whole(1000), part(333);
  fill_pattern(5, 0, whole);
  fill_pattern(5, 77, part);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + 77));
  fill_pattern(6, 77, part);
  EXPECT_FALSE(std::equal(part.begin(), part.end(), whole.begin() + 77));
}

// haproxy terminating TLS with the test certificate in front of `backend`: the
// same shape as a vmsgate terminate route.
class haproxy_standin {
 public:
  explicit haproxy_standin(const std::string& backend, const std::string& bind_options = "") : port_(closed_port()) {
    const auto& pki = shared_pki();
    std::ifstream cert(pki.rec01_cert), key(pki.rec01_key);
    std::stringstream both;
    both << cert.rdbuf() << key.rdbuf();
    const auto pem = dir_.write_file("rec01-full.pem", both.str());
    const auto cfg = dir_.write_file(
        "haproxy.cfg", "global\n  ssl-default-bind-options ssl-min-ver TLSv1.2\n"
                       "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n"
                       "frontend tls\n  bind 127.0.0.1:" + std::to_string(port_) + " ssl crt " + pem.string() + " " +
                       bind_options + "\n  default_backend be\nbackend be\n  server s1 " + backend + "\n");
    proc_ = std::make_unique<process>(std::vector<std::string>{"/usr/sbin/haproxy", "-db", "-f", cfg.string()});
    // haproxy logs nothing when it is ready; poll the port.
    for (int i = 0; i < 200; ++i) {
      tls_client probe;
      if (probe.connect(port_)) break;
      std::this_thread::sleep_for(20ms);
    }
  }
  std::uint16_t port() const { return port_; }

 private:
  temp_dir dir_;
  std::uint16_t port_;
  std::unique_ptr<process> proc_;
};

TEST(Support, EchoTransferThroughStandin) {
  echo_server echo;
  haproxy_standin gw(echo.address());
  tls_client c;
  tls_options o;
  o.ca_file = shared_pki().ca.string();
  o.verify_host = "rec01.example.local";
  o.sni = "rec01.example.local";
  ASSERT_TRUE(c.connect(gw.port(), o)) << c.error();
  EXPECT_EQ(c.version(), "TLSv1.3");
  const auto r = echo_transfer(c, 8 << 20);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.received, 8u << 20);
  EXPECT_EQ(r.sent_sha256, pattern_sha256(1, 8 << 20));
  EXPECT_EQ(echo.data_connections(), 1u);
}

TEST(Support, WrongHostNameFailsVerification) {
  echo_server echo;
  haproxy_standin gw(echo.address());
  tls_client c;
  tls_options o;
  o.ca_file = shared_pki().ca.string();
  o.verify_host = "elsewhere.example.local";
  EXPECT_FALSE(c.connect(gw.port(), o));
  EXPECT_NE(c.error().find("verify"), std::string::npos) << c.error();
}

TEST(Support, Tls11RefusedByStandin) {
  echo_server echo;
  haproxy_standin gw(echo.address());
  tls_client c;
  tls_options o;
  o.min_version = TLS1_1_VERSION;
  o.max_version = TLS1_1_VERSION;
  EXPECT_FALSE(c.connect(gw.port(), o));
  tls_options o12;
  o12.max_version = TLS1_2_VERSION;
  tls_client c12;
  ASSERT_TRUE(c12.connect(gw.port(), o12)) << c12.error();
  EXPECT_EQ(c12.version(), "TLSv1.2");
}

TEST(Support, CurlThroughStandin) {
  http_responder http;
  haproxy_standin gw(http.address());
  const std::string url = "https://rec01.example.local:" + std::to_string(gw.port()) + "/";
  const auto r = run_command("curl -sS -o /dev/null -w '%{http_code}' --cacert " + shell_quote(shared_pki().ca.string()) +
                             " --resolve rec01.example.local:" + std::to_string(gw.port()) + ":127.0.0.1 " + url);
  EXPECT_EQ(r.code(), 0) << r.err;
  EXPECT_EQ(r.out, "200");
  EXPECT_EQ(http.requests(), 1u);
}

TEST(Support, SourceAndHalfClose) {
  source_server src(100000, 9);
  haproxy_standin gw(src.address());
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port())) << c.error();
  const std::string got = c.recv_all();
  ASSERT_EQ(got.size(), 100000u);
  std::vector<std::uint8_t> want(100000);
  fill_pattern(9, 0, want);
  EXPECT_TRUE(std::equal(want.begin(), want.end(), reinterpret_cast<const std::uint8_t*>(got.data())));
}

TEST(Support, ClientCertificateForMutualTls) {
  echo_server echo;
  haproxy_standin gw(echo.address(), "ca-file " + shared_pki().ca.string() + " verify required");
  tls_options o;
  o.cert_file = shared_pki().client_cert.string();
  o.key_file = shared_pki().client_key.string();
  tls_client with_cert;
  ASSERT_TRUE(with_cert.connect(gw.port(), o)) << with_cert.error();
  EXPECT_TRUE(echo_transfer(with_cert, 64 * 1024).ok);
  // Without a certificate the server refuses: in TLS 1.3 the client learns it
  // only on its first read, after its own handshake has completed.
  tls_client without;
  if (without.connect(gw.port())) {
    EXPECT_FALSE(echo_transfer(without, 64 * 1024).ok);
  }
}

// The gateway helper parses the log of a stand-in that prints vmsgate's start-up
// events and then runs haproxy.
TEST(Support, GatewayHelperReadsPorts) {
  echo_server echo;
  temp_dir d;
  const auto script = d.write_file(
      "fake-vmsgate.sh",
      "#!/bin/sh\n"
      "echo '{\"ts\":\"x\",\"level\":\"info\",\"event\":\"listening\",\"route\":\"rec\",\"address\":\"127.0.0.1:4321\"}' >&2\n"
      "echo '{\"ts\":\"x\",\"level\":\"info\",\"event\":\"admin_listening\",\"address\":\"127.0.0.1:4322\"}' >&2\n"
      "echo '{\"ts\":\"x\",\"level\":\"info\",\"event\":\"ready\"}' >&2\n"
      "exec sleep 60\n");
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  // Old enough for wait_for_stable_binary not to wait for it.
  std::filesystem::last_write_time(script, std::filesystem::file_time_type::clock::now() - 1h);
  gateway gw("workers: 1\n", script.string());
  ASSERT_TRUE(gw.wait_ready(5s)) << gw.log();
  EXPECT_EQ(gw.port("rec"), 4321);
  EXPECT_EQ(gw.admin_port(), 4322);
  EXPECT_EQ(gw.events("ready").size(), 1u);
}

}  // namespace
}  // namespace vmsgate::test
