// The OpenSSL data path: SSL_read decrypts straight into the buffer written to the
// plain side, SSL_write's records go out gathered (record_gather). Also the receiving
// direction of kernel TLS, where OpenSSL's own socket BIO reads what the kernel has
// opened.

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "proxy/net/transport.hpp"
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

// Decrypts straight into the buffer that is then written to the plain side, record
// after record until the buffer is full or the socket has nothing more, so one
// write(2) carries several records. `gather` is the SSL's BIO when it is ours (no
// kernel TLS): it tells when a read drained the socket.
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

}  // namespace

net::awaitable<void> openssl_transport::tls_to_plain() {
  const bool to_backend = !link_.originate();
  const end_reason plain_failed = to_backend ? end_reason::backend_error : end_reason::client_error;
  const end_reason tls_failed = to_backend ? end_reason::client_error : end_reason::backend_error;
  for (;;) {
    if (link_.aborted()) co_return;
    auto buf = link_.owner().pool().take();
    tls_read got = read_tls(ssl_, buf.data(), buf.size(), gather_);
    if (got.bytes > 0) {
      const bool ok = co_await link_.send_on(link_.plain_socket(), buf.data(), got.bytes);
      if (!ok) co_return link_.fail(plain_failed);
      link_.count(to_backend, got.bytes);
      link_.touch();
    }
    buf.reset();
    if (got.eof) co_return link_.tls_side_ended(to_backend);
    if (got.failed) co_return link_.fail(tls_failed, std::move(got.detail));
    if (got.drained) {
      const conduit::wait_result ok_wait = co_await link_.wait_edge(link_.tls_socket());
      const bool ok = link_.ready(ok_wait);
      if (!ok) co_return;
    } else if (got.want != 0) {
      const conduit::wait_result ok_wait = co_await link_.wait_for_tls(got.want);
      const bool ok = link_.ready(ok_wait);
      if (!ok) co_return;
    }
  }
}

net::awaitable<void> openssl_transport::plain_to_tls() {
  const bool to_backend = link_.originate();
  const int fd = link_.plain_socket().native_handle();
  for (;;) {
    if (link_.aborted()) co_return;
    auto buf = link_.owner().pool().take();
    const received got = receive_noting_rest(fd, buf.data(), buffer_pool::read_size);
    if (got.n > 0) {
      const auto n = static_cast<std::size_t>(got.n);
      const bool ok = co_await send_tls(buf.data(), n);
      if (!ok) co_return link_.fail(to_backend ? end_reason::backend_error : end_reason::client_error);
      link_.count(to_backend, n);
      link_.touch();
      // Bytes or a FIN left behind this read: read again. A read that drained the
      // socket waits for the next event, with no syscall to wait.
      if (!got.drained) continue;
    } else if (got.n == 0) {
      buf.reset();
      if (link_.plain_side_ended(to_backend)) {
        co_await send_close_notify();
        link_.shut_tls_send();
      }
      co_return;
    } else if (!link_.plain_read_retryable(got.err, to_backend)) {
      co_return;
    }
    buf.reset();
    const conduit::wait_result readable_wait = co_await link_.wait_edge(link_.plain_socket());
    const bool readable = link_.ready(readable_wait);
    if (!readable) co_return;
  }
}

// The records of one buffer are gathered and sent together; they are all on the
// socket (or in its send buffer) before this returns true.
net::awaitable<bool> openssl_transport::send_tls(const std::byte* p, std::size_t n) {
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
      const int r = SSL_write(ssl_, p + off, static_cast<int>(n - off));
      if (r > 0) {
        off += static_cast<std::size_t>(r);
        continue;
      }
      const int e = SSL_get_error(ssl_, r);
      if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
        link_.detail() = tls::drain_errors();
        co_return false;
      }
      if (gather_.held() > 0) {
        // What is held goes first; a full gather is what stopped this write.
        const bool sent = co_await flush_tls();
        if (!sent) co_return false;
        if (e == SSL_ERROR_WANT_WRITE) continue;
      }
      const conduit::wait_result ok_wait = co_await link_.wait_for_tls(e);
      const bool ok = link_.ready(ok_wait);
      if (!ok) co_return false;
    }
  }
  if (gather_.held() == 0) co_return true;
  const bool sent = co_await flush_tls();
  co_return sent;
}

// Sends what record_gather holds, waiting for the socket as often as it takes.
net::awaitable<bool> openssl_transport::flush_tls() {
  for (;;) {
    const auto r = gather_.flush();
    if (r == record_gather::flush_result::done) co_return true;
    if (r == record_gather::flush_result::failed) {
      link_.detail() = std::strerror(errno);
      co_return false;
    }
    const conduit::wait_result ok_wait = co_await link_.wait(link_.tls_socket(), tcp::socket::wait_write);
    const bool ok = link_.ready(ok_wait);
    if (!ok) co_return false;
  }
}

net::awaitable<void> openssl_transport::send_close_notify() {
  if (link_.aborted()) co_return;
  for (;;) {
    ERR_clear_error();
    const int r = SSL_shutdown(ssl_);
    if (r >= 0) break;
    const int e = SSL_get_error(ssl_, r);
    if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
      tls::drain_errors();
      co_return;
    }
    const conduit::wait_result ok_wait = co_await link_.wait_for_tls(e);
    const bool ok = link_.ready(ok_wait);
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
  SSL_set_shutdown(ssl_, SSL_get_shutdown(ssl_) & ~SSL_SENT_SHUTDOWN);
}

}  // namespace vmsgate::net_io
