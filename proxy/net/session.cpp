#include "proxy/net/session.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "proxy/common/log.hpp"
#include "proxy/net/worker.hpp"

namespace vmsgate::net_io {

session::session(worker& w, std::shared_ptr<const route_table> table, tcp::socket client, const tcp::endpoint& peer)
    : worker_(w),
      table_(std::move(table)),
      route_(&table_->lead()),
      client_(std::move(client)),
      peer_(peer),
      backend_(w.context()),
      gather_(w.pool()),
      watchdog_timer_(w.context()),
      pump_task_(w.context()),
      started_(clock::now()),
      deadline_(started_ + route_->settings->handshake_timeout),
      idle_timeout_(route_->settings->idle_timeout) {
  // The pump calls recv/send on both sockets directly: a blocking one would stall
  // every connection of the worker. The listeners' accept4 makes them non-blocking
  // (sockets.hpp); a socket from elsewhere is made so here.
  if (!client_.non_blocking()) {
    error_code ec;
    client_.non_blocking(true, ec);
  }
  worker_.attach(*this);
  counters().connections_active.add();
  // On a shared address, counted once its ClientHello has chosen the route.
  if (!table_->shared()) {
    route_chosen_ = true;
    counters().connections_total.add();
  }
  client_label_ = endpoint_label(peer_);
}

session::~session() {
  // OpenSSL forgets the session of a connection it thinks ended uncleanly, and the
  // close_notify flag was cleared to keep reading (send_close_notify); a stream that
  // ended in order keeps its session, so the next reconnect resumes.
  const bool orderly = end_ != nullptr && (std::string_view(end_) == "client_closed" ||
                                           std::string_view(end_) == "backend_closed");
  if (ssl_ && orderly) SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  // A connection that ended before its ClientHello chose a route is the first route's.
  if (!route_chosen_) counters().connections_total.add();
  counters().connection_duration.observe(std::chrono::duration<double>(clock::now() - started_).count());
  counters().connections_active.sub();
  route_->shared->active.fetch_sub(1, std::memory_order_relaxed);
  worker_.global().active.fetch_sub(1, std::memory_order_relaxed);
  worker_.detach(*this);
}

// GCC 12 reports that this coroutine's frame, which Asio allocates with its
// recycling allocator (aligned_alloc), is freed by the frame's own operator delete,
// which does return it to that allocator: a false positive of its inlining (seen
// in the sanitizer build), not a mismatch. Clang and GCC 13 do not report it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// The session lives in this coroutine's frame: an idle connection holds this frame,
// tls_to_plain's and the child's, not one per step (handshake, connect, pump).
net::awaitable<void> serve_connection(worker& w, std::shared_ptr<const route_table> table, tcp::socket client,
                                      tcp::endpoint peer) {
  session s(w, std::move(table), std::move(client), peer);
  s.arm_watchdog();
  std::exception_ptr failure;
  bool pumping = false;
  try {
    pumping = co_await s.set_up();
  } catch (...) {
    failure = std::current_exception();
    s.fail("internal_error");
  }
  if (pumping) {
    // Both directions until both have ended: plain-to-TLS as a child beside
    // tls_to_plain, joined before the session goes (the child uses it).
    try {
      s.start_plain_to_tls();
      if (s.records_) {
        co_await s.records_to_plain();
      } else {
        co_await s.tls_to_plain();
      }
    } catch (...) {
      failure = std::current_exception();
      s.fail("internal_error");
    }
    co_await s.pump_task_.join();
  }
  s.served_ = true;
  s.watchdog_timer_.cancel();
  // The watchdog's handler points at this session: it runs (and sees served_) before
  // the session goes.
  while (s.watchdog_armed_) co_await net::post(w.context(), net::use_awaitable);
  s.log_close();
  if (failure) std::rethrow_exception(failure);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

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
  watchdog_timer_.cancel();
}

// Moves the deadline; the watchdog sleeps until the old one, so an earlier one wakes
// it to re-arm.
void session::set_deadline(clock::time_point t) noexcept {
  const bool earlier = t < deadline_;
  deadline_ = t;
  if (earlier) watchdog_timer_.cancel();
}

void session::start_attempt(clock::duration limit) noexcept {
  attempt_running_ = true;
  attempt_expired_ = false;
  set_deadline(clock::now() + limit);
}

bool session::end_attempt() noexcept {
  attempt_running_ = false;
  return attempt_expired_;
}

// The watchdog is a timer callback, not a coroutine beside serve(): an idle
// connection holds one pending timer operation instead of a coroutine thread, its
// frames and a join timer.
void session::arm_watchdog() noexcept {
  try {
    watchdog_timer_.expires_at(deadline_);
    watchdog_timer_.async_wait([this](const error_code& ec) { on_watchdog(ec); });
    watchdog_armed_ = true;
  } catch (...) {
    fail("internal_error");  // no memory for the wait: nothing would end this session
  }
}

void session::on_watchdog(const error_code& ec) noexcept {
  watchdog_armed_ = false;
  // served_: the timer may have fired just as the session ended.
  if (aborted_ || served_) return;
  // Cancelled: set_deadline moved the deadline earlier. Early: activity moved it on.
  if (ec || clock::now() < deadline_) return arm_watchdog();
  if (attempt_running_) {
    // One backend had its time: end its attempt; connect_backend goes on to the
    // next, and a backstop stays in case nothing follows.
    attempt_running_ = false;
    attempt_expired_ = true;
    deadline_ = clock::now() + route_->settings->connect_timeout;
    error_code ignored;
    backend_.cancel(ignored);
    return arm_watchdog();
  }
  switch (phase_) {
    case phase::handshake: fail("handshake_timeout"); break;
    case phase::connect: fail("connect_timeout"); break;
    case phase::pump: fail("idle_timeout"); break;
  }
}

void session::start_plain_to_tls() {
  pump_task_.start(ktls_send_ && pipe_.open() ? splice_plain_to_tls() : plain_to_tls(),
                   [this] { fail("internal_error"); });
}

// The handshake and the backend connect; true when the pump should start.
net::awaitable<bool> session::set_up() {
  if (!originate()) {
    const bool secured = co_await accept_tls();
    if (!secured) co_return false;
  }
  const bool connected = co_await connect_backend();
  if (!connected) {
    co_await send_close_notify();
    co_return false;
  }
  phase_ = phase::pump;
  touch();
  if (ssl_) {
    ktls_send_ = BIO_get_ktls_send(SSL_get_wbio(ssl_.get()));
    ktls_recv_ = BIO_get_ktls_recv(SSL_get_rbio(ssl_.get()));
  }
  // SSL_read stays the receive path either way: with kernel TLS it receives records
  // the kernel has already decrypted, and it handles the alerts and post-handshake
  // messages a splice cannot.
  co_return true;
}


void session::count_to_backend(std::size_t n) noexcept {
  to_backend_ += n;
  counters().bytes_to_backend.add(n);
}

void session::count_to_client(std::size_t n) noexcept {
  to_client_ += n;
  counters().bytes_to_client.add(n);
}

}  // namespace vmsgate::net_io
