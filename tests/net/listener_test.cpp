// The listener a worker binds: connections it accepts carry TCP_NODELAY from it
// (the session no longer sets it per connection), and a second worker can bind the
// same port (SO_REUSEPORT).

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "proxy/net/worker.hpp"

namespace vmsgate::net_io {
namespace {

TEST(Listener, AcceptedSocketsHaveNoDelayAndThePortIsShared) {
  global_state global;
  worker a(0, global);
  worker b(1, global);
  tcp::acceptor first = a.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const tcp::endpoint bound = first.local_endpoint();
  tcp::acceptor second = b.bind(bound);  // throws if the port cannot be shared
  EXPECT_EQ(second.local_endpoint(), bound);

  net::io_context ioc;
  tcp::socket client(ioc);
  client.connect(bound);
  // The kernel may hand the connection to either listener. Both are non-blocking
  // from bind (the accept loop's accept4 must not block).
  EXPECT_TRUE(first.non_blocking());
  EXPECT_TRUE(second.non_blocking());
  tcp::socket accepted(a.context());
  error_code ec;
  for (int i = 0; i < 200; ++i) {
    first.accept(accepted, ec);
    if (!ec) break;
    second.accept(accepted, ec);
    if (!ec) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(ec) << ec.message();
  int nodelay = 0;
  socklen_t len = sizeof nodelay;
  ASSERT_EQ(::getsockopt(accepted.native_handle(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_EQ(nodelay, 1) << "an accepted socket did not inherit TCP_NODELAY";
}

}  // namespace
}  // namespace vmsgate::net_io
