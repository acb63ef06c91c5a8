// The sockets the workers make themselves (sockets.hpp): accept4 and socket(2) with
// SOCK_NONBLOCK | SOCK_CLOEXEC, adopted by Asio without an ioctl, and a listener that
// waits for its next connection with async_wait_edge.

#include "proxy/net/sockets.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>

#include "proxy/net/edge_wait.hpp"

namespace vmsgate::net_io {
namespace {

using namespace std::chrono_literals;

bool has_flag(int fd, int cmd, int flag) { return (::fcntl(fd, cmd) & flag) != 0; }

struct listening {
  net::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
  asio_reactor& reactor = reactor_of(io);
  listening() { acceptor.non_blocking(true); }
};

void expect_ours(tcp::socket& s) {
  ASSERT_TRUE(s.is_open());
  EXPECT_TRUE(has_flag(s.native_handle(), F_GETFL, O_NONBLOCK));
  EXPECT_TRUE(has_flag(s.native_handle(), F_GETFD, FD_CLOEXEC));
  EXPECT_TRUE(s.non_blocking()) << "Asio must know, or the session sets it again with an ioctl";
}

TEST(Sockets, AcceptTakesAQueuedConnectionNonBlockingAndCloseOnExec) {
  listening l;
  tcp::socket ours(l.io);
  tcp::endpoint peer;
  EXPECT_EQ(accept_socket(l.acceptor, ours, peer), EAGAIN);
  EXPECT_FALSE(ours.is_open());

  tcp::socket client(l.io);
  client.connect(l.acceptor.local_endpoint());
  ASSERT_EQ(accept_socket(l.acceptor, ours, peer), 0);
  expect_ours(ours);
  EXPECT_EQ(peer, client.local_endpoint());
  EXPECT_EQ(ours.remote_endpoint(), client.local_endpoint());

  // The descriptor carries bytes both ways.
  net::write(client, net::buffer(std::string("ping")));
  char buf[8];
  EXPECT_EQ(net::read(ours, net::buffer(buf, 4)), 4u);
  EXPECT_EQ(std::string(buf, 4), "ping");
}

TEST(Sockets, OpenMakesANonBlockingCloseOnExecSocketThatConnects) {
  listening l;
  tcp::socket ours(l.io);
  ASSERT_FALSE(open_socket(ours, tcp::v4()));
  expect_ours(ours);
  const int step = ::connect(ours.native_handle(), l.acceptor.local_endpoint().data(),
                             static_cast<socklen_t>(l.acceptor.local_endpoint().size()));
  EXPECT_TRUE(step == 0 || errno == EINPROGRESS) << std::strerror(errno);
  l.acceptor.non_blocking(false);
  tcp::socket theirs(l.io);
  l.acceptor.accept(theirs);
  EXPECT_EQ(theirs.remote_endpoint(), ours.local_endpoint());
}

// The listener's wait: an accept that said EAGAIN drained the queue, and the next
// connection completes the wait; closing the listener ends it.
TEST(Sockets, ListenerWaitsForTheNextConnectionAndEndsWhenClosed) {
  listening l;
  tcp::socket ours(l.io);
  tcp::endpoint peer;
  ASSERT_EQ(accept_socket(l.acceptor, ours, peer), EAGAIN);
  std::optional<error_code> got;
  auto wait = [&]() -> net::awaitable<void> { got = co_await wait_for_connection(l.acceptor, l.reactor); };
  net::co_spawn(l.io, wait(), net::detached);
  l.io.run_for(100ms);
  EXPECT_FALSE(got.has_value()) << "woke with no connection queued";

  tcp::socket client(l.io);
  client.connect(l.acceptor.local_endpoint());
  l.io.restart();
  l.io.run_for(2s);
  ASSERT_EQ(got, std::optional<error_code>(error_code()));
  EXPECT_EQ(accept_socket(l.acceptor, ours, peer), 0);
  EXPECT_EQ(peer, client.local_endpoint());

  got.reset();
  tcp::socket next(l.io);
  EXPECT_EQ(accept_socket(l.acceptor, next, peer), EAGAIN);
  net::co_spawn(l.io, wait(), net::detached);
  l.io.restart();
  l.io.run_for(50ms);
  l.acceptor.close();
  l.io.restart();
  l.io.run_for(2s);
  EXPECT_EQ(got, std::optional<error_code>(net::error::operation_aborted));
}

// Asio is told an adopted descriptor is no duplicate, so its close is a bare
// close(2) that leaves epoll to forget it. The descriptor number comes back at the
// next accept; the reactor must see the new socket's events, not the old one's.
TEST(Sockets, AClosedSocketsNumberServesTheNextOne) {
  listening l;
  tcp::endpoint peer;
  tcp::socket first(l.io);
  tcp::socket client1(l.io);
  client1.connect(l.acceptor.local_endpoint());
  ASSERT_EQ(accept_socket(l.acceptor, first, peer), 0);
  const int number = first.native_handle();
  char buf[4];
  ASSERT_TRUE(receive_noting_rest(number, buf, sizeof buf).drained);
  std::optional<error_code> old_wait;
  async_wait_edge(first, l.reactor, [&](error_code ec) { old_wait = ec; }, /*drained_just_now=*/true);
  l.io.run_for(50ms);
  tcp::socket client2(l.io);  // its own descriptor taken before `first` frees one
  client2.connect(l.acceptor.local_endpoint());
  first.close();
  l.io.restart();
  l.io.run_for(50ms);
  EXPECT_EQ(old_wait, std::optional<error_code>(net::error::operation_aborted));

  tcp::socket second(l.io);
  ASSERT_EQ(accept_socket(l.acceptor, second, peer), 0);
  ASSERT_EQ(second.native_handle(), number);
  ASSERT_TRUE(receive_noting_rest(number, buf, sizeof buf).drained);
  std::optional<error_code> got;
  async_wait_edge(second, l.reactor, [&](error_code ec) { got = ec; }, true);
  l.io.restart();
  l.io.run_for(50ms);
  EXPECT_FALSE(got.has_value()) << "woke for the closed socket's state";
  net::write(client2, net::buffer(std::string("x")));
  l.io.restart();
  l.io.run_for(2s);
  EXPECT_EQ(got, std::optional<error_code>(error_code()));
}

TEST(Sockets, PerConnectionAcceptErrorsAreTransientAndResourceErrorsAreNot) {
  EXPECT_TRUE(accept_error_is_transient(ECONNABORTED));
  EXPECT_TRUE(accept_error_is_transient(EINTR));
  EXPECT_TRUE(accept_error_is_transient(EPROTO));
  EXPECT_FALSE(accept_error_is_transient(EMFILE));
  EXPECT_FALSE(accept_error_is_transient(ENFILE));
  EXPECT_FALSE(accept_error_is_transient(ENOMEM));
  EXPECT_FALSE(accept_error_is_transient(EAGAIN));
  EXPECT_FALSE(accept_error_is_transient(0));
}

}  // namespace
}  // namespace vmsgate::net_io
