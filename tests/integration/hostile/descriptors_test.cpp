// Running out of file descriptors (RLIMIT_NOFILE reached, as on a site where the
// limit was left at 1024): the gateway must neither crash nor spin. Out of
// descriptors at accept, it logs accept_failed, pauses and accepts the waiting client
// once descriptors are free again; out of descriptors for the backend socket, that
// client is closed with backend_unavailable and the failure counted under reason
// error. The limit is lowered on the running process with prlimit(1).

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

using namespace std::chrono_literals;

// The descriptor numbers `pid` has open.
std::set<int> open_fds(pid_t pid) {
  std::set<int> fds;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    fds.insert(std::stoi(e.path().filename().string()));
  return fds;
}

// A descriptor limit that leaves exactly `spare` free numbers below it (the kernel
// hands out the lowest free number, and refuses numbers at or above the limit).
rlim_t limit_leaving(pid_t pid, int spare) {
  const std::set<int> used = open_fds(pid);
  int free_seen = 0;
  for (int fd = 0;; ++fd) {
    if (used.count(fd) != 0) continue;
    if (free_seen == spare) return static_cast<rlim_t>(fd);
    ++free_seen;
  }
}

bool set_nofile(pid_t pid, rlim_t soft) {
  const auto r = run_command("prlimit --pid " + std::to_string(pid) + " --nofile=" + std::to_string(soft) + ":", 10s);
  return r.code() == 0;
}

// Sets the limit to leave `spare` free descriptors and keeps it so until the answer
// is the same three times running: the readiness prober opens and closes a socket
// every 2 s, and a limit computed while it was open would leave one too many.
bool leave_spare_descriptors(pid_t pid, int spare) {
  rlim_t set = 0;
  int same = 0;
  for (int i = 0; i < 100 && same < 3; ++i) {
    const rlim_t want = limit_leaving(pid, spare);
    if (want == set) {
      ++same;
    } else {
      if (!set_nofile(pid, want)) return false;
      set = want;
      same = 0;
    }
    std::this_thread::sleep_for(30ms);
  }
  return same >= 3;
}

rlim_t soft_nofile(pid_t pid) {
  rlimit now{};
  return ::prlimit(pid, RLIMIT_NOFILE, nullptr, &now) == 0 ? now.rlim_cur : 0;
}

bool round_trip(std::uint16_t port, std::string* why) {
  tls_client c;
  tls_options o = rec01_client();
  o.timeout = 5s;
  if (!c.connect(port, o)) {
    *why = c.error();
    return false;
  }
  if (!c.send_all("ping") || !c.shutdown_write()) {
    *why = c.error();
    return false;
  }
  const std::string back = c.recv_all();
  if (back != "ping") *why = "echo returned '" + back + "'";
  return back == "ping";
}

// One worker in front of an echo server, having served one client (whose
// descriptors are closed by the time the test starts counting).
class Descriptors : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway_config cfg;
    cfg.workers = 1;
    cfg.backends = {echo.address()};
    gw = std::make_unique<gateway>(cfg.yaml());
    ASSERT_TRUE(gw->wait_ready()) << gw->log();
    std::string why;
    ASSERT_TRUE(round_trip(gw->port("rec"), &why)) << why;
    ASSERT_TRUE(gw->wait_for_event("connection_closed", 5s)) << gw->log();
    pid = gw->proc().pid();
    original = soft_nofile(pid);
    ASSERT_GT(original, 0u);
  }
  echo_server echo;
  std::unique_ptr<gateway> gw;
  pid_t pid = 0;
  rlim_t original = 0;
};

TEST_F(Descriptors, OutOfDescriptorsForTheBackendClosesThatClientAndCountsIt) {
  gateway& gw = *this->gw;
  std::string why;

  // One free descriptor: the client's accept takes it, the backend socket cannot open.
  const std::size_t from = gw.proc().stderr_line_count();
  ASSERT_TRUE(leave_spare_descriptors(pid, 1));
  tls_client c;
  tls_options o = rec01_client();
  o.timeout = 5s;
  const bool shook = c.connect(gw.port("rec"), o);
  const std::string got = shook ? c.recv_all() : std::string();
  const auto closed = gw.wait_for_event("connection_closed", 5s, from);
  ASSERT_TRUE(set_nofile(pid, original));
  ASSERT_TRUE(shook) << c.error() << "\n" << gw.log();
  EXPECT_EQ(got, "");
  ASSERT_TRUE(closed) << gw.log();
  EXPECT_EQ(json_field(*closed, "end"), "backend_unavailable") << *closed;
  const auto failed = gw.wait_for_event("backend_failed", 1s, from);
  ASSERT_TRUE(failed) << gw.log();
  EXPECT_EQ(json_field(*failed, "reason"), "error") << *failed;
  EXPECT_NE(json_field(*failed, "detail").value_or("").find("Too many open files"), std::string::npos) << *failed;
  const std::string text = scrape(gw.admin_port());
  EXPECT_EQ(sum_samples(text, "vmsgate_backend_failures_total", R"(reason="error")"), 1.0) << text;

  // Descriptors back: the next client is served as usual.
  EXPECT_TRUE(round_trip(gw.port("rec"), &why)) << why << "\n" << gw.log();
  EXPECT_TRUE(gw.proc().running());
}

TEST_F(Descriptors, OutOfDescriptorsAtAcceptPausesAndServesTheClientLater) {
  gateway& gw = *this->gw;
  std::string why;
  const std::size_t from = gw.proc().stderr_line_count();
  ASSERT_TRUE(leave_spare_descriptors(pid, 0));
  // The kernel completes the TCP connection from the backlog; the gateway cannot
  // accept it yet, and says so instead of spinning.
  bool served = false;
  std::thread client([&] { served = round_trip(gw.port("rec"), &why); });
  const auto refused = gw.wait_for_event("accept_failed", 5s, from);
  std::this_thread::sleep_for(500ms);
  const std::size_t failures = gw.events("accept_failed").size();
  ASSERT_TRUE(set_nofile(pid, original));
  client.join();
  ASSERT_TRUE(refused) << gw.log();
  EXPECT_NE(json_field(*refused, "detail").value_or("").find("Too many open files"), std::string::npos) << *refused;
  // Paused between tries (100 ms), not spinning: a handful of lines in half a second.
  EXPECT_LE(failures, 20u) << gw.log().substr(0, 4000);
  EXPECT_TRUE(served) << why << "\n" << gw.log();
  EXPECT_TRUE(gw.proc().running());
}

}  // namespace
}  // namespace vmsgate::test
