// The TLS handshakes of a session: as a server towards clients (terminate) and as a
// client towards upstreams (originate), with their metrics and failure reasons.

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "proxy/net/session.hpp"
#include "proxy/net/key_capture.hpp"
#include "proxy/net/worker.hpp"
#include "proxy/tls/acme_answers.hpp"
#include "proxy/tls/certificate.hpp"
#include "proxy/tls/client_hello.hpp"
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

// The session an SSL on a shared address belongs to, for on_client_hello.
int session_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

int session::on_client_hello(SSL* ssl, int* alert, void* /*arg*/) noexcept {
  auto* s = static_cast<session*>(SSL_get_ex_data(ssl, session_index()));
  return s == nullptr ? SSL_CLIENT_HELLO_SUCCESS : s->choose_route(ssl, alert);
}

// Before OpenSSL looks at anything else of the ClientHello (sessions, tickets,
// ciphers): the route named by the SNI takes the connection, its SSL_CTX the SSL.
// SSL_set_SSL_CTX swaps the certificate and the session id context, so a session
// resumes only on the route that issued it; the verify mode and depth were copied
// at SSL_new and are set again. The cache stays the first context's (record_transport.cpp).
int session::choose_route(SSL* ssl, int* alert) noexcept {
  const tls::hello_server_name sni = tls::client_hello_server_name(ssl);
  if (sni.malformed) {
    *alert = SSL_AD_DECODE_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  const worker_route* chosen = table_->choose(sni.name);
  const worker_route* current = &route();
  if (chosen == nullptr) {
    tls::note_refusal(ssl, sni.name ? "no route on this address serves the name " + std::string(*sni.name)
                                    : "the client sent no server name and no route on this address is the default");
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (route_chosen_) {  // the second ClientHello after a HelloRetryRequest
    if (chosen == current) return SSL_CLIENT_HELLO_SUCCESS;
    *alert = SSL_AD_ILLEGAL_PARAMETER;
    return SSL_CLIENT_HELLO_ERROR;
  }
  bool over_limit = false;
  if (chosen != current) {
    SSL_CTX* ctx = chosen->tls->ctx.get();
    if (SSL_set_SSL_CTX(ssl, ctx) != ctx) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
    counters().connections_active.sub();
    current->shared->active.fetch_sub(1, std::memory_order_relaxed);
    link_.set_route(*chosen);
    counters().connections_active.add();
    over_limit = chosen->shared->active.fetch_add(1, std::memory_order_relaxed) >= chosen->settings->max_connections;
  } else {
    // The lead route's count was taken at accept, without its cap.
    over_limit = current->shared->active.load(std::memory_order_relaxed) > current->settings->max_connections;
  }
  route_chosen_ = true;
  counters().connections_total.add();
  if (over_limit) {
    counters().connections_refused.add();
    link_.finish(end_reason::route_limit);
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

// The TLS socket is already non-blocking with TCP_NODELAY: the client's from the
// session's constructor and its listener, the backend's from try_backend.
bool session::new_ssl(SSL_CTX* ctx) {
  ssl_.reset(SSL_new(ctx));
  // Kernel TLS needs OpenSSL's own socket BIO to hand the keys to; without it, the
  // records of one write are gathered into one send.
  const int fd = link_.tls_socket().native_handle();
  const bool bio_set = ssl_ && (tls::kernel_tls().available ? SSL_set_fd(ssl_.get(), fd) == 1
                                                             : gather_.attach(ssl_.get(), fd));
  if (!bio_set) {
    link_.detail() = tls::drain_errors();
    link_.finish(end_reason::internal_error);
    return false;
  }
  return true;
}

// Only our BIO counts the records OpenSSL writes. OpenSSL's read-ahead is off for
// the handshake, so that it takes whole records only and nothing past the client's
// Finished; our BIO reads ahead instead (one recv per flight), and what it holds
// after the handshake goes to whichever side does the records (choose_transport).
void session::capture_keys() {
  if (!gather_.attached()) return;  // kernel TLS
  capture_ = std::make_unique<key_capture>(gather_);
  if (!tls::set_traffic_secret_sink(ssl_.get(), capture_.get())) {
    capture_.reset();
    return;
  }
  SSL_set_read_ahead(ssl_.get(), 0);
  gather_.read_ahead(true);
}

net::awaitable<bool> session::accept_tls() {
  // One address may hold only so many handshakes at once; the rest of its
  // connections are closed at once rather than queue behind it.
  handshake_permit_ = link_.owner().global().handshakes_per_source.acquire(peer_.address());
  if (!handshake_permit_) {
    counters().connections_refused.add();
    link_.finish(end_reason::handshake_limit);
    co_return false;
  }
  // No TLS state until the client has sent something: a silent connection then
  // costs a socket and this frame, not OpenSSL's buffers (about 47 KiB).
  const bool hello = co_await wait_for_first_bytes();
  if (!hello) co_return false;
  if (!new_ssl(route().tls->ctx.get())) co_return false;
  if (table_->shared() && SSL_set_ex_data(ssl_.get(), session_index(), this) != 1) {
    link_.detail() = tls::drain_errors();
    link_.finish(end_reason::internal_error);
    co_return false;
  }
  SSL_set_accept_state(ssl_.get());
  capture_keys();
  const bool ok = co_await shake_hands();
  handshake_permit_.reset();
  if (!ok) {
    link_.finish(end_reason::handshake_failed);
    co_return false;
  }
  // An ACME CA checked the validation certificate in the handshake; there is
  // nothing to forward, and the backend never hears of it.
  if (tls::is_acme_validation(ssl_.get())) {
    link_.finish(end_reason::acme_validation);
    co_return false;
  }
  choose_transport();
  co_return true;
}

// A peek first: a wait for the next edge would miss bytes that are already there.
// A peek that finds nothing has drained the socket, so the wait needs no re-arm.
net::awaitable<bool> session::wait_for_first_bytes() {
  for (;;) {
    char probe;
    const ssize_t n = ::recv(link_.client().native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
      report_.handshake_started = clock::now();
      co_return true;
    }
    if (n == 0) {
      link_.finish(end_reason::closed_before_handshake);
      co_return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      link_.detail() = std::strerror(errno);
      link_.finish(end_reason::client_error);
      co_return false;
    }
    const conduit::wait_result readable_wait = co_await link_.wait_edge(link_.client(), /*drained_just_now=*/true);
    const bool readable = link_.ready(readable_wait);
    if (!readable) {
      // Only the watchdog or the drain ends this wait; a silent client that times
      // out is a failed handshake of reason timeout.
      if (link_.ended_by(end_reason::handshake_timeout)) {
        report_.failure = tls::failure_reason::timeout;
        counters().handshake_failures[static_cast<std::size_t>(*report_.failure)].add();
      }
      co_return false;
    }
  }
}

net::awaitable<bool> session::connect_tls(std::size_t index) {
  link_.watchdog().enter(watchdog::phase::handshake);
  const auto& target = route().settings->backends[index];
  if (!new_ssl(route().client_tls->ctx.get())) co_return false;
  session_target_ = {route().sessions.get(), index};
  if (!tls::prepare_client(ssl_.get(), target.server_name, &session_target_)) {
    link_.detail() = tls::drain_errors();  // connect_backend decides how the session ends
    co_return false;
  }
  SSL_set_connect_state(ssl_.get());
  // An upstream that accepts TCP but never answers TLS is one failed backend, not
  // the end of the connection: this attempt has its own deadline, and the next
  // backend is tried after it.
  link_.watchdog().start_attempt(route().settings->handshake_timeout);
  const bool ok = co_await shake_hands();
  link_.watchdog().end_attempt();
  co_return ok;
}

// The handshake's duration runs from the first byte of the ClientHello (server side:
// wait_for_first_bytes saw it) or from the start (client side).
net::awaitable<bool> session::shake_hands() {
  if (originate()) report_.handshake_started = clock::now();
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
    conduit::wait_result ok_wait;
    if (e == SSL_ERROR_WANT_READ && gather_.attached() && gather_.drained()) {
      ok_wait = co_await link_.wait_edge(link_.tls_socket(), /*drained_just_now=*/true);
    } else {
      ok_wait = co_await link_.wait_for_tls(e);
    }
    const bool ok = link_.ready(ok_wait);
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
  report_.tls_version = SSL_get_version(ssl_.get());
  report_.cipher = SSL_get_cipher_name(ssl_.get());
  report_.resumed = resumed;
  counters().handshakes[tls13 ? 1 : 0][resumed ? 1 : 0].add();
  counters().handshake_duration[resumed ? 1 : 0].observe(
      std::chrono::duration<double>(clock::now() - report_.handshake_started).count());
  if (X509* peer = SSL_get0_peer_certificate(ssl_.get())) report_.peer_subject = tls::subject_of(peer);
}

// Counts and describes a refused handshake; ssl_error is 0 when a deadline or the
// drain ended it rather than OpenSSL.
void session::handshake_failed(int ssl_error) {
  // Refused for the chosen route's max_connections: counted there, not a failure.
  if (link_.ended_by(end_reason::route_limit)) {
    link_.detail() = "route " + route().settings->name + " is at its max_connections";
    return;
  }
  tls::failure_facts facts;
  facts.timed_out = link_.watchdog().attempt_expired() || link_.ended_by(end_reason::handshake_timeout);
  if (ssl_error != 0) {
    const unsigned long first = ERR_peek_error();
    facts.lib = ERR_GET_LIB(first);
    facts.reason = ERR_GET_REASON(first);
    facts.verify_result = SSL_get_verify_result(ssl_.get());
    facts.connection_closed = ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN;
    link_.detail() = ssl_failure(ssl_error);
    if (const std::string* why = tls::peer_refusal(ssl_.get())) link_.detail() += ": " + *why;
  }
  if (X509* peer = tls::presented_certificate(ssl_.get())) report_.peer_subject = tls::subject_of(peer);
  report_.failure = tls::classify(facts);
  counters().handshake_failures[static_cast<std::size_t>(*report_.failure)].add();
}

}  // namespace vmsgate::net_io
