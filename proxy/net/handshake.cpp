// The TLS handshakes of a session: as a server towards clients (terminate) and as a
// client towards upstreams (originate), with their metrics and failure reasons.

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "proxy/net/session.hpp"
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
// at SSL_new and are set again. The cache stays the first context's (records.cpp).
int session::choose_route(SSL* ssl, int* alert) noexcept {
  const tls::hello_server_name sni = tls::client_hello_server_name(ssl);
  if (sni.malformed) {
    *alert = SSL_AD_DECODE_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  const worker_route* chosen = table_->choose(sni.name);
  if (chosen == nullptr) {
    tls::note_refusal(ssl, sni.name ? "no route on this address serves the name " + std::string(*sni.name)
                                    : "the client sent no server name and no route on this address is the default");
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (route_chosen_) {  // the second ClientHello after a HelloRetryRequest
    if (chosen == route_) return SSL_CLIENT_HELLO_SUCCESS;
    *alert = SSL_AD_ILLEGAL_PARAMETER;
    return SSL_CLIENT_HELLO_ERROR;
  }
  bool over_limit = false;
  if (chosen != route_) {
    SSL_CTX* ctx = chosen->tls->ctx.get();
    if (SSL_set_SSL_CTX(ssl, ctx) != ctx) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
    counters().connections_active.sub();
    route_->shared->active.fetch_sub(1, std::memory_order_relaxed);
    route_ = chosen;
    counters().connections_active.add();
    over_limit = route_->shared->active.fetch_add(1, std::memory_order_relaxed) >= route_->settings->max_connections;
  } else {
    // The lead route's count was taken at accept, without its cap.
    over_limit = route_->shared->active.load(std::memory_order_relaxed) > route_->settings->max_connections;
  }
  route_chosen_ = true;
  counters().connections_total.add();
  if (over_limit) {
    counters().connections_refused.add();
    finish("route_limit");
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
    counters().connections_refused.add();
    finish("handshake_limit");
    co_return false;
  }
  // No TLS state until the client has sent something: a silent connection then
  // costs a socket and this frame, not OpenSSL's buffers (about 47 KiB).
  const bool hello = co_await wait_for_first_bytes();
  if (!hello) co_return false;
  if (!new_ssl(route_->tls->ctx.get())) co_return false;
  if (table_->shared() && SSL_set_ex_data(ssl_.get(), session_index(), this) != 1) {
    error_detail_ = tls::drain_errors();
    finish("internal_error");
    co_return false;
  }
  SSL_set_accept_state(ssl_.get());
  capture_keys();
  const bool ok = co_await shake_hands();
  handshake_permit_.reset();
  if (!ok) {
    finish("handshake_failed");
    co_return false;
  }
  // An ACME CA checked the validation certificate in the handshake; there is
  // nothing to forward, and the backend never hears of it.
  if (tls::is_acme_validation(ssl_.get())) {
    finish("acme_validation");
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
        counters().handshake_failures[static_cast<std::size_t>(*failure_)].add();
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
  counters().handshakes[tls13 ? 1 : 0][resumed ? 1 : 0].add();
  counters().handshake_duration[resumed ? 1 : 0].observe(
      std::chrono::duration<double>(clock::now() - handshake_started_).count());
  if (X509* peer = SSL_get0_peer_certificate(ssl_.get())) peer_subject_ = tls::subject_of(peer);
}

// Counts and describes a refused handshake; ssl_error is 0 when a deadline or the
// drain ended it rather than OpenSSL.
void session::handshake_failed(int ssl_error) {
  // Refused for the chosen route's max_connections: counted there, not a failure.
  if (end_ != nullptr && std::string_view(end_) == "route_limit") {
    error_detail_ = "route " + route_->settings->name + " is at its max_connections";
    return;
  }
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
  counters().handshake_failures[static_cast<std::size_t>(*failure_)].add();
}

}  // namespace vmsgate::net_io
