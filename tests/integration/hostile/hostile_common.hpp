#pragma once
// Helpers shared by the hostile-peer tests (hostile_*_test.cpp): a config with a
// route under attack beside a route for legitimate clients, raw TCP attackers, and
// the checks every attack ends with (a legitimate client is served, each stalled
// connection is closed by its deadline with the right `end`, memory comes back).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test::hostile {

using clock = std::chrono::steady_clock;

// The sanitizer builds (VMSGATE_TEST_SANITIZED=1) run several times slower, and
// ASan's quarantine holds freed memory on purpose: deadlines get more slack there,
// and RSS is recorded but not judged.
inline bool sanitized() {
  const char* s = std::getenv("VMSGATE_TEST_SANITIZED");
  return s != nullptr && *s != '\0' && *s != '0';
}
inline std::chrono::milliseconds slack(std::chrono::milliseconds normal) { return sanitized() ? normal * 3 : normal; }

// Two terminate routes: "attacked" in front of `attacked_backend`, "good" in front of
// `good_backend`, so that a backend-side attack leaves a route to measure service on.
struct config {
  unsigned workers = 2;
  std::string handshake_timeout = "2s";
  std::string connect_timeout = "1s";
  std::string idle_timeout = "2s";
  std::uint64_t max_connections = 50000;
  std::uint64_t attacked_max_connections = 0;  // 0: not set on the route
  std::uint64_t max_handshakes_per_source = 0;  // 0: not set
  std::string attacked_backend;
  std::string good_backend;

  std::string yaml() const {
    const test_pki& pki = shared_pki();
    const auto route = [&](const std::string& name, const std::string& backend, std::uint64_t max) {
      return "  - name: " + name + "\n    role: recording\n    mode: terminate\n    listen: \"127.0.0.1:0\"\n"
             "    server_names: [rec01.example.local]\n    cert: " + pki.rec01_cert.string() +
             "\n    key: " + pki.rec01_key.string() + "\n    backends: [\"" + backend + "\"]\n" +
             (max != 0 ? "    max_connections: " + std::to_string(max) + "\n" : std::string());
    };
    return "admin:\n  listen: \"127.0.0.1:0\"\nworkers: " + std::to_string(workers) +
           "\nlimits:\n  max_connections: " + std::to_string(max_connections) +
           "\n  max_handshakes_per_source: " + std::to_string(max_handshakes_per_source) +
           "\n  handshake_timeout: " + handshake_timeout + "\n  connect_timeout: " + connect_timeout +
           "\n  idle_timeout: " + idle_timeout + "\n  drain_timeout: 2s\nroles:\n  recording:\n    ca: " +
           pki.ca.string() + "\nroutes:\n" + route("attacked", attacked_backend, attacked_max_connections) +
           route("good", good_backend, 0);
  }
};

// A legitimate client is the shared verifying rec01 client (tests/support), with a
// shorter timeout by default: an attack test must not wait 20 s to learn it failed.
inline tls_options legit_client_options(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  tls_options o = rec01_client();
  o.timeout = timeout;
  return o;
}

// A blocking TCP connection to 127.0.0.1:port from `source` (another loopback
// address such as 127.0.0.2 stands for a second client); -1 on failure.
inline int raw_connect(std::uint16_t port, const char* source = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (source != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool send_bytes(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// True once the peer has closed `fd` (EOF or reset), discarding anything it sent
// first (an alert); false if it is still open when `deadline` passes.
inline bool closed_by(int fd, clock::time_point deadline) {
  char buf[4096];
  for (;;) {
    // Polled at least once even when the deadline has passed, so that a check made
    // late still sees a connection that was closed in time.
    const auto left = std::max<long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count());
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready > 0) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
    } else if (left == 0) {
      return false;
    }
  }
}

// Waits until every fd is closed by the gateway or `deadline` passes; returns how
// many were closed. Closes them all.
inline std::size_t count_closed_by(std::vector<int>& fds, clock::time_point deadline) {
  std::size_t closed = 0;
  for (int fd : fds) {
    if (closed_by(fd, deadline)) ++closed;
    ::close(fd);
  }
  fds.clear();
  return closed;
}

// One round trip through the "good" route; false with the reason in `why`.
inline bool legit_round_trip(std::uint16_t port, std::string* why = nullptr) {
  tls_client c;
  if (!c.connect(port, legit_client_options())) {
    if (why) *why = "connect: " + c.error();
    return false;
  }
  const auto r = echo_transfer(c, 64 * 1024);
  if (!r.ok && why) *why = "transfer: " + r.error;
  return r.ok;
}

// connection_closed lines of `route` whose end is `end`.
inline std::size_t closed_with(const gateway& gw, std::string_view route, std::string_view end) {
  std::size_t n = 0;
  for (const auto& line : gw.events("connection_closed"))
    if (json_field(line, "route") == route && json_field(line, "end") == end) ++n;
  return n;
}

// Waits until `route` has logged at least `want` connection_closed lines with `end`.
inline std::size_t wait_closed_with(const gateway& gw, std::string_view route, std::string_view end, std::size_t want,
                                    std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  std::size_t n = closed_with(gw, route, end);
  while (n < want && clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    n = closed_with(gw, route, end);
  }
  return n;
}

// The sum of a metric's samples whose line contains every one of `labels`
// (e.g. {"route=\"attacked\"", "reason=\"timeout\""}); -1 when none does.
inline double metric(std::uint16_t admin_port, std::string_view name, const std::vector<std::string>& labels) {
  std::string body;
  if (http_get(admin_port, "/metrics", &body) != 200) return -1;
  double total = -1;
  std::size_t at = 0;
  while (at < body.size()) {
    const std::size_t end = body.find('\n', at);
    const std::string_view line(body.data() + at, (end == std::string::npos ? body.size() : end) - at);
    at = end == std::string::npos ? body.size() : end + 1;
    if (!line.starts_with(name) || line.size() <= name.size() || (line[name.size()] != '{' && line[name.size()] != ' '))
      continue;
    bool all = true;
    for (const auto& l : labels) all = all && line.find(l) != std::string_view::npos;
    if (!all) continue;
    total = (total < 0 ? 0 : total) + std::stod(std::string(line.substr(line.rfind(' ') + 1)));
  }
  return total;
}

// RSS judged against a limit, except under the sanitizers (see sanitized()).
inline ::testing::AssertionResult rss_within(long rss_kib, long limit_kib) {
  if (sanitized() || rss_kib <= limit_kib) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "RSS " << rss_kib << " KiB over the limit of " << limit_kib << " KiB";
}

// RSS has come back near where it started: within `slack_kib` once the attack is over.
// glibc keeps some freed memory in its arenas, so "near", not "equal".
inline long settle_rss(process& p, long baseline_kib, long slack_kib, std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  long rss = p.rss_kib();
  while (rss > baseline_kib + slack_kib && clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    rss = p.rss_kib();
  }
  return rss;
}

}  // namespace vmsgate::test::hostile
