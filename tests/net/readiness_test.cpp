// The pump relies on one property of Asio's async_wait: it completes when the socket
// is already readable, even if the edge that made it readable was reported before
// the wait began (Asio re-arms the descriptor with EPOLL_CTL_MOD for every wait, and
// the kernel then re-checks readiness). That is what lets a direction wait right
// after a short read instead of reading again for EAGAIN: bytes or a FIN that came
// with, or after, the short read still complete the wait. If a Boost upgrade broke
// this, sessions would hang at their end; this test fails first.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <string>

#include "proxy/common/asio.hpp"

namespace vmsgate {
namespace {

struct connected {
  net::io_context io;
  tcp::socket ours{io};
  tcp::socket peer{io};
  connected() {
    tcp::acceptor acc(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    peer.connect(acc.local_endpoint());
    acc.accept(ours);
    ours.non_blocking(true);
  }
  // Runs one async_wait for readability; true if it completed within the time.
  bool wait_readable(std::chrono::milliseconds limit) {
    bool done = false;
    ours.async_wait(tcp::socket::wait_read, [&](error_code ec) { done = !ec; });
    io.restart();
    io.run_for(limit);
    if (!done) {
      ours.cancel();
      io.restart();
      io.run();
    }
    return done;
  }
};

TEST(Readiness, AWaitAfterAShortReadSeesTheFinThatCameWithIt) {
  connected c;
  net::write(c.peer, net::buffer(std::string("abc")));
  c.peer.shutdown(tcp::socket::shutdown_send);
  // The edge for the bytes and the FIN is reported to a first wait...
  ASSERT_TRUE(c.wait_readable(std::chrono::seconds(2)));
  char buf[64];
  ASSERT_EQ(::recv(c.ours.native_handle(), buf, sizeof buf, 0), 3);  // a short read
  // ...and the FIN, never reported again as a new edge, still completes the next.
  EXPECT_TRUE(c.wait_readable(std::chrono::seconds(2))) << "a wait missed a pending FIN";
  EXPECT_EQ(::recv(c.ours.native_handle(), buf, sizeof buf, 0), 0);
}

TEST(Readiness, AWaitAfterAPartialReadSeesTheBytesLeft) {
  connected c;
  net::write(c.peer, net::buffer(std::string("firstsecond")));
  ASSERT_TRUE(c.wait_readable(std::chrono::seconds(2)));  // the one edge for all 11 bytes
  char buf[64];
  ASSERT_EQ(::recv(c.ours.native_handle(), buf, 5, 0), 5);
  EXPECT_TRUE(c.wait_readable(std::chrono::seconds(2))) << "a wait missed bytes already queued";
  EXPECT_EQ(::recv(c.ours.native_handle(), buf, sizeof buf, 0), 6);
}

TEST(Readiness, AWaitWithNothingToReadDoesNotComplete) {
  connected c;
  EXPECT_FALSE(c.wait_readable(std::chrono::milliseconds(200)));  // the test can fail
}

}  // namespace
}  // namespace vmsgate
