#include "proxy/net/session.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "proxy/common/log.hpp"
#include "proxy/tls/certificate.hpp"
#include "proxy/net/worker.hpp"

namespace vmsgate::net_io {
namespace {

using namespace net::experimental::awaitable_operators;

std::string endpoint_label(const tcp::socket& s) {
  error_code ec;
  const auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  const auto addr = ep.address();
  return (addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string()) + ":" + std::to_string(ep.port());
}

// Words for a failed SSL call, taken from the thread's error queue right away so the
// next connection on this worker starts with an empty queue.
std::string ssl_failure(int ssl_error) {
  std::string detail = tls::drain_errors();
  if (!detail.empty()) return detail;
  if (ssl_error == SSL_ERROR_SYSCALL) return errno != 0 ? std::strerror(errno) : "connection closed";
  return "ssl error " + std::to_string(ssl_error);
}

}  // namespace

net::awaitable<void> serve_connection(worker& w, std::shared_ptr<const worker_route> route, tcp::socket client) {
  session s(w, std::move(route), std::move(client));
  co_await s.run();
}

session::session(worker& w, std::shared_ptr<const worker_route> route, tcp::socket client)
    : worker_(w),
      route_(std::move(route)),
      counters_(*route_->counters),
      client_(std::move(client)),
      backend_(w.context()),
      watchdog_timer_(w.context()),
      connect_timer_(w.context()),
      started_(clock::now()),
      deadline_(started_ + route_->settings->handshake_timeout),
      idle_timeout_(route_->settings->idle_timeout) {
  worker_.attach(*this);
  route_->shared->active.fetch_add(1, std::memory_order_relaxed);
  counters_.connections_total.add();
  counters_.connections_active.add();
  client_label_ = endpoint_label(client_);
}

session::~session() {
  counters_.connection_duration.observe(std::chrono::duration<double>(clock::now() - started_).count());
  counters_.connections_active.sub();
  route_->shared->active.fetch_sub(1, std::memory_order_relaxed);
  worker_.global().active.fetch_sub(1, std::memory_order_relaxed);
  worker_.detach(*this);
}

net::awaitable<void> session::run() {
  co_await (serve() || watchdog());
  log_close();
}

void session::finish(const char* reason) noexcept {
  if (end_ == nullptr) end_ = reason;
}

// A hard failure ends both directions at once: the flag stops every loop at its next
// step, and cancelling wakes whichever is waiting. Sockets stay open until the
// session is destroyed, so the SSL object never writes to a reused descriptor.
void session::fail(const char* reason) noexcept {
  finish(reason);
  aborted_ = true;
  error_code ignored;
  client_.cancel(ignored);
  backend_.cancel(ignored);
  connect_timer_.cancel();
  watchdog_timer_.cancel();
}

void session::abort(const char* reason) { fail(reason); }

net::awaitable<void> session::watchdog() {
  for (;;) {
    watchdog_timer_.expires_at(deadline_);
    auto [ec] = co_await watchdog_timer_.async_wait(use_nothrow);
    if (ec || aborted_) co_return;
    if (clock::now() < deadline_) continue;  // activity moved the deadline on
    switch (phase_) {
      case phase::handshake: fail("handshake_timeout"); break;
      case phase::connect: fail("connect_timeout"); break;
      case phase::pump: fail("idle_timeout"); break;
      case phase::closing: fail("shutdown_timeout"); break;
    }
    co_return;
  }
}

net::awaitable<void> session::serve() {
  const bool secured = co_await handshake();
  if (!secured) co_return;
  const bool connected = co_await connect_backend();
  if (!connected) {
    co_await send_close_notify();
    co_return;
  }
  phase_ = phase::pump;
  touch();
  co_await (client_to_backend() && backend_to_client());
}

net::awaitable<bool> session::wait(tcp::socket& s, tcp::socket::wait_type type) {
  auto [ec] = co_await s.async_wait(type, use_nothrow);
  co_return !ec && !aborted_;
}

net::awaitable<bool> session::wait_for_tls(int ssl_error) {
  co_return co_await wait(client_, ssl_error == SSL_ERROR_WANT_WRITE ? tcp::socket::wait_write
                                                                     : tcp::socket::wait_read);
}

net::awaitable<bool> session::handshake() {
  error_code ec;
  client_.non_blocking(true, ec);
  client_.set_option(tcp::no_delay(true), ec);
  ssl_.reset(SSL_new(route_->tls->ctx.get()));
  if (!ssl_ || SSL_set_fd(ssl_.get(), client_.native_handle()) != 1) {
    error_detail_ = tls::drain_errors();
    finish("internal_error");
    co_return false;
  }
  SSL_set_accept_state(ssl_.get());
  // The handshake's duration runs from the first byte of the ClientHello: from now if
  // the first attempt finds bytes, else from the wake-up that brings them.
  bool first_byte_seen = false;
  for (;;) {
    const int r = SSL_do_handshake(ssl_.get());
    if (!first_byte_seen && (r == 1 || !SSL_in_before(ssl_.get()) || SSL_has_pending(ssl_.get()) == 1)) {
      first_byte_seen = true;
      handshake_started_ = clock::now();
    }
    if (r == 1) break;
    const int e = SSL_get_error(ssl_.get(), r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      handshake_failed(e);
      co_return false;
    }
    const bool ok = co_await wait_for_tls(e);
    if (!ok) {
      handshake_failed(0);
      co_return false;
    }
    if (!first_byte_seen) {
      first_byte_seen = true;
      handshake_started_ = clock::now();
    }
  }
  handshake_succeeded();
  co_return true;
}

void session::handshake_succeeded() {
  const bool tls13 = SSL_version(ssl_.get()) == TLS1_3_VERSION;
  const bool resumed = SSL_session_reused(ssl_.get()) == 1;
  counters_.handshakes[tls13 ? 1 : 0][resumed ? 1 : 0].add();
  counters_.handshake_duration[resumed ? 1 : 0].observe(
      std::chrono::duration<double>(clock::now() - handshake_started_).count());
}

// Counts and describes a refused handshake; ssl_error is 0 when a deadline or the
// drain ended it rather than OpenSSL.
void session::handshake_failed(int ssl_error) {
  tls::failure_facts facts;
  facts.timed_out = end_ != nullptr && std::string_view(end_) == "handshake_timeout";
  if (ssl_error != 0) {
    const unsigned long first = ERR_peek_error();
    facts.lib = ERR_GET_LIB(first);
    facts.reason = ERR_GET_REASON(first);
    facts.verify_result = SSL_get_verify_result(ssl_.get());
    facts.connection_closed = ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN;
    error_detail_ = ssl_failure(ssl_error);
  }
  if (X509* peer = SSL_get0_peer_certificate(ssl_.get())) {
    facts.peer_sent_certificate = true;
    peer_subject_ = tls::subject_of(peer);
  }
  failure_ = tls::classify(facts);
  counters_.handshake_failures[static_cast<std::size_t>(*failure_)].add();
  finish("handshake_failed");
}

net::awaitable<bool> session::connect_backend() {
  phase_ = phase::connect;
  const auto& settings = *route_->settings;
  // The watchdog is only a backstop here; each attempt has its own deadline.
  deadline_ = clock::now() + settings.connect_timeout * (settings.backends.size() + 1);
  for (std::size_t i = 0; i < settings.backends.size(); ++i) {
    const auto started = clock::now();
    const bool connected = co_await try_backend(i);
    if (connected) {
      counters_.backend_connect_duration.observe(std::chrono::duration<double>(clock::now() - started).count());
      if (i > 0) counters_.backend_failovers.add();
      backend_used_ = &settings.backends[i];
      co_return true;
    }
    if (aborted_) co_return false;
  }
  finish("backend_unavailable");
  co_return false;
}

net::awaitable<bool> session::try_backend(std::size_t index) {
  const backend_target& target = route_->settings->backends[index];
  error_code ec;
  backend_.close(ec);
  backend_.open(target.endpoint.protocol(), ec);
  if (ec) {
    error_detail_ = ec.message();
    co_return false;
  }
  connect_timer_.expires_after(route_->settings->connect_timeout);
  auto result = co_await (backend_.async_connect(target.endpoint, use_nothrow) ||
                          connect_timer_.async_wait(use_nothrow));
  if (aborted_) co_return false;
  std::optional<backend_failure> why;
  if (result.index() == 1) {
    why = backend_failure::timeout;
    error_detail_ = "no answer in time";
  } else if (const auto [connect_ec] = std::get<0>(result); connect_ec) {
    error_detail_ = connect_ec.message();
    why = connect_ec == net::error::connection_refused ? backend_failure::refused : backend_failure::error;
  }
  if (why) {
    counters_.backend_failures[index][static_cast<std::size_t>(*why)].add();
    log::line(log::level::warning, "backend_failed")
        .field("route", route_->settings->name)
        .field("backend", target.label)
        .field("reason", backend_failure_names[static_cast<std::size_t>(*why)])
        .field("detail", error_detail_);
    backend_.close(ec);
    co_return false;
  }
  backend_.set_option(tcp::no_delay(true), ec);
  backend_.non_blocking(true, ec);
  co_return true;
}

}  // namespace vmsgate::net_io
