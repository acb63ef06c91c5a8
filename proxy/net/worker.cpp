#include "proxy/net/worker.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "proxy/common/log.hpp"
#include "proxy/net/edge_wait.hpp"
#include "proxy/net/session.hpp"
#include "proxy/net/sockets.hpp"

namespace vmsgate::net_io {

worker::worker(unsigned index, global_state& global) : index_(index), global_(global) {
  guard_.emplace(ioc_.get_executor());
}

worker::~worker() {
  stop();
  join();
}

tcp::acceptor worker::bind(const tcp::endpoint& where) {
  tcp::acceptor a(ioc_);
  a.open(where.protocol());
  a.set_option(tcp::acceptor::reuse_address(true));
  const int one = 1;
  // Every worker binds the same port; the kernel spreads new connections over them.
  if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw boost::system::system_error(error_code(errno, boost::system::system_category()), "SO_REUSEPORT");
  // Accepted sockets inherit TCP_NODELAY from the listener on Linux: one setsockopt
  // per listener instead of one per connection.
  a.set_option(tcp::no_delay(true));
  // Likewise TCP_INQ: each read says whether it drained the socket (edge_wait.hpp).
  // A kernel without it (before 4.18) only costs a read more before each wait.
  enable_inq(a.native_handle());
  a.bind(where);
  a.listen(net::socket_base::max_listen_connections);
  // accept_loop takes connections with accept4 until EAGAIN: a blocking listener
  // would stall the worker. Set here, where a failure ends the bind with an error.
  a.non_blocking(true);
  return a;
}

void worker::adopt(std::uint64_t id, std::shared_ptr<const route_table> table, tcp::acceptor acceptor) {
  auto l = std::make_shared<listener>(listener{id, std::move(table), std::move(acceptor)});
  net::post(ioc_, [this, l] {
    listeners_.push_back(l);
    net::co_spawn(ioc_, accept_loop(*this, l), net::detached);
  });
}

void worker::update(std::uint64_t id, std::shared_ptr<const route_table> table) {
  net::post(ioc_, [this, id, table = std::move(table)] {
    for (auto& l : listeners_)
      if (l->id == id) l->table = table;
  });
}

void worker::close(std::uint64_t id) {
  net::post(ioc_, [this, id] {
    std::erase_if(listeners_, [id](const std::shared_ptr<listener>& l) {
      if (l->id != id) return false;
      error_code ignored;
      l->acceptor.close(ignored);
      return true;
    });
  });
}

// accept4(2) until the backlog is empty, then a wait for the next connection with
// no re-arm of the listener (wait_for_connection: the EAGAIN has just drained it).
// A reconnect storm fills the backlog: after worker::accept_batch accepts the loop
// lets the worker's other connections run before it takes more.
net::awaitable<void> accept_loop(worker& w, std::shared_ptr<worker::listener> l) {
  asio_reactor& reactor = reactor_of(w.context());
  bool drained = false;
  int in_a_row = 0;
  for (;;) {
    if (!l->acceptor.is_open()) co_return;
    if (drained) {
      in_a_row = 0;
      const error_code wait_ec = co_await wait_for_connection(l->acceptor, reactor);
      if (wait_ec || !l->acceptor.is_open()) co_return;  // closed: a reload or the drain
    } else if (++in_a_row > worker::accept_batch) {
      in_a_row = 0;
      co_await net::post(w.context(), net::use_awaitable);
      continue;  // to the top: the listener may have been closed meanwhile
    }
    // The peer's address comes back from accept4(2) itself: no getpeername later.
    tcp::socket sock(w.context());
    tcp::endpoint peer;
    const int err = accept_socket(l->acceptor, sock, peer);
    drained = err == EAGAIN || err == EWOULDBLOCK;
    if (drained || accept_error_is_transient(err)) continue;
    // Read per connection: a reload may have replaced the routes since the last one.
    std::shared_ptr<const route_table> table = l->table;
    const worker_route* route = &table->lead();
    if (err != 0) {
      // Out of descriptors or memory: pause rather than spin, keep the listener. The
      // queue is tried again after the pause (what waits there raises no new edge).
      log::line(log::level::error, "accept_failed")
          .field("route", route->settings->name)
          .field("detail", std::strerror(err));
      net::steady_timer pause(w.context(), std::chrono::milliseconds(100));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    // Counted here, at accept, not when the session starts: several accepts can
    // complete before any of their sessions runs, and each must see the others.
    // The session's destructor gives both back. On a shared address the route is
    // known only from the ClientHello, and its own cap is applied then.
    const auto total = w.global().active.fetch_add(1, std::memory_order_relaxed);
    const auto on_route = route->shared->active.fetch_add(1, std::memory_order_relaxed);
    if (total >= w.global().max_connections.load(std::memory_order_relaxed) ||
        (!table->shared() && on_route >= route->settings->max_connections)) {
      w.global().active.fetch_sub(1, std::memory_order_relaxed);
      route->shared->active.fetch_sub(1, std::memory_order_relaxed);
      route->counters->connections_refused.add();
      continue;  // the socket closes here: a prompt refusal, not a queue
    }
    net::co_spawn(w.context(), serve_connection(w, std::move(table), std::move(sock), peer), net::detached);
  }
}

void worker::start() {
  thread_ = std::thread([this] { ioc_.run(); });
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

void worker::stop_accepting() {
  net::post(ioc_, [this] {
    for (auto& l : listeners_) {
      error_code ignored;
      l->acceptor.close(ignored);
    }
  });
}

void worker::close_all() {
  net::post(ioc_, [this] {
    for (session* s = sessions_; s != nullptr; s = s->next_) s->fail(end_reason::shutdown);
  });
}

void worker::stop() {
  guard_.reset();
  ioc_.stop();
}

void worker::attach(session& s) noexcept {
  s.next_ = sessions_;
  if (sessions_ != nullptr) sessions_->prev_ = &s;
  sessions_ = &s;
  const std::uint64_t now_open = open_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (now_open > peak_.load(std::memory_order_relaxed)) peak_.store(now_open, std::memory_order_relaxed);
}

void worker::detach(session& s) noexcept {
  if (s.prev_ != nullptr) s.prev_->next_ = s.next_;
  if (s.next_ != nullptr) s.next_->prev_ = s.prev_;
  if (sessions_ == &s) sessions_ = s.next_;
  s.prev_ = s.next_ = nullptr;
  open_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace vmsgate::net_io
