// A log reader that stops reading must not stall a single stream (issue 32,
// finding 8). Each connection's closing line used to be a blocking write(2) on the
// worker that served it: once the reader of stderr fell a pipe's worth behind
// (about 160 lines), that worker stopped, and every stream on it with it. Now lines
// go through a bounded queue to a writer thread, and are dropped (and counted)
// rather than waited for.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"

namespace vmsgate::test {
namespace {

// Reads `fd` until a line with "event":"ready" arrives; returns what was read.
std::string read_until_ready(int fd, std::chrono::milliseconds timeout) {
  std::string text;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (text.find("\"event\":\"ready\"") == std::string::npos && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

// The port in the first line of `event` in `text` ("address":"127.0.0.1:PORT").
std::uint16_t port_in(const std::string& text, std::string_view event) {
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    const std::string_view l(text.data() + start, (end == std::string::npos ? text.size() : end) - start);
    if (is_event(l, event))
      if (const auto a = json_field(l, "address"))
        if (const auto p = port_of(*a)) return *p;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return 0;
}

TEST(LogStall, AStalledLogReaderDoesNotStallConnections) {
  echo_server echo;
  gateway_config cfg;
  cfg.workers = 1;  // every connection on the one worker a blocking write would stop
  cfg.backends = {echo.address()};
  temp_dir dir("vmsgate-logstall");
  const auto config = dir.write_file("vmsgate.yaml", cfg.yaml());
  const auto fifo = dir.path() / "stderr.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int fd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  process gw({"/bin/sh", "-c",
              "exec " + shell_quote(VMSGATE_BINARY) + " run --config " + shell_quote(config.string()) + " 2>" +
                  shell_quote(fifo.string())});
  const std::string start = read_until_ready(fd, 20s);
  const std::uint16_t port = port_in(start, "listening");
  const std::uint16_t admin = port_in(start, "admin_listening");
  ASSERT_NE(port, 0) << start << gw.stderr_text();
  ASSERT_NE(admin, 0) << start;
  // From here on nobody reads the gateway's stderr. 600 connections log 600 lines,
  // several pipes' worth.
  const auto began = std::chrono::steady_clock::now();
  int served = 0;
  for (int i = 0; i < 600; ++i) {
    tls_client c;
    auto o = rec01_client();
    o.timeout = 5s;
    if (!c.connect(port, o)) {
      ADD_FAILURE() << "connection " << i << " after the log reader stalled: " << c.error();
      break;
    }
    const auto r = echo_transfer(c, 256, static_cast<std::uint64_t>(i));
    if (!r.ok) {
      ADD_FAILURE() << "connection " << i << ": " << r.error;
      break;
    }
    ++served;
  }
  EXPECT_EQ(served, 600);
  ::testing::Test::RecordProperty(
      "seconds_for_600_connections",
      std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count()));
  std::string metrics;
  EXPECT_EQ(http_get(admin, "/metrics", &metrics, 5s), 200);
  EXPECT_TRUE(sample(metrics, "vmsgate_log_lines_dropped_total").has_value()) << metrics.substr(0, 200);
  gw.kill();
  ::close(fd);
}

}  // namespace
}  // namespace vmsgate::test
