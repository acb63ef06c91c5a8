#pragma once
// A worker: one thread, one io_context, its own acceptors, buffers and counters.
// A connection is accepted, served and closed on one worker and never leaves it, so
// the data path takes no lock and shares no cache line with another thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "proxy/common/asio.hpp"
#include "proxy/net/buffer_pool.hpp"
#include "proxy/net/edge_wait.hpp"
#include "proxy/net/route.hpp"
#include "proxy/net/source_limiter.hpp"

namespace vmsgate::net_io {

class session;

// Which connections get their closing line (log.connections).
enum class connection_log : std::uint8_t { all, errors, none };

// Limits that span all workers: touched once per connection, never per buffer.
struct global_state {
  std::atomic<connection_log> connection_lines{connection_log::all};  // a reload may change it
  std::atomic<std::uint64_t> active{0};
  std::atomic<std::uint64_t> max_connections{50'000};  // a reload may change it
  source_limiter handshakes_per_source;                // limits.max_handshakes_per_source
};

class worker {
 public:
  // A reconnect storm fills the backlog: after this many accepts in a row the
  // accept loop lets the worker's other handlers run before it takes more.
  static constexpr int accept_batch = 16;

  worker(unsigned index, global_state& global);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  unsigned index() const noexcept { return index_; }
  net::io_context& context() noexcept { return ioc_; }
  asio_reactor& reactor() noexcept { return reactor_; }
  buffer_pool& pool() noexcept { return pool_; }
  global_state& global() noexcept { return global_; }

  // Opens, binds and listens on the calling thread (SO_REUSEPORT, so every worker
  // can bind the same port), so that an error reaches the caller; until adopted,
  // connections wait in the kernel's backlog. Throws boost::system::system_error.
  tcp::acceptor bind(const tcp::endpoint& where);
  // Thread-safe: the worker starts accepting on `acceptor` for the routes of
  // `table`; `id` names the listener for update and close.
  void adopt(std::uint64_t id, std::shared_ptr<const route_table> table, tcp::acceptor acceptor);

  // Thread-safe: new connections on listener `id` use `table` (a reload); those
  // already open keep the route they started with.
  void update(std::uint64_t id, std::shared_ptr<const route_table> table);
  // Thread-safe: stop accepting on listener `id`; its open connections go on.
  void close(std::uint64_t id);

  void start();  // runs the io_context on a new thread
  void join();

  // Thread-safe: each posts its work to the worker's thread.
  void stop_accepting();
  void close_all();
  void stop();

  std::uint64_t open_sessions() const noexcept { return open_.load(std::memory_order_relaxed); }
  // The most sessions open at once since the last call, which restarts the count
  // from those open now. Racy by a connection or two against attach(); it only
  // tells the control thread that a burst has come and gone.
  std::uint64_t take_peak() noexcept {
    return peak_.exchange(open_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }

  // Session registry, used only on the worker's thread.
  void attach(session& s) noexcept;
  void detach(session& s) noexcept;

 private:
  struct listener {
    std::uint64_t id;
    std::shared_ptr<const route_table> table;
    tcp::acceptor acceptor;
  };
  // The loop shares ownership of its listener, so closing one never frees what a
  // pending accept still refers to.
  friend net::awaitable<void> accept_loop(worker& w, std::shared_ptr<listener> l);

  // Order matters: what sessions touch as they are destroyed (pool, registry) is
  // declared before the io_context, whose destruction destroys suspended sessions.
  unsigned index_;
  global_state& global_;
  buffer_pool pool_;
  session* sessions_ = nullptr;  // intrusive list head
  std::atomic<std::uint64_t> open_{0};
  std::atomic<std::uint64_t> peak_{0};
  net::io_context ioc_{1};
  asio_reactor& reactor_ = reactor_of(ioc_);
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard_;
  std::vector<std::shared_ptr<listener>> listeners_;  // used only on the worker's thread
  std::thread thread_;
};

}  // namespace vmsgate::net_io
