#include "proxy/net/worker.hpp"

#include <sys/socket.h>

#include "proxy/common/log.hpp"
#include "proxy/net/session.hpp"

namespace vmsgate::net_io {

worker::worker(unsigned index, global_state& global) : index_(index), global_(global) {
  guard_.emplace(ioc_.get_executor());
}

worker::~worker() {
  stop();
  join();
}

tcp::endpoint worker::listen(std::shared_ptr<const worker_route> route, const tcp::endpoint& where) {
  auto l = std::make_unique<listener>(listener{std::move(route), tcp::acceptor(ioc_)});
  tcp::acceptor& a = l->acceptor;
  a.open(where.protocol());
  a.set_option(tcp::acceptor::reuse_address(true));
  const int one = 1;
  // Every worker binds the same port; the kernel spreads new connections over them.
  if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw boost::system::system_error(error_code(errno, boost::system::system_category()), "SO_REUSEPORT");
  a.bind(where);
  a.listen(net::socket_base::max_listen_connections);
  const tcp::endpoint bound = a.local_endpoint();
  listeners_.push_back(std::move(l));
  net::co_spawn(ioc_, accept_loop(*this, *listeners_.back()), net::detached);
  return bound;
}

net::awaitable<void> accept_loop(worker& w, worker::listener& l) {
  const route_settings& settings = *l.route->settings;
  for (;;) {
    auto [ec, sock] = co_await l.acceptor.async_accept(use_nothrow);
    if (ec == net::error::operation_aborted || !l.acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or memory: pause rather than spin, keep the listener.
      log::line(log::level::error, "accept_failed").field("route", settings.name).field("detail", ec.message());
      net::steady_timer pause(w.context(), std::chrono::milliseconds(100));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    const auto total = w.global().active.fetch_add(1, std::memory_order_relaxed);
    if (total >= w.global().max_connections ||
        l.route->shared->active.load(std::memory_order_relaxed) >= settings.max_connections) {
      w.global().active.fetch_sub(1, std::memory_order_relaxed);
      l.route->counters->connections_refused.add();
      continue;  // the socket closes here: a prompt refusal, not a queue
    }
    net::co_spawn(w.context(), serve_connection(w, l.route, std::move(sock)), net::detached);
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
    for (session* s = sessions_; s != nullptr; s = s->next_) s->abort("shutdown");
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
  open_.fetch_add(1, std::memory_order_relaxed);
}

void worker::detach(session& s) noexcept {
  if (s.prev_ != nullptr) s.prev_->next_ = s.next_;
  if (s.next_ != nullptr) s.next_->prev_ = s.prev_;
  if (sessions_ == &s) sessions_ = s.next_;
  s.prev_ = s.next_ = nullptr;
  open_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace vmsgate::net_io
