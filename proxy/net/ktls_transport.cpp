// The kernel-TLS send path: plain bytes go socket -> pipe -> TLS socket inside the
// kernel, which encrypts them; user space never sees them. The end of the plain side
// goes on as close_notify (OpenSSL passes the alert to the kernel), then a FIN.

#include <cerrno>
#include <cstring>

#include "proxy/net/transport.hpp"

namespace vmsgate::net_io {

net::awaitable<void> ktls_transport::plain_to_tls() {
  const bool to_backend = link_.originate();
  const int from = link_.plain_socket().native_handle();
  const int to = link_.tls_socket().native_handle();
  for (;;) {
    if (link_.aborted()) co_return;
    if (pipe_.held() > 0) {
      const ssize_t n = pipe_.drain(to);
      const int err = errno;
      if (n > 0) {
        link_.count(to_backend, static_cast<std::size_t>(n));
        link_.touch();
        continue;
      }
      if (n < 0 && err == EINTR) continue;
      if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
        const conduit::wait_result writable_wait = co_await link_.wait(link_.tls_socket(), tcp::socket::wait_write);
        const bool writable = link_.ready(writable_wait);
        if (!writable) co_return;
        continue;
      }
      co_return link_.fail(to_backend ? end_reason::backend_error : end_reason::client_error,
                           n == 0 ? "splice wrote nothing" : std::strerror(err));
    }
    const ssize_t n = pipe_.fill(from);
    const int err = errno;
    if (n > 0) continue;
    if (n == 0) {
      if (link_.plain_side_ended(to_backend)) {
        co_await send_close_notify();
        link_.shut_tls_send();
      }
      co_return;
    }
    if (!link_.plain_read_retryable(err, to_backend)) co_return;
    if (err != EINTR) {
      const conduit::wait_result readable_wait = co_await link_.wait(link_.plain_socket(), tcp::socket::wait_read);
      const bool readable = link_.ready(readable_wait);
      if (!readable) co_return;
    }
  }
}

}  // namespace vmsgate::net_io
