#pragma once
// The data paths of a session, one type each. After the handshake the session
// chooses one (session::choose_transport, the one place that decides) and runs its
// two directions until both have ended:
//
//   - openssl_transport: OpenSSL's records, SSL_read and SSL_write through our BIO
//     (record_gather), which sends the records of one SSL_write together. Originate
//     routes, and terminate routes whose records the layer would not take.
//   - record_transport: the gateway's own records (tls/record_layer.hpp) after a
//     TLS 1.3 or 1.2 server handshake without kernel TLS: the SSL is freed, and an
//     idle connection holds two cipher contexts, not OpenSSL's connection state.
//   - ktls_transport: the kernel seals the records; plain bytes are spliced into the
//     TLS socket through a pipe (splice.hpp), and SSL_read receives what the kernel
//     has opened (alerts and post-handshake messages, which a splice cannot carry).
//
// Each direction has the shape of a transfer(from, to): read here, write there, one
// place to stop. It holds at most one pooled buffer, taken only while bytes move,
// and reads nothing more until it has written what it holds, so a slow reader on one
// side stops reading on the other: memory per connection is bounded by two buffers
// however fast the sender. A transport is chosen once; no call per byte is virtual.

#include <array>
#include <cstddef>
#include <memory>
#include <variant>

#include "proxy/net/buffer_pool.hpp"
#include "proxy/net/conduit.hpp"
#include "proxy/net/edge_wait.hpp"
#include "proxy/net/record_gather.hpp"
#include "proxy/net/splice.hpp"
#include "proxy/tls/openssl.hpp"
#include "proxy/tls/record_layer.hpp"

namespace vmsgate::net_io {

class key_capture;

class openssl_transport {
 public:
  // `gather` is the SSL's BIO when it is ours, detached with kernel TLS.
  openssl_transport(conduit& link, SSL* ssl, record_gather& gather) noexcept
      : link_(link), ssl_(ssl), gather_(gather) {}

  net::awaitable<void> tls_to_plain();
  net::awaitable<void> plain_to_tls();
  net::awaitable<void> send_close_notify();

 private:
  net::awaitable<bool> send_tls(const std::byte* p, std::size_t n);
  net::awaitable<bool> flush_tls();

  conduit& link_;
  SSL* ssl_;
  record_gather& gather_;
};

class ktls_transport {
 public:
  ktls_transport(conduit& link, SSL* ssl, record_gather& gather) noexcept : link_(link), ssl_side_(link, ssl, gather) {}

  // The pipe is made here, when the transport is chosen; false if it cannot be.
  bool open() { return pipe_.open(); }
  net::awaitable<void> tls_to_plain() { return ssl_side_.tls_to_plain(); }
  net::awaitable<void> plain_to_tls();
  net::awaitable<void> send_close_notify() { return ssl_side_.send_close_notify(); }

 private:
  conduit& link_;
  openssl_transport ssl_side_;  // the receiving direction and the alerts: OpenSSL's
  splice_pipe pipe_;
};

class record_transport {
 public:
  // The records after a server handshake, if the layer takes them: TLS 1.3 with
  // every secret captured, or TLS 1.2 (its keys come from the session), and nothing
  // of the client's read beyond its Finished. Null otherwise: OpenSSL keeps them (so
  // it does when the client negotiated a maximum fragment length, which the layer's
  // records would not keep to).
  // On true the SSL may be freed: this transport holds its keys, and the records
  // our BIO read ahead of the handshake's end.
  // `cache` is the context whose cache holds the SSL's session: the SSL's first
  // (SSL_set_SSL_CTX keeps the session context), the lead route's.
  bool take_over(SSL* ssl, record_gather& gather, std::unique_ptr<key_capture> capture, SSL_CTX* cache);

  explicit record_transport(conduit& link) noexcept : link_(link) {}

  net::awaitable<void> tls_to_plain();
  net::awaitable<void> plain_to_tls();
  net::awaitable<void> send_close_notify();

 private:
  net::awaitable<bool> forward_records();
  net::awaitable<bool> send_records(const std::byte* p, std::size_t n, bool then_close_notify);
  void send_fatal_alert(unsigned char description) noexcept;
  bool answer_now() noexcept;
  void park_partial_record();
  void take_receive_buffer();

  conduit& link_;
  std::unique_ptr<tls::record_layer> records_;
  // `in_` is held only while bytes move; a record that has come only in part waits
  // in `parked_`, a copy of its own size.
  buffer_pool::lease in_;
  std::size_t in_off_ = 0;
  std::size_t in_end_ = 0;
  std::unique_ptr<std::byte[]> parked_;
  std::size_t parked_size_ = 0;
  // A TLS 1.2 session's id, to take it out of `cache_` after a fatal alert.
  SSL_CTX* cache_ = nullptr;
  std::array<unsigned char, SSL_MAX_SSL_SESSION_ID_LENGTH> tls12_session_id_{};
  unsigned char tls12_session_id_size_ = 0;
  bool handshake_drained_ = false;  // the handshake's last read left the client's socket empty
  bool sending_records_ = false;    // a send of sealed records is under way
};

// The chosen transport, or none before the handshake (and for a session that never
// gets one).
class transport {
 public:
  enum class kind { none, openssl, records, kernel };

  kind chosen() const noexcept { return static_cast<kind>(path_.index()); }
  template <class T, class... Args>
  T& emplace(Args&&... args) {
    return path_.template emplace<T>(std::forward<Args>(args)...);
  }
  void reset() noexcept { path_.emplace<std::monostate>(); }

  // Both directions: `plain_to_tls` is started beside, `tls_to_plain` awaited.
  net::awaitable<void> tls_to_plain();
  net::awaitable<void> plain_to_tls();
  net::awaitable<void> send_close_notify();

 private:
  // In place: the session's frame holds the largest (the records' receive state),
  // as it held every path's fields before, and no path costs an allocation.
  std::variant<std::monostate, openssl_transport, record_transport, ktls_transport> path_;
};

}  // namespace vmsgate::net_io
