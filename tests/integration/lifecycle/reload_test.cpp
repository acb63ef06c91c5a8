// SIGHUP reload through the real binary: a certificate swapped under a running
// stream, reloads that must fail and change nothing, routes added, removed and
// moved, and the drain on SIGTERM (with its deadline).

#include <gtest/gtest.h>
#include <signal.h>

#include "tests/integration/lifecycle/reload_common.hpp"
#include "tests/support/backends.hpp"

namespace vmsgate::test {
namespace {

using namespace live;
constexpr std::uint64_t MiB = 1024 * 1024;

// Echoes a few bytes over a fresh verified connection; "" when it works.
std::string quick_echo(std::uint16_t port, const fs::path& ca) {
  tls_client c;
  if (!c.connect(port, client_options(ca))) return "connect: " + c.error();
  const auto r = echo_transfer(c, 64 * 1024, 9);
  return r.ok ? std::string() : "echo: " + r.error;
}

bool refuses(std::uint16_t port) {
  tls_options o;
  o.timeout = 3s;
  tls_client c;
  return !c.connect_tcp(port, o);
}

TEST(Reload, CertificateSwapUnderA64MiBStreamIsByteExactAndNewHandshakesGetTheNewSerial) {
  site s;
  echo_server echo;
  gateway gw(config_for(s, echo.address()).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::uint16_t port = gw.port("rec");
  const std::string old_serial = file_serial(s.cert());
  ASSERT_FALSE(old_serial.empty());
  ASSERT_EQ(served_serial(port), old_serial) << gw.log();
  s.issue();  // the renewal's new certificate, not yet installed

  tls_client c;
  ASSERT_TRUE(c.connect(port, client_options(s.ca()))) << c.error();
  paused_stream stream(c, 64 * MiB, 32 * MiB);
  ASSERT_TRUE(stream.wait_paused(60s)) << "the first 32 MiB did not come back\n" << gw.log();

  s.install();
  const std::string new_serial = file_serial(s.cert());
  ASSERT_NE(new_serial, old_serial);
  const auto outcome = sighup(gw);
  ASSERT_TRUE(outcome) << gw.log();
  ASSERT_TRUE(is_event(*outcome, "reload_succeeded")) << gw.log();
  EXPECT_EQ(json_field(*outcome, "trigger"), "SIGHUP") << *outcome;
  EXPECT_EQ(gw.events("route_updated").size(), 1u) << gw.log();
  EXPECT_TRUE(gw.events("route_closed").empty()) << "a reload that keeps the address must keep the listener";

  // A new handshake meets the new certificate while the old stream is still open.
  EXPECT_EQ(served_serial(port), new_serial) << gw.log();
  EXPECT_EQ(quick_echo(port, s.ca()), "") << gw.log();

  stream.resume();
  std::string why;
  EXPECT_TRUE(stream.finish(why)) << why << "\n" << gw.log();
  EXPECT_EQ(reloads(gw, "success"), 1);
  EXPECT_EQ(reloads(gw, "failure"), 0);
}

// One way a reload can go wrong; each must keep the running certificate.
struct bad_reload {
  const char* name;
  std::function<void(site&, gateway&)> apply;
};

class ReloadFailure : public ::testing::TestWithParam<bad_reload> {};

TEST_P(ReloadFailure, KeepsServingTheOldCertificateAndCountsAFailure) {
  site s;
  echo_server echo;
  gateway gw(config_for(s, echo.address()).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::uint16_t port = gw.port("rec");
  const std::string old_serial = file_serial(s.cert());
  ASSERT_EQ(served_serial(port), old_serial) << gw.log();
  ASSERT_EQ(reloads(gw, "failure"), 0) << scrape(gw.admin_port());

  // An open connection is not disturbed by the failed reload either.
  tls_client open;
  ASSERT_TRUE(open.connect(port, client_options(s.ca()))) << open.error();

  GetParam().apply(s, gw);
  const auto outcome = sighup(gw);
  ASSERT_TRUE(outcome) << gw.log();
  EXPECT_TRUE(is_event(*outcome, "reload_failed")) << *outcome << "\n" << gw.log();
  EXPECT_NE(json_field(*outcome, "detail").value_or("").find("nothing changed"), std::string::npos) << *outcome;
  EXPECT_EQ(reloads(gw, "failure"), 1) << scrape(gw.admin_port());
  EXPECT_EQ(reloads(gw, "success"), 0);
  EXPECT_TRUE(gw.events("route_updated").empty()) << gw.log();

  EXPECT_EQ(served_serial(port), old_serial) << gw.log();
  EXPECT_EQ(quick_echo(port, s.ca()), "") << gw.log();
  const auto r = echo_transfer(open, 1 * MiB, 4);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(gw.proc().running());

  // A second failure counts again.
  const auto again = sighup(gw);
  ASSERT_TRUE(again) << gw.log();
  EXPECT_TRUE(is_event(*again, "reload_failed")) << *again;
  EXPECT_EQ(reloads(gw, "failure"), 2);
}

const bad_reload bad_reloads[] = {
    {"CertificateFromAnotherCA",
     [](site& s, gateway&) {
       const fs::path other = s.dir() / "other-ca";
       fs::create_directories(other);
       ASSERT_EQ(vmsgate("pki init --dir " + shell_quote(other.string()) + " --name 'Another CA'").code(), 0);
       const auto r = vmsgate("pki issue --dir " + shell_quote(other.string()) + " --role recording --host " + host +
                              " --ip 127.0.0.1");
       ASSERT_EQ(r.code(), 0) << r.out;
       s.install_cert(other / (std::string(host) + ".pem"));
       s.install_key(other / (std::string(host) + ".key"));
     }},
    {"CertificateForAnotherHost",
     [](site& s, gateway&) {
       s.issue("cam99.example.local");
       s.install("cam99.example.local");
     }},
    {"MissingKey", [](site& s, gateway&) { fs::remove(s.key()); }},
    {"KeyOfAnotherCertificate",
     [](site& s, gateway&) {
       s.issue("cam99.example.local");
       s.install_key(s.issued_key("cam99.example.local"));
     }},
    {"YamlSyntaxError",
     [](site&, gateway& gw) { write_config(gw, "admin:\n  listen: \"127.0.0.1:0\"\nroutes: [\n  - name: : :\n"); }},
    {"UnknownRole",
     [](site& s, gateway& gw) {
       auto c = config_for(s, "127.0.0.1:1");
       c.extra = "";
       std::string y = c.yaml();
       y.replace(y.find("role: recording"), 15, "role: nosuchrole");
       write_config(gw, y);
     }},
};

INSTANTIATE_TEST_SUITE_P(Cases, ReloadFailure, ::testing::ValuesIn(bad_reloads),
                         [](const ::testing::TestParamInfo<bad_reload>& info) { return std::string(info.param.name); });

// A reload that fails and then one that succeeds: the failure left nothing behind.
TEST(Reload, SucceedsAfterAFailedAttemptOnceTheFilesAreFixed) {
  site s;
  echo_server echo;
  gateway gw(config_for(s, echo.address()).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::uint16_t port = gw.port("rec");
  s.issue();
  s.install_cert(s.issued_cert());  // half of the pair: cert and key do not match
  auto outcome = sighup(gw);
  ASSERT_TRUE(outcome && is_event(*outcome, "reload_failed")) << gw.log();
  s.install_key(s.issued_key());
  outcome = sighup(gw);
  ASSERT_TRUE(outcome && is_event(*outcome, "reload_succeeded")) << gw.log();
  EXPECT_EQ(served_serial(port), file_serial(s.cert()));
  EXPECT_EQ(reloads(gw, "failure"), 1);
  EXPECT_EQ(reloads(gw, "success"), 1);
}

// Route "moved" changes its port, "removed" goes away with a connection still open
// on it, "added" appears; "kept" stays where it was.
TEST(Reload, RoutesAddedRemovedAndMoved) {
  site s;
  echo_server echo;
  auto c = config_for(s, echo.address());
  c.routes = {{"kept", "127.0.0.1:0", echo.address()},
              {"moved", "127.0.0.1:0", echo.address()},
              {"removed", "127.0.0.1:0", echo.address()}};
  gateway gw(c.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::uint16_t kept = gw.port("kept");
  const std::uint16_t moved_from = gw.port("moved");
  const std::uint16_t removed = gw.port("removed");
  ASSERT_TRUE(kept && moved_from && removed) << gw.log();

  tls_client on_removed;
  ASSERT_TRUE(on_removed.connect(removed, client_options(s.ca()))) << on_removed.error();
  paused_stream stream(on_removed, 8 * MiB, 1 * MiB);
  ASSERT_TRUE(stream.wait_paused(30s)) << gw.log();

  const std::uint16_t moved_to = closed_port();
  c.routes = {{"kept", "127.0.0.1:0", echo.address()},
              {"moved", "127.0.0.1:" + std::to_string(moved_to), echo.address()},
              {"added", "127.0.0.1:0", echo.address()}};
  write_config(gw, c.yaml());
  const std::size_t from = gw.proc().stderr_line_count();
  const auto outcome = sighup(gw);
  ASSERT_TRUE(outcome && is_event(*outcome, "reload_succeeded")) << gw.log();

  EXPECT_EQ(listening_port(gw, "moved", from), moved_to) << gw.log();
  const std::uint16_t added = listening_port(gw, "added", from);
  ASSERT_NE(added, 0) << gw.log();
  EXPECT_EQ(listening_port(gw, "kept", from), 0) << "a kept route must not be bound again\n" << gw.log();

  EXPECT_EQ(quick_echo(kept, s.ca()), "") << gw.log();
  EXPECT_EQ(quick_echo(moved_to, s.ca()), "") << gw.log();
  EXPECT_EQ(quick_echo(added, s.ca()), "") << gw.log();
  EXPECT_TRUE(refuses(moved_from)) << "the moved route's old port still accepts";
  EXPECT_TRUE(refuses(removed)) << "the removed route still accepts";

  std::size_t closed = 0;
  for (const auto& l : gw.events("route_closed")) {
    const auto name = json_field(l, "route");
    if (name == "removed" || name == "moved") ++closed;
  }
  EXPECT_EQ(closed, 2u) << gw.log();

  // The connection on the removed route goes on to the end, byte-exact.
  stream.resume();
  std::string why;
  EXPECT_TRUE(stream.finish(why)) << why << "\n" << gw.log();
  on_removed.close();
  const auto closed_line = gw.proc().wait_for_line(
      [](const std::string& l) { return is_event(l, "connection_closed") && json_field(l, "route") == "removed"; }, 10s);
  ASSERT_TRUE(closed_line) << gw.log();
  EXPECT_NE(json_field(*closed_line, "end"), "shutdown") << *closed_line;
}

// SIGTERM in the middle of a stream: it completes, new connections are refused, the
// process exits 0 and says how many connections were open at start and end.
TEST(Drain, RunningStreamCompletesNewConnectionsAreRefusedExitZero) {
  site s;
  echo_server echo;
  gateway gw(config_for(s, echo.address()).yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::uint16_t port = gw.port("rec");
  tls_client c;
  ASSERT_TRUE(c.connect(port, client_options(s.ca()))) << c.error();
  paused_stream stream(c, 16 * MiB, 4 * MiB);
  ASSERT_TRUE(stream.wait_paused(30s)) << gw.log();

  const std::size_t from = gw.proc().stderr_line_count();
  gw.proc().send_signal(SIGTERM);
  const auto started = gw.wait_for_event("drain_started", 10s, from);
  ASSERT_TRUE(started) << gw.log();
  EXPECT_EQ(json_field(*started, "open_connections"), "1") << *started;
  bool refused = false;
  for (int i = 0; i < 30 && !refused; ++i) {
    refused = refuses(port);
    if (!refused) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(refused) << "new connections still accepted during the drain";
  EXPECT_TRUE(gw.proc().running()) << "exited with a stream still open\n" << gw.log();

  stream.resume();
  std::string why;
  EXPECT_TRUE(stream.finish(why)) << why << "\n" << gw.log();
  c.close();
  const auto status = gw.proc().wait_for_exit(10s);
  ASSERT_TRUE(status) << gw.log();
  EXPECT_TRUE(status->exited && status->code == 0) << status->str() << "\n" << gw.log();
  const auto finished = gw.events("drain_finished");
  ASSERT_EQ(finished.size(), 1u) << gw.log();
  EXPECT_EQ(json_field(finished[0], "open_connections"), "0") << finished[0];
}

// A connection stalled by its client (which stops reading while the backend keeps
// sending) is closed once limits.drain_timeout passes; exit status 0.
TEST(Drain, StalledConnectionIsClosedAfterDrainTimeout) {
  site s;
  source_server source(std::nullopt, 3);
  auto cfg = config_for(s, source.address());
  cfg.drain_timeout = "1s";
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), client_options(s.ca()))) << c.error();
  std::vector<std::uint8_t> buf(4096);
  ASSERT_GT(c.recv(buf), 0u) << c.error();
  std::this_thread::sleep_for(300ms);  // the gateway's writes back up into a full socket

  const auto start = std::chrono::steady_clock::now();
  gw.proc().send_signal(SIGTERM);
  const auto status = gw.proc().wait_for_exit(10s);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(status) << "still running 10 s after SIGTERM with drain_timeout 1s\n" << gw.log();
  EXPECT_TRUE(status->exited && status->code == 0) << status->str() << "\n" << gw.log();
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 6s);
  const auto started = gw.events("drain_started");
  const auto finished = gw.events("drain_finished");
  ASSERT_EQ(started.size(), 1u) << gw.log();
  ASSERT_EQ(finished.size(), 1u) << gw.log();
  EXPECT_EQ(json_field(started[0], "open_connections"), "1") << started[0];
  EXPECT_EQ(json_field(finished[0], "open_connections"), "1") << finished[0];
  const auto closed = gw.events("connection_closed");
  ASSERT_EQ(closed.size(), 1u) << gw.log();
  EXPECT_EQ(json_field(closed[0], "end"), "shutdown") << closed[0];
}

}  // namespace
}  // namespace vmsgate::test
