// The gateway's data path end to end: the real binary, a terminate route, test
// backends on loopback, and clients (the project's own, openssl s_client, curl).

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/mtls.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

gateway_config config_for(std::vector<std::string> backends) {
  gateway_config c;
  c.backends = std::move(backends);
  return c;
}

std::string port_str(std::uint16_t port) { return std::to_string(port); }

TEST(Gateway, HealthzAnswers200) {
  echo_server echo;
  gateway gw(config_for({echo.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  ASSERT_NE(gw.admin_port(), 0) << "no admin_listening event:\n" << gw.log();
  EXPECT_EQ(http_get(gw.admin_port(), "/healthz"), 200);
}

TEST(Gateway, SmallEchoAndConnectionClosedEvent) {
  echo_server echo;
  gateway gw(config_for({echo.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  ASSERT_NE(gw.port("rec"), 0) << "no listening event for route rec:\n" << gw.log();
  const std::size_t from = gw.proc().stderr_line_count();
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error() << "\n" << gw.log();
  const auto r = echo_transfer(c, 1 * MiB);
  ASSERT_TRUE(r.ok) << r.error << "\n" << gw.log();
  EXPECT_EQ(echo.data_connections(), 1u);
  const auto closed = gw.wait_for_event("connection_closed", 5s, from);
  ASSERT_TRUE(closed) << gw.log();
  EXPECT_EQ(json_field(*closed, "route"), "rec") << *closed;
  EXPECT_EQ(json_field(*closed, "bytes_to_backend"), std::to_string(1 * MiB)) << *closed;
  EXPECT_EQ(json_field(*closed, "bytes_to_client"), std::to_string(1 * MiB)) << *closed;
  EXPECT_EQ(json_field(*closed, "tls_version"), c.version()) << *closed;
}

// The size of each stream in the big transfer tests.
std::uint64_t big_stream_bytes(bool parallel) {
  // The sanitizer build (VMSGATE_TEST_SANITIZED=1) runs about five times slower;
  // ten parallel 256 MiB streams would take minutes there, so each carries 32 MiB.
  const char* sanitized = std::getenv("VMSGATE_TEST_SANITIZED");
  if (parallel && sanitized != nullptr && std::string(sanitized) == "1") return 32 * MiB;
  return 256 * MiB;
}

TEST(Gateway, Transfers256MiBByteExact) {
  echo_server echo;
  gateway gw(config_for({echo.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error() << "\n" << gw.log();
  const std::uint64_t bytes = big_stream_bytes(false);
  const auto r = echo_transfer(c, bytes, 42);
  EXPECT_TRUE(r.ok) << r.error << "\n" << gw.log();
  EXPECT_EQ(r.received, bytes);
  EXPECT_EQ(r.received_sha256, pattern_sha256(42, bytes));
  EXPECT_EQ(echo.bytes_echoed(), bytes);
}

TEST(Gateway, TenParallelStreamsByteExact) {
  echo_server echo;
  gateway gw(config_for({echo.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::uint64_t bytes = big_stream_bytes(true);
  constexpr int streams = 10;
  std::vector<transfer_result> results(streams);
  std::vector<std::string> connect_errors(streams);
  std::vector<std::thread> threads;
  for (int i = 0; i < streams; ++i) {
    threads.emplace_back([&, i] {
      tls_client c;
      if (!c.connect(gw.port("rec"), rec01_client())) {
        connect_errors[i] = c.error() + "\n" + gw.log();
        return;
      }
      // A different seed per stream: crossed streams would show as a mismatch.
      results[i] = echo_transfer(c, bytes, 100 + static_cast<std::uint64_t>(i));
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < streams; ++i) {
    EXPECT_TRUE(connect_errors[i].empty()) << "stream " << i << ": " << connect_errors[i];
    EXPECT_TRUE(results[i].ok) << "stream " << i << ": " << results[i].error;
    EXPECT_EQ(results[i].received_sha256, pattern_sha256(100 + static_cast<std::uint64_t>(i), bytes)) << "stream " << i;
  }
  EXPECT_EQ(echo.data_connections(), static_cast<std::size_t>(streams));
}

// A short echo through an established client, to show the session carries data.
void expect_echo(tls_client& c) {
  const std::string msg = "ping through " + c.version();
  ASSERT_TRUE(c.send_all(msg)) << c.error();
  std::string got;
  std::vector<std::uint8_t> buf(256);
  while (got.size() < msg.size()) {
    const std::size_t n = c.recv(buf);
    ASSERT_GT(n, 0u) << c.error();
    got.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  EXPECT_EQ(got, msg);
}

class GatewayTls : public ::testing::Test {
 protected:
  void SetUp() override {
    gw_ = std::make_unique<gateway>(config_for({echo_.address()}).yaml());
    ASSERT_TRUE(gw_->wait_ready()) << gw_->log();
    port_ = gw_->port("rec");
    ASSERT_NE(port_, 0) << gw_->log();
  }
  std::string s_client(const std::string& args) const {
    return "openssl s_client -connect 127.0.0.1:" + port_str(port_) + " -servername rec01.example.local -CAfile " +
           shell_quote(shared_pki().ca.string()) + " " + args;
  }
  echo_server echo_;
  std::unique_ptr<gateway> gw_;
  std::uint16_t port_ = 0;
};

TEST_F(GatewayTls, AcceptsTls12) {
  tls_options o = rec01_client();
  o.min_version = o.max_version = TLS1_2_VERSION;
  tls_client c;
  ASSERT_TRUE(c.connect(port_, o)) << c.error() << "\n" << gw_->log();
  EXPECT_EQ(c.version(), "TLSv1.2");
  expect_echo(c);
}

TEST_F(GatewayTls, AcceptsTls13) {
  tls_options o = rec01_client();
  o.min_version = o.max_version = TLS1_3_VERSION;
  tls_client c;
  ASSERT_TRUE(c.connect(port_, o)) << c.error() << "\n" << gw_->log();
  EXPECT_EQ(c.version(), "TLSv1.3");
  expect_echo(c);
}

TEST_F(GatewayTls, RefusesTls11) {
  tls_options o;
  o.min_version = o.max_version = TLS1_1_VERSION;
  tls_client c;
  EXPECT_FALSE(c.connect(port_, o)) << "negotiated " << c.version();
}

TEST_F(GatewayTls, OpensslSClientTls12) {
  const auto r = run_command(s_client("-tls1_2 -verify_return_error"));
  EXPECT_EQ(r.code(), 0) << r.out << r.err;
  EXPECT_NE(r.out.find("TLSv1.2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Verify return code: 0 (ok)"), std::string::npos) << r.out;
}

TEST_F(GatewayTls, OpensslSClientTls13) {
  const auto r = run_command(s_client("-tls1_3 -verify_return_error"));
  EXPECT_EQ(r.code(), 0) << r.out << r.err;
  EXPECT_NE(r.out.find("TLSv1.3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Verify return code: 0 (ok)"), std::string::npos) << r.out;
}

TEST_F(GatewayTls, OpensslSClientTls11Fails) {
  const auto r = run_command(s_client("-tls1_1 -cipher DEFAULT@SECLEVEL=0"));
  EXPECT_NE(r.code(), 0) << r.out << r.err;
  // A completed handshake prints "New, TLSv1.1, Cipher is ..."; a refused one
  // "New, (NONE), Cipher is (NONE)".
  EXPECT_EQ(r.out.find("New, TLSv1"), std::string::npos) << r.out;
}

TEST_F(GatewayTls, OpensslSClientVerifiesHostName) {
  const auto ok = run_command(s_client("-verify_hostname rec01.example.local -verify_return_error"));
  EXPECT_EQ(ok.code(), 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("Verify return code: 0 (ok)"), std::string::npos) << ok.out;
  // The same check with a name the certificate does not carry must fail, or the
  // check above proves nothing.
  const auto bad = run_command(s_client("-verify_hostname other.example.local -verify_return_error"));
  EXPECT_NE(bad.code(), 0) << bad.out;
}

TEST(Gateway, CurlWithHostNameVerificationGets200) {
  http_responder http;
  gateway gw(config_for({http.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::string port = port_str(gw.port("rec"));
  const auto r = run_command("curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert " +
                             shell_quote(shared_pki().ca.string()) + " --resolve rec01.example.local:" + port +
                             ":127.0.0.1 https://rec01.example.local:" + port + "/");
  EXPECT_EQ(r.code(), 0) << r.err;
  EXPECT_EQ(r.out, "200");
  EXPECT_EQ(http.requests(), 1u);
}

TEST(Gateway, ClientThatNeverReadsDoesNotGrowMemory) {
  source_server source(std::nullopt, 7);
  gateway gw(config_for({source.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error() << "\n" << gw.log();
  // The first bytes arrive and are the source's pattern: data does flow.
  std::vector<std::uint8_t> got(64 * 1024), want(64 * 1024);
  std::size_t have = 0;
  while (have < got.size()) {
    const std::size_t n = c.recv(std::span(got).subspan(have));
    ASSERT_GT(n, 0u) << c.error();
    have += n;
  }
  fill_pattern(7, 0, want);
  ASSERT_EQ(got, want);

  // Then the client stops reading. Kernel socket buffers fill up; a gateway with
  // backpressure stops reading the backend, one without buffers without bound.
  std::this_thread::sleep_for(500ms);
  const long rss_before = gw.proc().rss_kib();
  const std::uint64_t sent_before = source.bytes_sent();
  std::this_thread::sleep_for(3s);
  const long rss_after = gw.proc().rss_kib();
  const std::uint64_t sent_after = source.bytes_sent();
  ASSERT_GT(rss_before, 0);
  RecordProperty("rss_growth_kib", std::to_string(rss_after - rss_before));
  RecordProperty("backend_bytes_sent", std::to_string(sent_after));
  EXPECT_LT(rss_after - rss_before, 8 * 1024) << "RSS grew from " << rss_before << " KiB to " << rss_after << " KiB";
  // Socket buffers on both legs hold some tens of MiB at most.
  EXPECT_LT(sent_after, 64 * MiB) << "the backend could send " << sent_after << " bytes to a client that reads nothing";
  EXPECT_LT(sent_after - sent_before, 16 * MiB);
  EXPECT_TRUE(gw.proc().running());
}

TEST(Gateway, BackendDownClosesClientCleanly) {
  gateway_config cfg = config_for({"127.0.0.1:" + port_str(closed_port())});
  cfg.connect_timeout = "1s";
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  tls_options o = rec01_client();
  o.timeout = 10s;
  tls_client c;
  const auto start = std::chrono::steady_clock::now();
  if (c.connect(gw.port("rec"), o)) {
    std::vector<std::uint8_t> buf(1024);
    EXPECT_EQ(c.recv(buf), 0u);
    EXPECT_TRUE(c.last_end() == read_end::close_notify || c.last_end() == read_end::eof)
        << "ended with " << to_string(c.last_end()) << ": " << c.error();
  } else {
    // A gateway may also give up before finishing the handshake; then too the
    // connection must end, not hang.
    EXPECT_EQ(c.error().find("timed out"), std::string::npos) << c.error();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s) << "connect_timeout 1s + 2s";
  EXPECT_TRUE(gw.proc().running());
}

TEST(Gateway, DeadPrimaryBackendFailsOver) {
  echo_server echo;
  gateway gw(config_for({"127.0.0.1:" + port_str(closed_port()), echo.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error() << "\n" << gw.log();
  const auto r = echo_transfer(c, 4 * MiB);
  EXPECT_TRUE(r.ok) << r.error << "\n" << gw.log();
  EXPECT_EQ(echo.data_connections(), 1u);
}

// A primary whose host never answers the SYN (here: a listener whose accept queue
// is full, so the kernel drops new SYNs): the attempt ends at connect_timeout, by the
// session's own watchdog, and the next backend serves the same client.
TEST(Gateway, PrimaryThatNeverAnswersSynFailsOverAtConnectTimeout) {
  syn_black_hole black;
  echo_server echo;
  gateway_config cfg = config_for({black.address(), echo.address()});
  cfg.connect_timeout = "1s";
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const auto from = gw.proc().stderr_line_count();
  const auto start = std::chrono::steady_clock::now();
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error() << "\n" << gw.log();
  const auto r = echo_transfer(c, 1 * MiB);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(r.ok) << r.error << "\n" << gw.log();
  EXPECT_GE(took, 900ms) << "served before the primary's deadline: was it tried?";
  EXPECT_LT(took, 5s) << "the failover waited for more than the attempt's deadline";
  c.close();

  const auto failed = events_since(gw, "backend_failed", from);
  ASSERT_EQ(failed.size(), 1u) << gw.log();
  EXPECT_EQ(json_field(failed[0], "reason"), "timeout") << failed[0];
  const auto closed = gw.wait_for_event("connection_closed", 10s, from);
  ASSERT_TRUE(closed) << gw.log();
  EXPECT_EQ(json_field(*closed, "backend"), echo.address()) << *closed;
  const std::string text = scrape(gw.admin_port());
  EXPECT_EQ(sum_samples(text, "vmsgate_backend_failures_total", R"(reason="timeout")"), 1.0) << text;
  EXPECT_EQ(sum_samples(text, "vmsgate_backend_failovers_total"), 1.0) << text;
}

// A backend connect still going on when the gateway asks again at once (the first
// SYN was dropped, the second is answered a second later): the session waits for it
// within connect_timeout, with the socket's own readiness, and then uses the backend.
TEST(Gateway, BackendThatAnswersOnlyTheResentSynIsUsed) {
  syn_black_hole slow;
  gateway_config cfg = config_for({slow.address()});
  cfg.connect_timeout = "5s";
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const auto from = gw.proc().stderr_line_count();
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error() << "\n" << gw.log();
  ASSERT_TRUE(c.send_all(std::string_view("ping"))) << c.error();
  // The session's SYN has been dropped and waits to be sent again: a SYN-SENT
  // socket towards the backend (the readiness probe's could be one too, hence the
  // pause for the session to have started its connect).
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 100 && slow.unanswered_syns() == 0; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_GT(slow.unanswered_syns(), 0u) << "no connect to the backend is waiting\n" << gw.log();
  slow.open_up();
  // The gateway's readiness probe connects too (and closes at once): the session's
  // connection is the one that brings the client's bytes.
  int backend = -1;
  for (int tries = 0; tries < 3 && backend < 0; ++tries) {
    const int fd = slow.accept_one(5s);
    ASSERT_GE(fd, 0) << "the gateway's connect never completed\n" << gw.log();
    const timeval five{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof five);
    char got[4] = {};
    if (::recv(fd, got, sizeof got, MSG_WAITALL) == 4 && std::string_view(got, 4) == "ping") {
      backend = fd;
    } else {
      ::close(fd);
    }
  }
  ASSERT_GE(backend, 0) << "no backend connection brought the client's bytes\n" << gw.log();
  EXPECT_EQ(::send(backend, "pong", 4, MSG_NOSIGNAL), 4);
  std::vector<std::uint8_t> back(4);
  EXPECT_EQ(c.recv(back), 4u) << c.error();
  EXPECT_EQ(std::string(back.begin(), back.end()), "pong");
  ::close(backend);
  c.close();
  EXPECT_TRUE(events_since(gw, "backend_failed", from).empty()) << gw.log();
  const std::string text = scrape(gw.admin_port());
  EXPECT_EQ(sum_samples(text, "vmsgate_backend_failures_total"), 0.0) << text;
  // The connect did wait for the resent SYN (about a second), so the waiting path
  // is what ran; one answered at once takes microseconds.
  EXPECT_EQ(sum_samples(text, "vmsgate_backend_connect_duration_seconds_count"), 1.0) << text;
  EXPECT_GT(sum_samples(text, "vmsgate_backend_connect_duration_seconds_sum"), 0.5) << text;
}

TEST(Gateway, SigtermLetsRunningStreamFinish) {
  echo_server echo;
  gateway gw(config_for({echo.address()}).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::uint16_t port = gw.port("rec");
  tls_client c;
  ASSERT_TRUE(c.connect(port, rec01_client())) << c.error() << "\n" << gw.log();
  expect_echo(c);

  const std::size_t from = gw.proc().stderr_line_count();
  gw.proc().send_signal(SIGTERM);
  const auto started = gw.wait_for_event("drain_started", 10s, from);
  ASSERT_TRUE(started) << gw.log();
  EXPECT_EQ(json_field(*started, "open_connections"), "1") << *started;

  // New connections are refused while the old one drains. The listeners may close
  // a moment after drain_started is logged, so a few early attempts may still get in.
  tls_options quick = rec01_client();
  quick.timeout = 3s;
  bool refused = false;
  for (int attempt = 0; attempt < 20 && !refused; ++attempt) {
    tls_client late;
    refused = !late.connect(port, quick);
    if (!refused) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(refused) << "new connections were still accepted 2 s into the drain";

  // The running stream carries on to the end, byte-exact.
  const auto r = echo_transfer(c, 32 * MiB, 3);
  EXPECT_TRUE(r.ok) << r.error << "\n" << gw.log();
  c.close();

  const auto status = gw.proc().wait_for_exit(10s);
  ASSERT_TRUE(status) << "still running after its last connection closed:\n" << gw.log();
  EXPECT_TRUE(status->exited && status->code == 0) << status->str() << "\n" << gw.log();
  const auto finished = gw.events("drain_finished");
  ASSERT_EQ(finished.size(), 1u) << gw.log();
  EXPECT_EQ(json_field(finished[0], "open_connections"), "0") << finished[0];
}

}  // namespace
}  // namespace vmsgate::test
