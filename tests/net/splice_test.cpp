// splice_pipe moves bytes between two TCP sockets inside the kernel: the kernel-TLS
// send path uses it with the TLS socket as the sink. Here the sink is a plain TCP
// socket (this machine's kernel has no TLS ULP), which exercises the same calls:
// integrity over many pipe-fulls, EAGAIN from an empty source and a full sink,
// the bound on what the pipe holds, and EOF.

#include "proxy/net/splice.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace vmsgate::net_io {
namespace {

struct fd {
  int v = -1;
  explicit fd(int x = -1) : v(x) {}
  fd(fd&& o) noexcept : v(o.v) { o.v = -1; }
  ~fd() {
    if (v >= 0) ::close(v);
  }
};

// A connected loopback TCP pair: {connecting side, accepted side}.
std::pair<fd, fd> tcp_pair() {
  fd l(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(l.v, reinterpret_cast<sockaddr*>(&a), len), 0);
  EXPECT_EQ(::listen(l.v, 1), 0);
  EXPECT_EQ(::getsockname(l.v, reinterpret_cast<sockaddr*>(&a), &len), 0);
  fd c(::socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_EQ(::connect(c.v, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  fd s(::accept(l.v, nullptr, nullptr));
  EXPECT_GE(s.v, 0);
  return {std::move(c), std::move(s)};
}

void set_nonblocking(int f) { ::fcntl(f, F_SETFL, ::fcntl(f, F_GETFL) | O_NONBLOCK); }

bool wait_for(int f, short events) {
  pollfd p{f, events, 0};
  return ::poll(&p, 1, 5000) == 1;
}

// Forwards `from` to `to` until EOF, as the session does: drain what the pipe holds
// first, then fill it; wait only after EAGAIN. Returns the bytes forwarded, or -1.
long long forward(splice_pipe& pipe, int from, int to, std::size_t* most_held) {
  long long total = 0;
  for (;;) {
    if (pipe.held() > 0) {
      const ssize_t n = pipe.drain(to);
      if (n > 0) {
        total += n;
        continue;
      }
      if (n < 0 && errno == EAGAIN && wait_for(to, POLLOUT)) continue;
      return -1;
    }
    const ssize_t n = pipe.fill(from);
    if (n > 0) {
      if (pipe.held() > *most_held) *most_held = pipe.held();
      continue;
    }
    if (n == 0) return total;
    if (errno == EAGAIN && wait_for(from, POLLIN)) continue;
    return -1;
  }
}

TEST(SplicePipe, ForwardsEveryByteInOrderAndEndsOnEof) {
  auto [src_writer, src] = tcp_pair();
  auto [dst, dst_reader] = tcp_pair();
  set_nonblocking(src.v);
  set_nonblocking(dst.v);
  constexpr std::size_t total = 16u << 20;
  std::vector<std::uint8_t> data(total);
  std::mt19937_64 rng(3);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());

  std::thread writer([&, w = src_writer.v] {
    std::size_t off = 0;
    while (off < total) {
      const ssize_t n = ::send(w, data.data() + off, std::min<std::size_t>(100000, total - off), MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
    ::shutdown(w, SHUT_WR);
  });
  std::vector<std::uint8_t> got;
  got.reserve(total);
  std::thread reader([&, r = dst_reader.v] {
    std::vector<std::uint8_t> buf(65536);
    for (;;) {
      const ssize_t n = ::recv(r, buf.data(), buf.size(), 0);
      if (n <= 0) return;
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    }
  });

  splice_pipe pipe;
  ASSERT_TRUE(pipe.open());
  std::size_t most_held = 0;
  const long long forwarded = forward(pipe, src.v, dst.v, &most_held);
  ::shutdown(dst.v, SHUT_WR);
  writer.join();
  reader.join();
  EXPECT_EQ(forwarded, static_cast<long long>(total));
  ASSERT_EQ(got.size(), total);
  EXPECT_TRUE(got == data) << "bytes changed or reordered on the way through the pipe";
  EXPECT_GT(most_held, 0u);
  EXPECT_LE(most_held, 64u * 1024u) << "the pipe held more than its bound";
}

// An empty source and a sink whose reader has stopped both say EAGAIN, never block,
// and the pipe keeps what it could not deliver.
TEST(SplicePipe, EmptySourceAndFullSinkSayEagain) {
  auto [src_writer, src] = tcp_pair();
  auto [dst, dst_reader] = tcp_pair();
  set_nonblocking(src.v);
  set_nonblocking(dst.v);
  splice_pipe pipe;
  ASSERT_TRUE(pipe.open());
  errno = 0;
  EXPECT_EQ(pipe.fill(src.v), -1);
  EXPECT_EQ(errno, EAGAIN);

  // Fill the sink's socket buffers (nobody reads dst_reader) through the pipe.
  std::thread writer([w = src_writer.v] {
    const std::vector<std::uint8_t> chunk(65536, 0x5a);
    for (int i = 0; i < 200; ++i)
      if (::send(w, chunk.data(), chunk.size(), MSG_NOSIGNAL) <= 0) return;
  });
  bool sink_full = false;
  for (int i = 0; i < 100000 && !sink_full; ++i) {
    if (pipe.held() == 0) {
      if (pipe.fill(src.v) < 0 && errno == EAGAIN) wait_for(src.v, POLLIN);
      continue;
    }
    const ssize_t n = pipe.drain(dst.v);
    sink_full = n < 0 && errno == EAGAIN;
  }
  EXPECT_TRUE(sink_full);
  EXPECT_GT(pipe.held(), 0u);
  ::shutdown(src_writer.v, SHUT_RDWR);
  ::shutdown(dst_reader.v, SHUT_RDWR);
  writer.join();
}

}  // namespace
}  // namespace vmsgate::net_io
