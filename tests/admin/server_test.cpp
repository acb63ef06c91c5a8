// The admin server on a real loopback socket, driven by a raw-socket client and curl.

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/admin/server.hpp"

namespace vmsgate::admin {
namespace {

using namespace std::chrono_literals;

// A server on 127.0.0.1:0 whose io_context runs on its own thread.
class running_server {
 public:
  explicit running_server(handlers h = {}, server_options opts = {})
      : server_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0), std::move(h), opts) {
    server_.start();  // queues the accept loop, so run() below has work
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~running_server() {
    stop();
  }
  void stop() {
    server_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  unsigned short port() const { return server_.local_endpoint().port(); }
  std::thread::id io_thread() const { return thread_.get_id(); }

 private:
  net::io_context ioc_{1};
  server server_;
  std::thread thread_;
};

// A blocking client with a 5 s receive timeout, so that a server that never
// answers or never closes fails the test instead of hanging it.
class raw_client {
 public:
  // `from`: a loopback address to connect from, so that one test can play many clients.
  explicit raw_client(unsigned short port, const std::string& from = "") : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (!from.empty()) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, from.c_str(), &local.sin_addr);
      if (::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) return;
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool connected() const { return connected_; }

  void send(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const auto n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) {
        return;  // the server may close early on an oversized request
      }
      done += static_cast<std::size_t>(n);
    }
  }

  // Reads until the server closes (true) or the receive timeout passes (false).
  bool read_until_close() {
    char buf[4096];
    for (;;) {
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        received_.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno == ECONNRESET) {
        return true;
      } else if (errno != EINTR) {
        return false;
      }
    }
  }

  // Reads until `marker` has been received, or the connection ends.
  bool read_until(const std::string& marker) {
    char buf[4096];
    while (received_.find(marker) == std::string::npos) {
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        return false;
      }
      received_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  const std::string& received() const { return received_; }

 private:
  int fd_;
  bool connected_ = false;
  std::string received_;
};

std::string get(const std::string& method, const std::string& target, bool close = true) {
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n";
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(AdminServer, HealthzAnswers200AndCloses) {
  running_server s;
  raw_client c(s.port());
  ASSERT_TRUE(c.connected());
  c.send(get("GET", "/healthz"));
  ASSERT_TRUE(c.read_until_close());
  EXPECT_EQ(c.received().rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << c.received();
  EXPECT_NE(c.received().find("Content-Length: 3\r\n"), std::string::npos);
  EXPECT_NE(c.received().find("\r\n\r\nok\n"), std::string::npos);
}

TEST(AdminServer, MetricsComeFromTheHandlerOnTheIoThread) {
  std::thread::id called_on;
  handlers h;
  h.metrics = [&called_on] {
    called_on = std::this_thread::get_id();
    return response{200, "text/plain; version=0.0.4; charset=utf-8", "vmsgate_up 1\n", {}};
  };
  running_server s(h);
  raw_client c(s.port());
  c.send(get("GET", "/metrics?x=1"));
  ASSERT_TRUE(c.read_until_close());
  EXPECT_EQ(c.received().rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << c.received();
  EXPECT_NE(c.received().find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(c.received().find("\r\n\r\nvmsgate_up 1\n"), std::string::npos);
  EXPECT_EQ(called_on, s.io_thread());
}

TEST(AdminServer, ReadyzWithoutHandlerIs503) {
  running_server s;
  raw_client c(s.port());
  c.send(get("GET", "/readyz"));
  ASSERT_TRUE(c.read_until_close());
  EXPECT_EQ(c.received().rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << c.received();
  EXPECT_NE(c.received().find("\r\n\r\nnot ready\n"), std::string::npos);
}

TEST(AdminServer, KeepAliveServesPipelinedRequests) {
  running_server s;
  raw_client c(s.port());
  c.send(get("GET", "/healthz", false) + get("GET", "/nope", false) + get("GET", "/healthz", true));
  ASSERT_TRUE(c.read_until_close());
  EXPECT_EQ(count(c.received(), "HTTP/1.1 200 OK\r\n"), 2u) << c.received();
  EXPECT_EQ(count(c.received(), "HTTP/1.1 404 Not Found\r\n"), 1u) << c.received();
}

TEST(AdminServer, HeadHasLengthButNoBody) {
  running_server s;
  raw_client c(s.port());
  c.send(get("HEAD", "/healthz"));
  ASSERT_TRUE(c.read_until_close());
  EXPECT_EQ(c.received().rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << c.received();
  EXPECT_NE(c.received().find("Content-Length: 3\r\n"), std::string::npos);
  EXPECT_EQ(c.received().substr(c.received().size() - 4), "\r\n\r\n");
}

TEST(AdminServer, OtherMethodIs405WithAllow) {
  running_server s;
  raw_client c(s.port());
  c.send("DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(c.read_until_close());
  EXPECT_EQ(c.received().rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << c.received();
  EXPECT_NE(c.received().find("Allow: GET, HEAD\r\n"), std::string::npos);
}

TEST(AdminServer, OversizedHeaderIs431OrClosed) {
  running_server s;
  raw_client c(s.port());
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(10000, 'a') + "\r\n\r\n");
  ASSERT_TRUE(c.read_until_close());
  // The 431 can be lost to the reset that closing with unread input causes.
  if (!c.received().empty()) {
    EXPECT_EQ(c.received().rfind("HTTP/1.1 431 ", 0), 0u) << c.received();
  }
  EXPECT_EQ(c.received().find("ok\n"), std::string::npos);
}

TEST(AdminServer, RequestBodyIsRefused) {
  running_server s;
  raw_client c(s.port());
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(c.read_until_close());
  if (!c.received().empty()) {
    EXPECT_EQ(c.received().rfind("HTTP/1.1 413 ", 0), 0u) << c.received();
  }
}

TEST(AdminServer, GarbageIs400AndClosed) {
  running_server s;
  raw_client c(s.port());
  c.send("NOT HTTP AT ALL\r\n\r\n");
  ASSERT_TRUE(c.read_until_close());
  if (!c.received().empty()) {
    EXPECT_EQ(c.received().rfind("HTTP/1.1 400 ", 0), 0u) << c.received();
  }
}

TEST(AdminServer, SilentClientIsClosedAfterTheDeadline) {
  server_options opts;
  opts.idle_timeout = 200ms;
  running_server s({}, opts);
  raw_client c(s.port());
  ASSERT_TRUE(c.connected());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.read_until_close()) << "not closed within the 5 s receive timeout";
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  EXPECT_TRUE(c.received().empty());
}

TEST(AdminServer, IdleKeepAliveIsClosedAfterTheDeadline) {
  server_options opts;
  opts.idle_timeout = 200ms;
  running_server s({}, opts);
  raw_client c(s.port());
  c.send(get("GET", "/healthz", false));
  ASSERT_TRUE(c.read_until("ok\n"));
  EXPECT_TRUE(c.read_until_close());
}

TEST(AdminServer, StopClosesOpenConnections) {
  auto s = std::make_unique<running_server>();
  raw_client c(s->port());
  c.send(get("GET", "/healthz", false));
  ASSERT_TRUE(c.read_until("ok\n"));  // the connection is open and waiting for more
  s->stop();                          // returns only once the io thread has no work left
  EXPECT_TRUE(c.read_until_close());
  raw_client late(s->port());
  EXPECT_FALSE(late.connected());
}

// Issue 32, finding 2: 64 idle connections used to fill every slot, and each
// /healthz probe after them was refused (the kubelet then restarts the pod). Now the
// oldest idle connection makes room: 200 held open, the probe is still answered.
TEST(AdminServer, TwoHundredIdleConnectionsDoNotStarveHealthz) {
  running_server s;
  std::vector<std::unique_ptr<raw_client>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<raw_client>(s.port()));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  for (int probe = 0; probe < 3; ++probe) {
    raw_client c(s.port());
    c.send(get("GET", "/healthz"));
    EXPECT_TRUE(c.read_until("ok\n")) << "probe " << probe << " after 200 idle connections: " << c.received();
  }
}

// The same from many addresses (127.0.0.0/8 is all loopback): the global cap, not
// the per-source one, is what fills, and the oldest idle connection still yields.
TEST(AdminServer, IdleConnectionsFromManySourcesDoNotStarveHealthz) {
  server_options opts;
  opts.max_connections = 16;
  running_server s({}, opts);
  std::vector<std::unique_ptr<raw_client>> idle;
  for (int i = 0; i < 40; ++i) {
    idle.push_back(std::make_unique<raw_client>(s.port(), "127.0.1." + std::to_string(i + 1)));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  raw_client c(s.port(), "127.0.2.1");
  c.send(get("GET", "/healthz"));
  EXPECT_TRUE(c.read_until("ok\n")) << c.received();
  // The first ones were closed to make room, the last 15 are still open.
  EXPECT_TRUE(idle.front()->read_until_close());
  EXPECT_TRUE(idle.front()->received().empty());
}

// One address holding more than its share loses its own oldest idle connection,
// not another client's.
TEST(AdminServer, OneSourceLosesItsOwnOldestIdleConnectionFirst) {
  server_options opts;
  opts.max_connections = 8;
  opts.max_connections_per_source = 2;
  running_server s({}, opts);
  raw_client other(s.port(), "127.0.3.1");
  ASSERT_TRUE(other.connected());
  raw_client a1(s.port(), "127.0.3.2");
  raw_client a2(s.port(), "127.0.3.2");
  raw_client a3(s.port(), "127.0.3.2");
  a3.send(get("GET", "/healthz"));
  EXPECT_TRUE(a3.read_until("ok\n")) << a3.received();
  EXPECT_TRUE(a1.read_until_close()) << "the source's oldest idle connection was not closed";
  // `other` is still open: it answers a request.
  other.send(get("GET", "/healthz"));
  EXPECT_TRUE(other.read_until("ok\n")) << other.received();
}

// A connection being answered is never closed to make room; the new one is refused
// instead when nothing idle is left. "Being answered": a 32 MiB body to a client
// that does not read yet, so the write waits on a full socket.
TEST(AdminServer, BusyConnectionsAreNotEvicted) {
  const std::string big(32 * 1024 * 1024, 'm');
  handlers h;
  h.metrics = [&] { return response{200, "text/plain", big, ""}; };
  server_options opts;
  opts.max_connections = 1;
  running_server s(h, opts);
  raw_client busy(s.port());
  busy.send(get("GET", "/metrics"));
  std::this_thread::sleep_for(300ms);  // the answer fills the socket buffers and waits
  raw_client second(s.port());
  second.send(get("GET", "/healthz"));
  EXPECT_TRUE(second.read_until_close());
  EXPECT_TRUE(second.received().empty()) << "the busy connection was evicted: " << second.received().substr(0, 40);
  EXPECT_TRUE(busy.read_until_close());
  EXPECT_GE(busy.received().size(), big.size()) << "the busy answer was cut";
}

TEST(AdminServer, BindingAnAddressInUseThrows) {
  running_server s;
  net::io_context ioc;
  const tcp::endpoint taken(net::ip::make_address("127.0.0.1"), s.port());
  EXPECT_THROW(server(ioc, taken, {}), boost::system::system_error);
}

TEST(AdminServer, CurlGetsHealthz) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) {
    FAIL() << "curl not installed (scripts/install-deps.sh installs it)";
  }
  running_server s;
  const std::string cmd =
      "curl -sS --max-time 5 -w ' %{http_code}' http://127.0.0.1:" + std::to_string(s.port()) + "/healthz";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
  ASSERT_TRUE(pipe);
  std::string out;
  char buf[256];
  while (const auto n = std::fread(buf, 1, sizeof buf, pipe.get())) {
    out.append(buf, n);
  }
  EXPECT_EQ(out, "ok\n 200");
}

}  // namespace
}  // namespace vmsgate::admin
