// The accept loop takes a reconnect storm's backlog in batches: after
// worker::accept_batch accepts in a row it lets the worker's other handlers run
// before it takes more, so that the handshakes already accepted progress while the
// queue is still full.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/net/route.hpp"
#include "proxy/net/worker.hpp"

namespace vmsgate::net_io {
namespace {

// Connections waiting in a listener's accept queue (tcpi_unacked of a LISTEN socket).
unsigned queued(tcp::acceptor& listener) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(listener.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.tcpi_unacked;
}

TEST(AcceptBatch, AFullBacklogIsTakenABatchAtATimeWithOtherWorkBetween) {
  // Two full batches and half of one more.
  constexpr std::uint64_t batch = worker::accept_batch;
  constexpr unsigned storm = 2 * batch + batch / 2;
  global_state global;
  worker w(0, global);
  tcp::acceptor listener = w.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const tcp::endpoint bound = listener.local_endpoint();

  // The storm queues in the kernel before the worker looks at the listener.
  net::io_context client_ioc;
  std::vector<tcp::socket> clients;
  for (unsigned i = 0; i < storm; ++i) clients.emplace_back(client_ioc).connect(bound);
  for (int i = 0; i < 200 && queued(listener) < storm; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(queued(listener), storm);

  // A route that refuses every connection at accept: each accept is counted and
  // closed at once, with no session to run.
  auto settings = std::make_shared<route_settings>();
  settings->name = "batch";
  settings->max_connections = 0;
  auto route = std::make_shared<worker_route>();
  route->settings = settings;
  route->shared = std::make_shared<route_shared>();
  route->counters = std::make_shared<route_counters>(0);
  const metrics::local_counter& accepted = route->counters->connections_refused;
  w.adopt(1, route_table::single(route), std::move(listener));

  // Another handler on the worker: each time it runs, it notes the count if any
  // connection has been taken, until all have.
  std::vector<std::uint64_t> seen;
  std::function<void()> probe = [&] {
    const std::uint64_t n = accepted.get();
    if (n > 0) seen.push_back(n);
    if (n < storm) {
      net::post(w.context(), probe);
    } else {
      w.context().stop();
    }
  };
  net::post(w.context(), probe);
  w.context().run_for(std::chrono::seconds(10));

  // One batch, two, then the rest: the other handler ran after each batch, and every
  // connection was taken in the end. Without the batch it sees only the last.
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{batch, 2 * batch, storm}));
}

}  // namespace
}  // namespace vmsgate::net_io
