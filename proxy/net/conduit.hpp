#pragma once
// What a session's lifecycle and its transport share: the two sockets, the waits on
// them, how the session ends, what it has carried, and the watchdog that holds its
// deadlines. A transport (transport.hpp) moves the bytes; it reaches the sockets, the
// waits and the end only through this class.
//
// Reading directions wait in one of two ways:
//   - After a read that drained its socket (TCP_INQ reported nothing left, or
//     EAGAIN; for the handshake, our BIO's read or the first peek), with
//     wait_edge: no syscall to wait, the next event completes it (edge_wait.hpp). A
//     keep-alive request then costs its four reads and writes and no epoll_ctl.
//   - Otherwise (kernel TLS, where OpenSSL's own BIO reads; writes; a backend
//     connect still going on) with wait, which re-arms the descriptor
//     (EPOLL_CTL_MOD) so the kernel re-checks readiness: it completes for bytes or
//     a FIN already there (tests/net/readiness_test).
//
// The waits are awaited in the caller's own frame (no coroutine of their own: an
// idle connection sits in three of them, so each frame is memory per idle
// connection). ready() tells whether a wait ended in readiness with the session
// still running.

#include <chrono>
#include <optional>
#include <cstdint>
#include <string>
#include <tuple>

#include "proxy/common/asio.hpp"
#include "proxy/net/end_reason.hpp"
#include "proxy/net/route.hpp"
#include "proxy/net/watchdog.hpp"

namespace vmsgate::net_io {

class worker;

class conduit {
 public:
  using clock = std::chrono::steady_clock;
  using wait_result = std::tuple<error_code>;

  conduit(worker& w, const worker_route& route, tcp::socket client);
  conduit(const conduit&) = delete;
  conduit& operator=(const conduit&) = delete;

  worker& owner() const noexcept { return worker_; }
  const worker_route& route() const noexcept { return *route_; }
  void set_route(const worker_route& r) noexcept { route_ = &r; }
  // Terminate: TLS with the client, plain to the backend. Originate: the reverse.
  bool originate() const noexcept { return route_->settings->originate; }
  route_counters& counters() const noexcept { return *route_->counters; }

  tcp::socket& client() noexcept { return client_; }
  tcp::socket& backend() noexcept { return backend_; }
  tcp::socket& tls_socket() noexcept { return originate() ? backend_ : client_; }
  tcp::socket& plain_socket() noexcept { return originate() ? client_ : backend_; }

  // The waits. wait_edge only after a read that drained `s`, and with nothing else
  // waiting to read it: each socket has one reading direction, and SSL_write or
  // SSL_shutdown would wait to read only for a renegotiation, which is off
  // (SSL_OP_NO_RENEGOTIATION, and TLS 1.3 has none). `drained_just_now` when that
  // read was in this same step of the coroutine, with no wait since (edge_wait.hpp).
  net::awaitable<wait_result> wait(tcp::socket& s, tcp::socket::wait_type type) {
    return s.async_wait(type, use_nothrow);
  }
  net::awaitable<wait_result> wait_edge(tcp::socket& s, bool drained_just_now = false);
  // For an SSL call that said SSL_ERROR_WANT_READ or _WRITE.
  net::awaitable<wait_result> wait_for_tls(int ssl_error);
  bool ready(const wait_result& r) const noexcept { return !std::get<0>(r) && !aborted_; }
  // A backend socket opened anew: a hang-up noted for the old descriptor is gone.
  void forget_backend_hangup() noexcept { backend_hangup_ = false; }

  // Writes all of p[0, n) to `s`, waiting as often as it takes; false (with the
  // detail set) when the socket fails or the session ends.
  net::awaitable<bool> send_on(tcp::socket& s, const std::byte* p, std::size_t n);

  // The end. finish() records why (the first cause wins); fail() also ends both
  // directions at once: the flag stops every loop at its next step, and cancelling
  // wakes whichever is waiting. Sockets stay open until the session is destroyed,
  // so an SSL object never writes to a reused descriptor. Safe at any point, from
  // inside (a deadline, an error) or from outside (the drain deadline).
  void finish(end_reason why) noexcept {
    if (!end_) end_ = why;
  }
  void fail(end_reason why) noexcept;
  void fail(end_reason why, std::string detail) noexcept {
    detail_ = std::move(detail);
    fail(why);
  }
  bool aborted() const noexcept { return aborted_; }
  std::optional<end_reason> ended() const noexcept { return end_; }
  bool ended_by(end_reason r) const noexcept { return end_ == r; }
  std::string& detail() noexcept { return detail_; }
  const std::string& detail() const noexcept { return detail_; }

  // A read of the plain side failed with `err`: true for EINTR and EAGAIN (read or
  // wait again); anything else fails the session.
  bool plain_read_retryable(int err, bool to_backend) noexcept;
  // The plain side has ended: true when the transport now sends close_notify (unless
  // it went with the last records) and then shut_tls_send(); false when it ended the
  // session instead (the backend's reset behind its answer, see connect.cpp).
  bool plain_side_ended(bool to_backend) noexcept;
  void shut_tls_send() noexcept;
  // The TLS side has ended its stream in order: the end goes on as a FIN.
  void tls_side_ended(bool to_backend) noexcept;
  // The backend reset its connection before the connect was seen to complete; the
  // bytes it sent first are still read (connect.cpp).
  void set_reset_behind_answer(bool on) noexcept { reset_behind_answer_ = on; }
  bool reset_behind_answer() const noexcept { return reset_behind_answer_; }

  // What the session carried, counted as it goes; touch() moves the idle deadline.
  void count(bool to_backend, std::size_t n) noexcept;
  std::uint64_t to_backend() const noexcept { return to_backend_; }
  std::uint64_t to_client() const noexcept { return to_client_; }
  void touch() noexcept { watchdog_.touch(); }
  class watchdog& watchdog() noexcept { return watchdog_; }

 private:
  worker& worker_;
  // The route serving the session: on a shared address the first until the
  // ClientHello chooses (session::choose_route).
  const worker_route* route_;
  tcp::socket client_;
  tcp::socket backend_;
  class watchdog watchdog_;
  std::string detail_;  // the error, for the close log
  std::uint64_t to_backend_ = 0;
  std::uint64_t to_client_ = 0;
  std::optional<end_reason> end_;
  bool aborted_ = false;
  // A wake-up of the client's or the backend's socket carried EPOLLERR or EPOLLHUP:
  // the next edge wait on it completes at once (see edge_wait.hpp).
  bool client_hangup_ = false;
  bool backend_hangup_ = false;
  bool reset_behind_answer_ = false;
};

}  // namespace vmsgate::net_io
