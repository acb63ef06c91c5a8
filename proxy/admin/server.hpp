#pragma once
// The admin HTTP server: /metrics, /healthz and /readyz on a loopback or
// management address. Beast stays in server.cpp so that the layers that only
// start and stop the server compile without it.

#include <chrono>
#include <cstddef>
#include <memory>

#include "proxy/admin/route.hpp"
#include "proxy/common/asio.hpp"

namespace vmsgate::admin {

namespace detail {
struct server_state;
}

// The admin endpoint must answer the liveness probe whatever else is connected: a
// probe refused a few times in a row gets the pod restarted, and every video stream
// on it cut. So connections are budgeted, and a new one is never refused while an
// older one sits waiting for a request: the oldest such idle connection is closed to
// make room, first among the new connection's own address, then among all.
struct server_options {
  // How long a connection may wait for a whole request header, counted from its
  // accept or its previous answer: a short idle deadline, so that held-open
  // connections give their slot back soon even without the eviction below.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(5)};
  // Deadline for writing one answer.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
  // Requests are a request line and a few headers; more is a mistake or abuse.
  std::size_t header_limit = 8 * 1024;
  // Scrapers and probes need a handful; the cap keeps a misbehaving client from
  // taking file descriptors the data path needs.
  std::size_t max_connections = 64;
  // Per client address (IPv4-mapped IPv6 counts as IPv4): one address holding many
  // connections closes its own oldest idle ones, not other clients'.
  std::size_t max_connections_per_source = 8;
};

// Runs on one io_context, which must be run by a single thread: connections and
// handlers are then never concurrent and need no locks. The server must be
// destroyed before its io_context.
class server {
 public:
  // Opens, binds and listens here, so that a bad address fails at start-up;
  // throws boost::system::system_error on failure.
  server(net::io_context& ioc, const tcp::endpoint& where, handlers h, server_options opts = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // The bound address, with the real port when `where` asked for port 0.
  tcp::endpoint local_endpoint() const;

  // Spawns the accept loop on the io_context; does nothing after stop().
  void start();

  // Closes the acceptor and every open admin connection. Safe to call from any
  // thread and more than once; the work is done on the io_context's thread.
  void stop();

 private:
  // Shared with the coroutines, so that a connection still finishing when the
  // server object goes away never touches freed memory.
  std::shared_ptr<detail::server_state> state_;
  tcp::endpoint local_;
};

}  // namespace vmsgate::admin
