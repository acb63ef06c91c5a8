// The byte pump of a session: two directions that each borrow the session's sockets
// and take a pooled buffer only while bytes are moving. Each direction holds at most
// one buffer and reads nothing more until it has written what it holds, so a slow
// reader on one side stops reading on the other: memory per connection is bounded by
// two buffers however fast the sender.

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "proxy/common/log.hpp"
#include "proxy/net/session.hpp"
#include "proxy/net/worker.hpp"

namespace vmsgate::net_io {
namespace {

// What one burst of SSL_read calls produced.
struct tls_read {
  std::size_t bytes = 0;
  int want = 0;  // SSL_ERROR_WANT_READ / _WRITE when OpenSSL needs the socket
  bool drained = false;  // with want READ: the socket was drained, wait for an edge
  bool eof = false;
  bool failed = false;
  std::string detail;
};

// Decrypts straight into the buffer that is then written to the backend, record after
// record until the buffer is full or the socket has nothing more, so one write(2)
// carries several records. `gather` is the SSL's BIO when it is ours (no kernel
// TLS): it tells when a read drained the socket.
tls_read read_tls(SSL* ssl, std::byte* p, std::size_t cap, const record_gather& gather) {
  const bool ours = gather.attached();
  tls_read out;
  while (out.bytes < cap) {
    // The error queue is per thread and shared by every connection of the worker:
    // start each call from an empty one.
    ERR_clear_error();
    const int r = SSL_read(ssl, p + out.bytes, static_cast<int>(cap - out.bytes));
    if (r > 0) {
      out.bytes += static_cast<std::size_t>(r);
      if (SSL_has_pending(ssl) != 0) continue;
      // Nothing buffered in OpenSSL. If our BIO's last read drained the socket,
      // anything more raises a new event: wait for it instead of reading again only
      // to be told EAGAIN.
      if (ours && gather.drained()) {
        out.want = SSL_ERROR_WANT_READ;
        out.drained = true;
        break;
      }
      // Without our BIO (kernel TLS), a record shorter than the largest was most
      // likely the last one sent: wait, and the wait re-checks readiness.
      if (!ours && r < SSL3_RT_MAX_PLAIN_LENGTH) {
        out.want = SSL_ERROR_WANT_READ;
        break;
      }
      continue;
    }
    const int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      out.want = e;
      out.drained = e == SSL_ERROR_WANT_READ && ours && gather.drained();
    } else if (e == SSL_ERROR_ZERO_RETURN) {
      out.eof = true;  // close_notify, or a plain FIN (SSL_OP_IGNORE_UNEXPECTED_EOF)
    } else {
      out.failed = true;
      out.detail = tls::drain_errors();  // now, before this session yields
      if (out.detail.empty() && e == SSL_ERROR_SYSCALL && errno != 0) out.detail = std::strerror(errno);
    }
    break;
  }
  return out;
}

// A second read of the plain side, into the room left behind a first read of `have`
// bytes that left something behind it. When a peer sends its last bytes and closes,
// the first read most often takes the bytes with the FIN already queued (TCP_INQ
// counts it as 1); reading on finds the end, and the records and close_notify go out
// in one send instead of two. Only after a short read (a full one means more data),
// and only where the worker seals the records itself (send_records).
struct look_ahead {
  std::size_t bytes = 0;  // read on into the buffer, after the first read's bytes
  bool drained = false;   // as received::drained, for this read
  bool eof = false;       // the plain side has ended behind the bytes
  int err = 0;            // a failure this read took from the socket (not EAGAIN/EINTR)
};

look_ahead read_on(int fd, std::byte* buf, std::size_t have) noexcept {
  look_ahead out;
  if (have >= buffer_pool::read_size) return out;
  const received r = receive_noting_rest(fd, buf + have, buffer_pool::read_size - have);
  if (r.n > 0) {
    out.bytes = static_cast<std::size_t>(r.n);
    out.drained = r.drained;
  } else if (r.n == 0) {
    out.eof = true;
  } else if (r.err == EAGAIN || r.err == EWOULDBLOCK) {
    out.drained = true;
  } else if (r.err != EINTR) {
    out.err = r.err;  // taken from the socket: the caller acts on it after its send
  }
  return out;
}

}  // namespace

net::awaitable<session::wait_result> session::wait_edge(tcp::socket& s, bool drained_just_now) {
  bool* hangup = &s == &client_ ? &client_hangup_ : &backend_hangup_;
  return async_wait_edge(s, worker_.reactor(), use_nothrow, drained_just_now, hangup);
}

net::awaitable<bool> session::send_on(tcp::socket& s, const std::byte* p, std::size_t n) {
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
      error_detail_ = std::strerror(errno);
      co_return false;
    }
  }
  co_return true;
}

// The records of one buffer are gathered and sent together; they are all on the
// socket (or in its send buffer) before this returns true.
net::awaitable<bool> session::send_tls(const std::byte* p, std::size_t n) {
  struct gathering {
    record_gather& g;
    explicit gathering(record_gather& r) noexcept : g(r) { g.gather(true); }
    ~gathering() { g.gather(false); }
    gathering(const gathering&) = delete;
    gathering& operator=(const gathering&) = delete;
  };
  {
    const gathering scope(gather_);
    std::size_t off = 0;
    while (off < n) {
      ERR_clear_error();
      const int r = SSL_write(ssl_.get(), p + off, static_cast<int>(n - off));
      if (r > 0) {
        off += static_cast<std::size_t>(r);
        continue;
      }
      const int e = SSL_get_error(ssl_.get(), r);
      if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
        error_detail_ = tls::drain_errors();
        co_return false;
      }
      if (gather_.held() > 0) {
        // What is held goes first; a full gather is what stopped this write.
        const bool sent = co_await flush_tls();
        if (!sent) co_return false;
        if (e == SSL_ERROR_WANT_WRITE) continue;
      }
      const wait_result ok_wait = co_await wait_for_tls(e);
      const bool ok = ready(ok_wait);
      if (!ok) co_return false;
    }
  }
  if (gather_.held() == 0) co_return true;
  const bool sent = co_await flush_tls();
  co_return sent;
}

// Sends what record_gather holds, waiting for the socket as often as it takes.
net::awaitable<bool> session::flush_tls() {
  for (;;) {
    const auto r = gather_.flush();
    if (r == record_gather::flush_result::done) co_return true;
    if (r == record_gather::flush_result::failed) {
      error_detail_ = std::strerror(errno);
      co_return false;
    }
    const wait_result ok_wait = co_await wait(tls_socket(), tcp::socket::wait_write);
    const bool ok = ready(ok_wait);
    if (!ok) co_return false;
  }
}

net::awaitable<void> session::send_close_notify() {
  if (records_ && !aborted_) {
    std::array<std::byte, tls::record_layer::alert_room> alert{};
    const std::size_t n = records_->seal_alert(0, alert.data());
    if (n > 0) co_await send_on(tls_socket(), alert.data(), n);
    co_return;
  }
  if (!ssl_ || aborted_) co_return;
  for (;;) {
    ERR_clear_error();
    const int r = SSL_shutdown(ssl_.get());
    if (r >= 0) break;
    const int e = SSL_get_error(ssl_.get(), r);
    if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
      tls::drain_errors();
      co_return;
    }
    const wait_result ok_wait = co_await wait_for_tls(e);
    const bool ok = ready(ok_wait);
    if (!ok) co_return;
  }
  // Behind records still held (none, unless a send failed), the alert is held too.
  if (gather_.held() > 0) {
    const bool sent = co_await flush_tls();
    if (!sent) co_return;
  }
  // close_notify closes our direction only; the peer may go on sending (TLS 1.3
  // says so, and streams rely on it). OpenSSL 3.0 discards everything it reads once
  // it has sent close_notify, so the flag is cleared again: reads carry on, and
  // nothing writes after this point.
  SSL_set_shutdown(ssl_.get(), SSL_get_shutdown(ssl_.get()) & ~SSL_SENT_SHUTDOWN);
}

net::awaitable<void> session::tls_to_plain() {
  const bool to_backend = !originate();
  for (;;) {
    if (aborted_) co_return;
    auto buf = worker_.pool().take();
    tls_read got = read_tls(ssl_.get(), buf.data(), buf.size(), gather_);
    if (got.bytes > 0) {
      const bool ok = co_await send_plain(buf.data(), got.bytes);
      if (!ok) co_return fail(to_backend ? "backend_error" : "client_error");
      to_backend ? count_to_backend(got.bytes) : count_to_client(got.bytes);
      touch();
    }
    buf.reset();
    if (got.eof) {
      finish(to_backend ? "client_closed" : "backend_closed");
      error_code ignored;
      plain_socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    if (got.failed) {
      error_detail_ = got.detail;
      co_return fail(to_backend ? "client_error" : "backend_error");
    }
    if (got.drained) {
      const wait_result ok_wait = co_await wait_edge(tls_socket());
      const bool ok = ready(ok_wait);
      if (!ok) co_return;
    } else if (got.want != 0) {
      const wait_result ok_wait = co_await wait_for_tls(got.want);
      const bool ok = ready(ok_wait);
      if (!ok) co_return;
    }
  }
}

net::awaitable<void> session::plain_to_tls() {
  const bool to_backend = originate();
  const int fd = plain_socket().native_handle();
  for (;;) {
    if (aborted_) co_return;
    auto buf = worker_.pool().take();
    const received got = receive_noting_rest(fd, buf.data(), buffer_pool::read_size);
    if (got.n > 0) {
      // A look-ahead is made only after a read that did not drain; then what it
      // says of the socket replaces what the first read said.
      const auto first = static_cast<std::size_t>(got.n);
      const look_ahead next = records_ && !got.drained ? read_on(fd, buf.data(), first) : look_ahead{};
      const std::size_t n = first + next.bytes;
      const bool drained = got.drained || next.drained;
      bool ok = false;
      if (records_) {
        ok = co_await send_records(buf.data(), n, next.eof && !reset_behind_answer_);
      } else {
        ok = co_await send_tls(buf.data(), n);
      }
      if (!ok) co_return fail(to_backend ? "backend_error" : "client_error");
      to_backend ? count_to_backend(n) : count_to_client(n);
      touch();
      if (next.eof) {
        buf.reset();
        co_await end_plain_to_tls(to_backend, /*close_notify_sent=*/!reset_behind_answer_);
        co_return;
      }
      if (next.err != 0 && !plain_read_retryable(next.err, to_backend)) co_return;
      // Bytes or a FIN left behind this read: read again. A read that drained the
      // socket waits for the next event, with no syscall to wait.
      if (!drained) continue;
    } else if (got.n == 0) {
      buf.reset();
      co_await end_plain_to_tls(to_backend);
      co_return;
    } else if (!plain_read_retryable(got.err, to_backend)) {
      co_return;
    }
    buf.reset();
    const wait_result readable_wait = co_await wait_edge(plain_socket());
    const bool readable = ready(readable_wait);
    if (!readable) co_return;
  }
}

// The plain side has ended: the end goes on as close_notify (unless it went with the
// last records), then a FIN.
net::awaitable<void> session::end_plain_to_tls(bool to_backend, bool close_notify_sent) {
  if (reset_behind_answer_) {
    // The backend reset its connection as it opened (try_backend): its answer has
    // gone on, and the end is the reset's, never a clean close_notify.
    error_detail_ = std::strerror(ECONNRESET);
    co_return fail("backend_error");
  }
  finish(to_backend ? "client_closed" : "backend_closed");
  if (!close_notify_sent) co_await send_close_notify();
  error_code ignored;
  tls_socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// A read of the plain side failed with `err`: true for EINTR and EAGAIN (read or
// wait again); anything else fails the session.
bool session::plain_read_retryable(int err, bool to_backend) noexcept {
  if (err == EINTR || err == EAGAIN || err == EWOULDBLOCK) return true;
  error_detail_ = std::strerror(err);
  fail(to_backend ? "client_error" : "backend_error");
  return false;
}

// The kernel-TLS send path: plain bytes go socket -> pipe -> TLS socket inside the
// kernel, which encrypts them; user space never sees them. Same ending rules as
// plain_to_tls: EOF sends close_notify (OpenSSL passes the alert to the kernel).
net::awaitable<void> session::splice_plain_to_tls() {
  const bool to_backend = originate();
  const int from = plain_socket().native_handle();
  const int to = tls_socket().native_handle();
  for (;;) {
    if (aborted_) co_return;
    if (pipe_.held() > 0) {
      const ssize_t n = pipe_.drain(to);
      const int err = errno;
      if (n > 0) {
        const auto moved = static_cast<std::size_t>(n);
        to_backend ? count_to_backend(moved) : count_to_client(moved);
        touch();
        continue;
      }
      if (n < 0 && err == EINTR) continue;
      if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
        const wait_result writable_wait = co_await wait(tls_socket(), tcp::socket::wait_write);
        const bool writable = ready(writable_wait);
        if (!writable) co_return;
        continue;
      }
      error_detail_ = n == 0 ? "splice wrote nothing" : std::strerror(err);
      co_return fail(to_backend ? "backend_error" : "client_error");
    }
    const ssize_t n = pipe_.fill(from);
    const int err = errno;
    if (n > 0) continue;
    if (n == 0) {
      co_await end_plain_to_tls(to_backend);
      co_return;
    }
    if (!plain_read_retryable(err, to_backend)) co_return;
    if (err != EINTR) {
      const wait_result readable_wait = co_await wait(plain_socket(), tcp::socket::wait_read);
      const bool readable = ready(readable_wait);
      if (!readable) co_return;
    }
  }
}

// Why the session ended, as logged. A stream that has flowed and then ends with a
// reset (a video player closed, a phone gone out of range) ended, it did not fail.
std::string_view session::end_reason() const noexcept {
  const std::string_view end = end_ != nullptr ? end_ : "closed";
  const bool reset = error_detail_ == std::strerror(ECONNRESET) || error_detail_ == std::strerror(EPIPE);
  if (reset && !failure_ && to_backend_ + to_client_ > 0) {
    if (end == "client_error") return "client_reset";
    if (end == "backend_error") return "backend_reset";
  }
  return end;
}

void session::log_close() const {
  const connection_log which = worker_.global().connection_lines.load(std::memory_order_relaxed);
  if (which == connection_log::none) return;
  const std::string_view end = end_reason();
  const bool ended_well = end == "client_closed" || end == "backend_closed" || end == "client_reset" ||
                          end == "backend_reset" || end == "closed_before_handshake";
  if (which == connection_log::errors && ended_well) return;
  const double secs = std::chrono::duration<double>(clock::now() - started_).count();
  const bool shook = *tls_version_ != '\0';
  // A connection that sent nothing at all (a readiness probe from the gateway in
  // front, a port scan) is worth a line only when debugging.
  log::line line(end == "closed_before_handshake" ? log::level::debug : log::level::info, "connection_closed");
  line.field("route", route_->settings->name)
      .field("worker", worker_.index())
      .field("client", client_label_)
      .field("tls_version", tls_version_)
      .field("cipher", cipher_)
      .field("resumed", resumed_)
      .field("backend", backend_used_ ? backend_used_->label : std::string())
      .field("bytes_to_backend", to_backend_)
      .field("bytes_to_client", to_client_)
      .field("duration_s", secs)
      .field("ktls", ktls_send_ ? (ktls_recv_ ? "send+receive" : "send") : (ktls_recv_ ? "receive" : "off"))
      .field("records", records_ ? "vmsgate" : ktls_send_ || ktls_recv_ ? "kernel" : "openssl")
      .field("end", end);
  if (failure_) line.field("handshake_failure", tls::name(*failure_));
  if (!peer_subject_.empty()) {
    line.field("peer_subject", peer_subject_);
  } else if (shook && !originate() && route_->tls->trust) {
    line.field("peer_subject", "anonymous");  // client_auth: optional, no certificate
  }
  if (!error_detail_.empty()) line.field("detail", error_detail_);
}

}  // namespace vmsgate::net_io
