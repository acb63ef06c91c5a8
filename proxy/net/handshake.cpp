// The TLS handshakes of a session: as a server towards clients (terminate) and as a
// client towards upstreams (originate), with their metrics and failure reasons.

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "proxy/net/session.hpp"
#include "proxy/net/worker.hpp"
#include "proxy/tls/certificate.hpp"
#include "proxy/tls/ktls.hpp"
#include "proxy/tls/peer_verify.hpp"

namespace vmsgate::net_io {
namespace {

// Words for a failed SSL call, taken from the thread's error queue right away so the
// next connection on this worker starts with an empty queue.
std::string ssl_failure(int ssl_error) {
  std::string detail = tls::drain_errors();
  if (!detail.empty()) return detail;
  if (ssl_error == SSL_ERROR_SYSCALL) return errno != 0 ? std::strerror(errno) : "connection closed";
  return "ssl error " + std::to_string(ssl_error);
}

}  // namespace

// The TLS socket is already non-blocking with TCP_NODELAY: the client's from the
// session's constructor and its listener, the backend's from try_backend.
bool session::new_ssl(SSL_CTX* ctx) {
  ssl_.reset(SSL_new(ctx));
  // Kernel TLS needs OpenSSL's own socket BIO to hand the keys to; without it, the
  // records of one write are gathered into one send.
  const int fd = tls_socket().native_handle();
  const bool bio_set = ssl_ && (tls::kernel_tls().available ? SSL_set_fd(ssl_.get(), fd) == 1
                                                             : gather_.attach(ssl_.get(), fd));
  if (!bio_set) {
    error_detail_ = tls::drain_errors();
    finish("internal_error");
    return false;
  }
  return true;
}

net::awaitable<bool> session::accept_tls() {
  // One address may hold only so many handshakes at once; the rest of its
  // connections are closed at once rather than queue behind it.
  handshake_permit_ = worker_.global().handshakes_per_source.acquire(peer_.address());
  if (!handshake_permit_) {
    counters_.connections_refused.add();
    finish("handshake_limit");
    co_return false;
  }
  // No TLS state until the client has sent something: a silent connection then
  // costs a socket and this frame, not OpenSSL's buffers (about 47 KiB).
  const bool hello = co_await wait_for_first_bytes();
  if (!hello) co_return false;
  if (!new_ssl(route_->tls->ctx.get())) co_return false;
  SSL_set_accept_state(ssl_.get());
  capture_keys();
  const bool ok = co_await shake_hands();
  handshake_permit_.reset();
  if (!ok) {
    finish("handshake_failed");
    co_return false;
  }
  take_over_records();
  co_return true;
}

// A peek first: a wait for the next edge would miss bytes that are already there.
// A peek that finds nothing has drained the socket, so the wait needs no re-arm.
net::awaitable<bool> session::wait_for_first_bytes() {
  for (;;) {
    char probe;
    const ssize_t n = ::recv(client_.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
      handshake_started_ = clock::now();
      co_return true;
    }
    if (n == 0) {
      finish("closed_before_handshake");
      co_return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      error_detail_ = std::strerror(errno);
      finish("client_error");
      co_return false;
    }
    const wait_result readable_wait = co_await wait_edge(client_, /*drained_just_now=*/true);
    const bool readable = ready(readable_wait);
    if (!readable) {
      // Only the watchdog or the drain ends this wait; a silent client that times
      // out is a failed handshake of reason timeout.
      if (end_ != nullptr && std::string_view(end_) == "handshake_timeout") {
        failure_ = tls::failure_reason::timeout;
        counters_.handshake_failures[static_cast<std::size_t>(*failure_)].add();
      }
      co_return false;
    }
  }
}

net::awaitable<bool> session::connect_tls(std::size_t index) {
  phase_ = phase::handshake;
  const auto& target = route_->settings->backends[index];
  if (!new_ssl(route_->client_tls->ctx.get())) co_return false;
  session_target_ = {route_->sessions.get(), index};
  if (!tls::prepare_client(ssl_.get(), target.server_name, &session_target_)) {
    error_detail_ = tls::drain_errors();  // connect_backend decides how the session ends
    co_return false;
  }
  SSL_set_connect_state(ssl_.get());
  // An upstream that accepts TCP but never answers TLS is one failed backend, not
  // the end of the connection: this attempt has its own deadline, and the next
  // backend is tried after it.
  start_attempt(route_->settings->handshake_timeout);
  const bool ok = co_await shake_hands();
  end_attempt();
  co_return ok;
}

// The handshake's duration runs from the first byte of the ClientHello (server side:
// wait_for_first_bytes saw it) or from the start (client side).
net::awaitable<bool> session::shake_hands() {
  if (originate()) handshake_started_ = clock::now();
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_.get());
    if (r == 1) break;
    const int e = SSL_get_error(ssl_.get(), r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      handshake_failed(e);
      co_return false;
    }
    // OpenSSL wants to read only after our BIO was told EAGAIN, in this very call:
    // the socket is drained, and the next flight raises a new edge (no re-arm, and
    // no wakeup for an edge that read has used up).
    wait_result ok_wait;
    if (e == SSL_ERROR_WANT_READ && gather_.attached() && gather_.drained()) {
      ok_wait = co_await wait_edge(tls_socket(), /*drained_just_now=*/true);
    } else {
      ok_wait = co_await wait_for_tls(e);
    }
    const bool ok = ready(ok_wait);
    if (!ok) {
      handshake_failed(0);
      co_return false;
    }
  }
  handshake_succeeded();
  co_return true;
}

void session::handshake_succeeded() {
  const bool tls13 = SSL_version(ssl_.get()) == TLS1_3_VERSION;
  const bool resumed = SSL_session_reused(ssl_.get()) == 1;
  tls_version_ = SSL_get_version(ssl_.get());
  cipher_ = SSL_get_cipher_name(ssl_.get());
  resumed_ = resumed;
  counters_.handshakes[tls13 ? 1 : 0][resumed ? 1 : 0].add();
  counters_.handshake_duration[resumed ? 1 : 0].observe(
      std::chrono::duration<double>(clock::now() - handshake_started_).count());
  if (X509* peer = SSL_get0_peer_certificate(ssl_.get())) peer_subject_ = tls::subject_of(peer);
}

// Counts and describes a refused handshake; ssl_error is 0 when a deadline or the
// drain ended it rather than OpenSSL.
void session::handshake_failed(int ssl_error) {
  tls::failure_facts facts;
  facts.timed_out = attempt_expired_ || (end_ != nullptr && std::string_view(end_) == "handshake_timeout");
  if (ssl_error != 0) {
    const unsigned long first = ERR_peek_error();
    facts.lib = ERR_GET_LIB(first);
    facts.reason = ERR_GET_REASON(first);
    facts.verify_result = SSL_get_verify_result(ssl_.get());
    facts.connection_closed = ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN;
    error_detail_ = ssl_failure(ssl_error);
    if (const std::string* why = tls::peer_refusal(ssl_.get())) error_detail_ += ": " + *why;
  }
  if (X509* peer = tls::presented_certificate(ssl_.get())) peer_subject_ = tls::subject_of(peer);
  failure_ = tls::classify(facts);
  counters_.handshake_failures[static_cast<std::size_t>(*failure_)].add();
}

}  // namespace vmsgate::net_io
