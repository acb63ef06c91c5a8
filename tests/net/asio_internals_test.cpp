// What proxy/net/asio_internals.hpp relies on in Asio (the numbers refer to its header
// comment), so that a Boost upgrade that moved any of it fails here first, with a
// message saying what to re-check. tests/net/edge_wait_test.cpp pins the edge wait
// built on it (the speculative start_op and the exhausted mark: 3; the wait after a
// reset that came with the last bytes: 2 and 5; a terminal cancellation: 4), and
// tests/net/sockets_test.cpp the listener's wait (7); neither is repeated here.

#include "proxy/net/asio_internals.hpp"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/version.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "proxy/net/edge_wait.hpp"
#include "proxy/net/sockets.hpp"

namespace vmsgate::net_io {
namespace {

using namespace std::chrono_literals;

constexpr const char* recheck =
    "; re-check each item of proxy/net/asio_internals.hpp's header comment against this Boost's "
    "boost/asio/detail and boost/asio/basic_socket*.hpp";

TEST(AsioInternals, BoostIsTheVersionTheFileWasWrittenAgainst) {
  EXPECT_EQ(BOOST_VERSION, asio_internals::written_for_boost)
      << "Boost is " << BOOST_LIB_VERSION << recheck
      << ", run test_net, then set asio_internals::written_for_boost to BOOST_VERSION";
}

TEST(AsioInternals, TheReactorIsEpollAndItsDescriptorStateIsAnOperation) {
  EXPECT_TRUE(asio_internals::reactor_is_epoll) << "asio_reactor is not the epoll reactor (1)" << recheck;
  EXPECT_TRUE(asio_internals::descriptor_state_is_an_operation)
      << "per_descriptor_data is no longer a descriptor_state* derived from scheduler_operation, whose "
         "task_result_ hung_up() reads (2)"
      << recheck;
}

// Whether descriptor number `fd` is in the interest list of an epoll instance of this
// process, as /proc/self/fdinfo shows it (a "tfd:" line per registered descriptor).
bool in_an_epoll_set(int fd) {
  namespace fs = std::filesystem;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (fs::read_symlink(entry.path(), ec) != "anon_inode:[eventpoll]" || ec) continue;
    std::ifstream info("/proc/self/fdinfo/" + entry.path().filename().string());
    for (std::string line; std::getline(info, line);) {
      int registered = -1;
      if (std::sscanf(line.c_str(), "tfd: %d", &registered) == 1 && registered == fd) return true;
    }
  }
  return false;
}

// Closes `s` while a duplicate of its descriptor keeps the file open: epoll then
// forgets the descriptor only if Asio deleted it with EPOLL_CTL_DEL. Whether it is
// still registered after the close. (The io_context must not run meanwhile: epoll
// would report the file's events for Asio's freed descriptor state.)
bool still_registered_after_close(tcp::socket& s) {
  const int number = s.native_handle();
  EXPECT_TRUE(in_an_epoll_set(number)) << "Asio no longer registers a socket with epoll when it takes it";
  const int held = ::dup(number);
  EXPECT_GE(held, 0);
  s.close();
  const bool registered = in_an_epoll_set(number);
  ::close(held);
  return registered;
}

// 6: a socket of our own making is non-blocking for Asio, and closing it is one
// close(2), with no epoll_ctl: Asio is told it is no duplicate.
TEST(AsioInternals, AnAdoptedSocketIsNonBlockingForAsioAndClosesWithoutEpollCtl) {
  net::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  acceptor.non_blocking(true);

  // The probe tells the two closes apart: a socket taken with assign() may be a
  // duplicate, and Asio takes it out of epoll before it closes it.
  tcp::socket assigned(io);
  assigned.assign(tcp::v4(), ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_FALSE(still_registered_after_close(assigned))
      << "closing an assigned socket no longer deletes it from epoll: possible_dup means something else now"
      << recheck;

  tcp::socket opened(io);
  ASSERT_FALSE(open_socket(opened, tcp::v4()));
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  tcp::socket accepted(io);
  tcp::endpoint peer;
  ASSERT_EQ(accept_socket(acceptor, accepted, peer), 0);

  for (tcp::socket* s : {&opened, &accepted}) {
    const char* which = s == &opened ? "open_socket" : "accept_socket";
    EXPECT_TRUE(s->non_blocking()) << which << ": user_set_non_blocking no longer makes non_blocking() true" << recheck;
    EXPECT_TRUE(s->native_non_blocking())
        << which << ": internal_non_blocking no longer makes native_non_blocking() true (Asio would ioctl)" << recheck;
    EXPECT_TRUE(still_registered_after_close(*s))
        << which << ": its close took it out of epoll, an epoll_ctl per socket: possible_dup is no longer the flag "
        << "that asks for it, or assign() sets another" << recheck;
  }
}

// Two sockets connected over loopback; `ours` has been read until EAGAIN.
struct connected {
  net::io_context io;
  tcp::socket ours{io};
  tcp::socket peer{io};
  asio_reactor& reactor = reactor_of(io);
  connected() {
    tcp::acceptor acc(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    peer.connect(acc.local_endpoint());
    acc.accept(ours);
    ours.non_blocking(true);
    drain();
  }
  void drain() {
    char buf[64];
    while (::recv(ours.native_handle(), buf, sizeof buf, 0) > 0) {
    }
  }
  // Queues an edge wait told that `ours` was just drained, and lets 50 ms pass.
  void queue_wait(std::optional<error_code>& got, bool* hangup = nullptr, net::cancellation_slot slot = {}) {
    async_wait_edge(ours, reactor, net::bind_cancellation_slot(slot, [&got](error_code ec) { got = ec; }),
                    /*drained_just_now=*/true, hangup);
    io.restart();
    io.run_for(50ms);
  }
  void run_for(std::chrono::milliseconds t) {
    io.restart();
    io.run_for(t);
  }
};

// 2: the descriptor state's task_result_ holds the events of the wake-up that ran the
// wait. edge_wait_test.cpp pins a reset that came before the wait was queued; this
// one comes while the wait sleeps, and a wake-up for bytes alone notes nothing.
TEST(AsioInternals, TheWakeUpThatRunsTheWaitTellsBytesFromAReset) {
  connected c;
  bool hangup = false;
  std::optional<error_code> got;
  c.queue_wait(got, &hangup);
  ASSERT_FALSE(got.has_value());
  net::write(c.peer, net::buffer(std::string("x")));
  c.run_for(2s);
  ASSERT_EQ(got, std::optional<error_code>(error_code()));
  EXPECT_NE(asio_internals::last_wakeup_events(c.ours) & EPOLLIN, 0u)
      << "task_result_ no longer holds the epoll events of the descriptor's last wake-up (2)" << recheck;
  EXPECT_FALSE(hangup) << "a wake-up for bytes alone was noted as a hang-up (2)" << recheck;
  c.drain();

  got.reset();
  c.queue_wait(got, &hangup);
  ASSERT_FALSE(got.has_value());
  const linger abort{1, 0};
  ASSERT_EQ(::setsockopt(c.peer.native_handle(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
  c.peer.close();  // a reset
  c.run_for(2s);
  ASSERT_EQ(got, std::optional<error_code>(error_code()));
  EXPECT_NE(asio_internals::last_wakeup_events(c.ours) & (EPOLLERR | EPOLLHUP), 0u)
      << "task_result_ no longer holds EPOLLERR/EPOLLHUP after a reset (2)" << recheck;
  EXPECT_TRUE(hangup) << "a reset while the wait slept was not noted (2)" << recheck;
}

// 4: every kind of cancellation aborts the wait (edge_wait_test.cpp pins a terminal
// one), and only the wait whose key it is: an async_wait on the same socket goes on.
TEST(AsioInternals, ACancellationAbortsTheEdgeWaitAndNothingElseOnTheSocket) {
  for (const auto type : {net::cancellation_type::terminal, net::cancellation_type::partial,
                          net::cancellation_type::total}) {
    connected c;
    std::optional<error_code> other;
    c.ours.async_wait(tcp::socket::wait_read, [&](error_code ec) { other = ec; });
    net::cancellation_signal signal;
    std::optional<error_code> got;
    c.queue_wait(got, nullptr, signal.slot());
    ASSERT_FALSE(got.has_value());
    ASSERT_FALSE(other.has_value());
    signal.emit(type);
    c.run_for(50ms);
    EXPECT_EQ(got, std::optional<error_code>(net::error::operation_aborted))
        << "cancellation type " << static_cast<int>(type) << " did not abort the edge wait (4)" << recheck;
    EXPECT_FALSE(other.has_value()) << "cancel_ops_by_key cancelled more than the operation of its key (4)" << recheck;
    net::write(c.peer, net::buffer(std::string("x")));
    c.run_for(2s);
    EXPECT_EQ(other, std::optional<error_code>(error_code()));
  }
}

// 7: the acceptor's private implementation object is the one that holds the
// listener's reactor entry: an edge wait on it sleeps until a client connects.
TEST(AsioInternals, AnEdgeWaitOnTheAcceptorsImplementationCompletesWhenAClientConnects) {
  net::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  acceptor.non_blocking(true);
  std::optional<error_code> got;
  async_wait_edge_on(acceptor_implementation(acceptor), reactor_of(io), [&](error_code ec) { got = ec; },
                     /*drained_just_now=*/true);
  io.run_for(100ms);
  EXPECT_FALSE(got.has_value()) << "woke with no connection queued";
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  io.restart();
  io.run_for(2s);
  EXPECT_EQ(got, std::optional<error_code>(error_code()))
      << "the wait did not see the listener's connection: acceptor_implementation() reaches something else (7)"
      << recheck;
}

}  // namespace
}  // namespace vmsgate::net_io

namespace vmsgate::net_io {
namespace {

// 2 and 6: Asio hands a closed socket's reactor entry to the next socket registered,
// with the events of its last wake-up still in it. A socket accepted after one that
// was reset must not start with that reset's EPOLLHUP (its first edge wait would then
// complete at once for nothing): adopting it forgets them.
TEST(AsioInternals, ASocketAcceptedAfterOneThatWasResetStartsWithNoEvents) {
  net::io_context io;
  asio_reactor& reactor = reactor_of(io);
  tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  acceptor.non_blocking(true);
  auto accept_one = [&](tcp::socket& client, tcp::socket& out) {
    client.connect(acceptor.local_endpoint());
    tcp::endpoint peer;
    for (int i = 0; i < 100 && accept_socket(acceptor, out, peer) != 0; ++i) std::this_thread::sleep_for(5ms);
    return out.is_open();
  };
  tcp::socket first_client(io);
  tcp::socket first(io);
  ASSERT_TRUE(accept_one(first_client, first));
  bool hangup = false;
  std::optional<error_code> got;
  async_wait_edge(first, reactor, [&got](error_code ec) { got = ec; }, /*drained_just_now=*/true, &hangup);
  const linger abort{1, 0};
  ASSERT_EQ(::setsockopt(first_client.native_handle(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
  first_client.close();  // a reset
  io.run_for(2s);
  ASSERT_TRUE(got.has_value());
  ASSERT_NE(asio_internals::last_wakeup_events(first) & (EPOLLERR | EPOLLHUP), 0u) << recheck;
  const auto* entry = socket_implementation(first).get_implementation().reactor_data_;
  tcp::socket second_client(io);
  second_client.open(tcp::v4());  // registered before the entry is freed: the next socket gets it
  first.close();

  tcp::socket second(io);
  ASSERT_TRUE(accept_one(second_client, second));
  ASSERT_EQ(socket_implementation(second).get_implementation().reactor_data_, entry)
      << "Asio no longer reuses a closed descriptor's reactor entry: this test no longer exercises the reuse" << recheck;
  EXPECT_EQ(asio_internals::last_wakeup_events(second), 0u)
      << "a new socket inherited the last wake-up's events of the socket that had its reactor entry before";
}

}  // namespace
}  // namespace vmsgate::net_io
