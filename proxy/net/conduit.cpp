#include "proxy/net/conduit.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "proxy/net/edge_wait.hpp"
#include "proxy/net/worker.hpp"
#include "proxy/tls/openssl.hpp"

namespace vmsgate::net_io {

conduit::conduit(worker& w, const worker_route& route, tcp::socket client)
    : worker_(w),
      route_(&route),
      client_(std::move(client)),
      backend_(w.context()),
      watchdog_(*this, w.context(), clock::now() + route.settings->handshake_timeout, route.settings->idle_timeout) {
  // The transports call recv/send on both sockets directly: a blocking one would
  // stall every connection of the worker. The listeners' accept4 makes them
  // non-blocking (sockets.hpp); a socket from elsewhere is made so here.
  if (!client_.non_blocking()) {
    error_code ec;
    client_.non_blocking(true, ec);
  }
}

net::awaitable<conduit::wait_result> conduit::wait_edge(tcp::socket& s, bool drained_just_now) {
  bool* hangup = &s == &client_ ? &client_hangup_ : &backend_hangup_;
  return async_wait_edge(s, worker_.reactor(), use_nothrow, drained_just_now, hangup);
}

net::awaitable<conduit::wait_result> conduit::wait_for_tls(int ssl_error) {
  return wait(tls_socket(), ssl_error == SSL_ERROR_WANT_WRITE ? tcp::socket::wait_write : tcp::socket::wait_read);
}

net::awaitable<bool> conduit::send_on(tcp::socket& s, const std::byte* p, std::size_t n) {
  const int fd = s.native_handle();
  std::size_t off = 0;
  while (off < n) {
    const ssize_t r = ::send(fd, p + off, n - off, MSG_NOSIGNAL);
    if (r > 0) {
      off += static_cast<std::size_t>(r);
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const wait_result ok_wait = co_await wait(s, tcp::socket::wait_write);
      const bool ok = ready(ok_wait);
      if (!ok) co_return false;
    } else {
      detail_ = std::strerror(errno);
      co_return false;
    }
  }
  co_return true;
}

void conduit::fail(end_reason why) noexcept {
  finish(why);
  aborted_ = true;
  error_code ignored;
  client_.cancel(ignored);
  backend_.cancel(ignored);
  watchdog_.cancel();
}

bool conduit::plain_read_retryable(int err, bool to_backend) noexcept {
  if (err == EINTR || err == EAGAIN || err == EWOULDBLOCK) return true;
  fail(to_backend ? end_reason::client_error : end_reason::backend_error, std::strerror(err));
  return false;
}

bool conduit::plain_side_ended(bool to_backend) noexcept {
  if (reset_behind_answer_) {
    // The backend reset its connection as it opened (connect.cpp): its answer has
    // gone on, and the end is the reset's, never a clean close_notify.
    fail(end_reason::backend_error, std::strerror(ECONNRESET));
    return false;
  }
  finish(to_backend ? end_reason::client_closed : end_reason::backend_closed);
  return true;
}

void conduit::shut_tls_send() noexcept {
  error_code ignored;
  tls_socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void conduit::tls_side_ended(bool to_backend) noexcept {
  finish(to_backend ? end_reason::client_closed : end_reason::backend_closed);
  error_code ignored;
  plain_socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void conduit::count(bool to_backend, std::size_t n) noexcept {
  if (to_backend) {
    to_backend_ += n;
    counters().bytes_to_backend.add(n);
  } else {
    to_client_ += n;
    counters().bytes_to_client.add(n);
  }
}

}  // namespace vmsgate::net_io
