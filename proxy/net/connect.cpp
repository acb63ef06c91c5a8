// Reaching a backend: backends in priority order, skipping those backing off, each
// attempt with its own deadline; on originate routes the TLS handshake with the
// upstream is part of the attempt, so a failover with its own name is tried next.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "proxy/common/log.hpp"
#include "proxy/net/session.hpp"
#include "proxy/net/sockets.hpp"
#include "proxy/net/worker.hpp"

namespace vmsgate::net_io {

net::awaitable<bool> session::connect_backend() {
  const auto& settings = *route().settings;
  backoff& health = route().backends->health;
  bool tls_refused = false;
  // An attempt that must wait sets its own deadline; one that does not (a connect
  // answered at once) leaves the session's. This phase, and the close_notify that
  // follows if every backend fails, get at least connect_timeout from here rather
  // than what the handshake left (no re-arm: the watchdog wakes at the old deadline
  // and sleeps on to this one).
  link_.watchdog().at_least_until(clock::now() + settings.connect_timeout);
  for (const std::size_t i : health.order(clock::now())) {
    link_.watchdog().enter(watchdog::phase::connect);
    const auto started = clock::now();
    const bool connected = co_await try_backend(i);
    if (link_.aborted()) co_return false;
    if (!connected) {
      health.failed(i, clock::now());
      continue;
    }
    counters().backend_connect_duration.observe(std::chrono::duration<double>(clock::now() - started).count());
    if (originate()) {
      const bool secured = co_await connect_tls(i);
      if (link_.aborted()) co_return false;
      if (!secured) {
        tls_refused = true;
        backend_failed(i, backend_failure::tls, report_.failure ? tls::name(*report_.failure) : std::string_view("timeout"));
        health.failed(i, clock::now());
        continue;
      }
      choose_transport();
    }
    health.succeeded(i);
    if (i > 0) counters().backend_failovers.add();
    report_.backend_used = &settings.backends[i];
    report_.failure.reset();
    link_.detail().clear();
    co_return true;
  }
  link_.finish(tls_refused ? end_reason::handshake_failed : end_reason::backend_unavailable);
  co_return false;
}

// One backend failed this session: counted by reason, and a warning (the detail is
// the conduit's). A TLS failure names how the upstream's handshake failed.
void session::backend_failed(std::size_t index, backend_failure why, std::string_view handshake_failure) {
  counters().backend_failures[index][static_cast<std::size_t>(why)].add();
  log::line line(log::level::warning, "backend_failed");
  line.field("route", route().settings->name)
      .field("backend", route().settings->backends[index].label)
      .field("reason", backend_failure_names[static_cast<std::size_t>(why)]);
  if (!handshake_failure.empty()) line.field("handshake_failure", handshake_failure);
  line.field("detail", link_.detail());
}

namespace {

// One step of a non-blocking connect(2): 0 once connected, EINPROGRESS or EALREADY
// while it goes on, else why it failed. Asking again is how the result is read: a
// second connect(2) reports 0, the failure (ECONNREFUSED...), or EALREADY.
int connect_step(int fd, const tcp::endpoint& to) noexcept {
  if (::connect(fd, to.data(), static_cast<socklen_t>(to.size())) == 0) return 0;
  if (errno == EISCONN) return 0;
  if (errno == EINTR) return EINPROGRESS;  // the connect goes on in the background
  return errno;
}

// Where a connect(2) that said EINPROGRESS stands, read from the socket's TCP state
// rather than by a second connect(2): on a connection the backend has already reset,
// connect(2) reports the reset and disconnects the socket, throwing away what the
// backend sent before it. 0 when connected, EINPROGRESS while it goes on, else why it
// failed (ECONNRESET: it connected, and what the backend sent is still there).
int connect_progress(int fd) noexcept {
  tcp_info info{};
  socklen_t size = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return errno;
  if (info.tcpi_state == TCP_SYN_SENT) return EINPROGRESS;
  if (info.tcpi_state != TCP_CLOSE) return 0;  // established, or the backend's FIN came too
  int err = 0;
  size = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &size) != 0) return errno;
  return err != 0 ? err : ECONNABORTED;
}

bool pending(int step) noexcept { return step == EINPROGRESS || step == EALREADY; }

}  // namespace

// On loopback and on a quiet LAN the three-way handshake has completed by the time
// the first connect(2) returns EINPROGRESS, so the socket's TCP state tells the result
// at once: no wait, no watchdog re-arm, no poll(2) as Asio's async_connect makes. Only a connect still going on waits, under the attempt's
// deadline, for the socket to become writable.
net::awaitable<bool> session::try_backend(std::size_t index) {
  const backend_target& target = route().settings->backends[index];
  tcp::socket& backend = link_.backend();
  watchdog& deadlines = link_.watchdog();
  error_code ec;
  if (originate()) ssl_.reset();  // a previous attempt's TLS state belongs to a closed descriptor
  backend.close(ec);
  link_.forget_backend_hangup();  // noted for the closed descriptor
  // The transports call recv/send themselves: the socket must not block.
  ec = open_socket(backend, target.endpoint.protocol());
  if (ec) {
    // Out of descriptors, most likely: a failure of this backend like any other.
    link_.detail() = ec.message();
    backend_failed(index, backend_failure::error);
    backend.close(ec);
    co_return false;
  }
  const int fd = backend.native_handle();
  int step = connect_step(fd, target.endpoint);
  if (step == EINPROGRESS) step = connect_progress(fd);
  bool expired = false;
  if (pending(step)) {
    deadlines.start_attempt(route().settings->connect_timeout);
    while (pending(step)) {
      const auto [wait_ec] = co_await backend.async_wait(tcp::socket::wait_write, use_nothrow);
      if (link_.aborted() || deadlines.attempt_expired()) break;
      // Writable, or an error: ask again (a wakeup with the connect still going on
      // only waits once more).
      step = wait_ec ? wait_ec.value() : connect_progress(fd);
    }
    expired = deadlines.end_attempt();
  }
  if (link_.aborted()) co_return false;
  // A backend that accepted, answered and reset before the connect was seen to
  // complete: connected, with its answer still to read. The reset that SO_ERROR
  // reported is gone from the socket, so the end of that answer is taken for it
  // (conduit::plain_side_ended).
  link_.set_reset_behind_answer(step == ECONNRESET && !originate());
  if (link_.reset_behind_answer()) step = 0;
  std::optional<backend_failure> why;
  if (expired) {
    why = backend_failure::timeout;
    link_.detail() = "no answer in time";
  } else if (step != 0) {
    link_.detail() = std::strerror(step);
    why = step == ECONNREFUSED ? backend_failure::refused : backend_failure::error;
  }
  if (why) {
    backend_failed(index, *why);
    backend.close(ec);
    co_return false;
  }
  backend.set_option(tcp::no_delay(true), ec);
  enable_inq(fd);  // without it, reads go on until EAGAIN
  co_return true;
}

}  // namespace vmsgate::net_io
