// `vmsgate demo`, the README's first command, end to end: it makes its PKI, starts
// the simulated site and three gateways, passes its own self-check (50 frames of
// live video through TLS, intact), prints how to connect, and on Ctrl-C (SIGINT)
// stops every process it started, removes its temporary directory and exits 0.
// --port-offset keeps it off the default ports and away from the ephemeral range.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

using namespace std::chrono_literals;

// The pids whose parent is `parent`.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return out;
}

bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

TEST(Demo, SelfCheckPassesAndCtrlCStopsEverything) {
  const int offset = 2000 + static_cast<int>(::getpid() % 40) * 100;
  process demo({VMSGATE_BINARY, "demo", "--port-offset", std::to_string(offset)});
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (demo.stdout_text().find("self-check:") == std::string::npos && demo.running() &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  const std::string out = demo.stdout_text();
  ASSERT_NE(out.find("self-check:"), std::string::npos) << out << "\n" << demo.stderr_text();
  // "self-check: camera 1 live from rec01 ... over TLSv1.3: 50 frames, 1016384 bytes, all intact"
  const std::string check = out.substr(out.find("self-check:"), out.find('\n', out.find("self-check:")) - out.find("self-check:"));
  ASSERT_NE(check.find(" bytes, all intact"), std::string::npos) << check;
  const auto frames_at = check.rfind(": ") + 2;
  EXPECT_GE(std::stoi(check.substr(frames_at)), 1) << check;
  // Wait for the guide (printed after the self-check) before stopping it.
  while (demo.stdout_text().find("openssl s_client") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  const std::string guide = demo.stdout_text();
  const auto dir_at = guide.find("/tmp/vmsgate-demo-");
  ASSERT_NE(dir_at, std::string::npos) << guide;
  const std::string dir = guide.substr(dir_at, guide.find_first_of("/ \n", dir_at + 18) - dir_at);
  ASSERT_TRUE(std::filesystem::exists(dir)) << dir;

  const std::vector<pid_t> started = children_of(demo.pid());
  EXPECT_GE(started.size(), 7u) << "four simulators and three gateways expected";
  demo.send_signal(SIGINT);
  const auto status = demo.wait_for_exit(60s);
  ASSERT_TRUE(status) << "the demo did not stop within 60 s of SIGINT";
  EXPECT_TRUE(status->exited && status->code == 0) << status->str() << "\n" << demo.stderr_text();
  EXPECT_NE(demo.stdout_text().find("stopping"), std::string::npos);
  for (const pid_t p : started) EXPECT_FALSE(alive(p)) << "pid " << p << " outlived the demo";
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir << ": temporary directory left behind";
}

}  // namespace
}  // namespace vmsgate::test
