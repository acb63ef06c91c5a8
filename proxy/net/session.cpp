#include "proxy/net/session.hpp"

#include <cerrno>
#include <cstring>
#include <exception>

#include "proxy/common/log.hpp"
#include "proxy/net/worker.hpp"
#include "proxy/tls/ktls.hpp"

namespace vmsgate::net_io {

session::session(worker& w, std::shared_ptr<const route_table> table, tcp::socket client, const tcp::endpoint& peer)
    : table_(std::move(table)), link_(w, table_->lead(), std::move(client)), peer_(peer), gather_(w.pool()),
      pump_task_(w.context()) {
  report_.started = clock::now();
  w.attach(*this);
  counters().connections_active.add();
  // On a shared address, counted once its ClientHello has chosen the route.
  if (!table_->shared()) {
    route_chosen_ = true;
    counters().connections_total.add();
  }
  report_.client_label = endpoint_label(peer_);
}

session::~session() {
  // OpenSSL forgets the session of a connection it thinks ended uncleanly, and the
  // close_notify flag was cleared to keep reading (send_close_notify); a stream that
  // ended in order keeps its session, so the next reconnect resumes.
  const bool orderly = link_.ended_by(end_reason::client_closed) || link_.ended_by(end_reason::backend_closed);
  if (ssl_ && orderly) SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  // A connection that ended before its ClientHello chose a route is the first route's.
  if (!route_chosen_) counters().connections_total.add();
  counters().connection_duration.observe(std::chrono::duration<double>(clock::now() - report_.started).count());
  counters().connections_active.sub();
  route().shared->active.fetch_sub(1, std::memory_order_relaxed);
  link_.owner().global().active.fetch_sub(1, std::memory_order_relaxed);
  link_.owner().detach(*this);
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
// its transport's two directions', not one per step (handshake, connect, pump).
net::awaitable<void> serve_connection(worker& w, std::shared_ptr<const route_table> table, tcp::socket client,
                                      tcp::endpoint peer) {
  session s(w, std::move(table), std::move(client), peer);
  s.link_.watchdog().arm();
  std::exception_ptr failure;
  bool pumping = false;
  try {
    pumping = co_await s.set_up();
  } catch (...) {
    failure = std::current_exception();
    s.fail(end_reason::internal_error);
  }
  if (pumping) {
    // Both directions until both have ended: plain-to-TLS as a child beside
    // tls_to_plain, joined before the session goes (the child uses it). Started here,
    // not in a coroutine of the session's: a frame more per idle connection.
    try {
      s.pump_task_.start(s.transport_.plain_to_tls(), [&s] { s.fail(end_reason::internal_error); });
      co_await s.transport_.tls_to_plain();
    } catch (...) {
      failure = std::current_exception();
      s.fail(end_reason::internal_error);
    }
    co_await s.pump_task_.join();
  }
  s.link_.watchdog().stop();
  // The watchdog's handler points at this session: it runs (and sees it stopped)
  // before the session goes.
  while (s.link_.watchdog().armed()) co_await net::post(w.context(), net::use_awaitable);
  s.log_close();
  if (failure) std::rethrow_exception(failure);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// The handshake and the backend connect; true when the pump should start.
net::awaitable<bool> session::set_up() {
  if (!originate()) {
    const bool secured = co_await accept_tls();
    if (!secured) co_return false;
  }
  const bool connected = co_await connect_backend();
  if (!connected) {
    co_await transport_.send_close_notify();
    co_return false;
  }
  link_.watchdog().enter(watchdog::phase::pump);
  link_.touch();
  co_return true;
}

// Own records where the layer takes them (terminate, no kernel TLS); kernel TLS with
// a splice where the kernel seals what we send; OpenSSL's records otherwise. SSL_read
// stays the receive path with kernel TLS too: it receives records the kernel has
// already decrypted, and it handles the alerts and post-handshake messages a splice
// cannot.
void session::choose_transport() {
  if (capture_) {
    auto& own = transport_.emplace<record_transport>(link_);
    if (own.take_over(ssl_.get(), gather_, std::move(capture_), table_->lead().tls->ctx.get())) {
      // The handshake ended well: its session stays resumable once the SSL is freed.
      SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
      ssl_.reset();
      return;
    }
  }
  report_.ktls_send = BIO_get_ktls_send(SSL_get_wbio(ssl_.get()));
  report_.ktls_recv = BIO_get_ktls_recv(SSL_get_rbio(ssl_.get()));
  if (report_.ktls_send) {
    auto& kernel = transport_.emplace<ktls_transport>(link_, ssl_.get(), gather_);
    if (kernel.open()) return;
  }
  transport_.emplace<openssl_transport>(link_, ssl_.get(), gather_);
}

// Why the session ended, as logged. A stream that has flowed and then ends with a
// reset (a video player closed, a phone gone out of range) ended, it did not fail.
std::string_view session::end_name() const noexcept {
  const end_reason end = link_.ended().value_or(end_reason::closed);
  const std::string& detail = link_.detail();
  const bool reset = detail == std::strerror(ECONNRESET) || detail == std::strerror(EPIPE);
  if (reset && !report_.failure && link_.to_backend() + link_.to_client() > 0) {
    if (end == end_reason::client_error) return name(end_reason::client_reset);
    if (end == end_reason::backend_error) return name(end_reason::backend_reset);
  }
  return name(end);
}

void session::log_close() const {
  worker& w = link_.owner();
  const connection_log which = w.global().connection_lines.load(std::memory_order_relaxed);
  if (which == connection_log::none) return;
  const std::string_view end = end_name();
  const end_reason reason = end_reason_named(end).value_or(end_reason::closed);
  if (which == connection_log::errors && ended_well(reason)) return;
  const double secs = std::chrono::duration<double>(clock::now() - report_.started).count();
  const bool shook = *report_.tls_version != '\0';
  const bool kernel = report_.ktls_send || report_.ktls_recv;
  // A connection that sent nothing at all (a readiness probe from the gateway in
  // front, a port scan) is worth a line only when debugging.
  log::line line(reason == end_reason::closed_before_handshake ? log::level::debug : log::level::info,
                 "connection_closed");
  line.field("route", route().settings->name)
      .field("worker", w.index())
      .field("client", report_.client_label)
      .field("tls_version", report_.tls_version)
      .field("cipher", report_.cipher)
      .field("resumed", report_.resumed)
      .field("backend", report_.backend_used ? report_.backend_used->label : std::string())
      .field("bytes_to_backend", link_.to_backend())
      .field("bytes_to_client", link_.to_client())
      .field("duration_s", secs)
      .field("ktls", report_.ktls_send ? (report_.ktls_recv ? "send+receive" : "send")
                                       : (report_.ktls_recv ? "receive" : "off"))
      .field("records", transport_.chosen() == transport::kind::records ? "vmsgate" : kernel ? "kernel" : "openssl")
      .field("end", end);
  if (report_.failure) line.field("handshake_failure", tls::name(*report_.failure));
  if (!report_.peer_subject.empty()) {
    line.field("peer_subject", report_.peer_subject);
  } else if (shook && !originate() && route().tls->trust) {
    line.field("peer_subject", "anonymous");  // client_auth: optional, no certificate
  }
  if (!link_.detail().empty()) line.field("detail", link_.detail());
}

}  // namespace vmsgate::net_io
