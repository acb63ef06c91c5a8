// The pump of a terminate session whose records the worker does itself
// (tls/record_layer.hpp): TLS 1.3 or 1.2 without kernel TLS. Same rules as pump.cpp: one
// buffer per direction while bytes move, none while idle (unless a record has come
// only in part), a read that drained its socket waits for the next edge.

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <new>

#include "proxy/common/log.hpp"
#include "proxy/net/session.hpp"
#include "proxy/net/worker.hpp"

namespace vmsgate::net_io {

static_assert(tls::record_layer::seal_room(buffer_pool::read_size) <= buffer_pool::buffer_size,
              "the records of one plain read fit one pooled buffer");
static_assert(tls::record_layer::max_record * 2 <= buffer_pool::buffer_size,
              "a partial record and at least one more fit the receive buffer");

// Only our BIO counts the records OpenSSL writes. OpenSSL's read-ahead is off for
// the handshake, so that it takes whole records only and nothing past the client's
// Finished; our BIO reads ahead instead (one recv per flight), and what it holds
// after the handshake goes to whichever side does the records.
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

// After a server handshake: TLS 1.3 with every secret captured, or TLS 1.2 (its keys
// come from the session), and nothing of the client's read beyond its Finished; or
// OpenSSL keeps the records. So it does when the client negotiated a maximum
// fragment length (RFC 6066), which the layer's records would not keep to.
void session::take_over_records() {
  const std::unique_ptr<key_capture> capture = std::move(capture_);
  if (!capture) return;
  SSL* ssl = ssl_.get();
  tls::set_traffic_secret_sink(ssl, nullptr);
  gather_.read_ahead(false);
  const int version = SSL_version(ssl);
  const SSL_SESSION* tls_session = SSL_get_session(ssl);
  const bool whole = (version == TLS1_2_VERSION || (version == TLS1_3_VERSION && capture->complete())) &&
                     tls_session != nullptr &&
                     SSL_SESSION_get_max_fragment_length(tls_session) == TLSEXT_max_fragment_length_DISABLED &&
                     SSL_has_pending(ssl) == 0 && gather_.held() == 0 && gather_.written().at_boundary();
  std::string why;
  if (whole && version == TLS1_2_VERSION) {
    // The records each side sent after its ChangeCipherSpec (its Finished, as a
    // rule) were the first under the keys: the sequence numbers go on from there.
    const record_count& written = gather_.written();
    const record_count& read = gather_.read_during_handshake();
    if (written.seen_change_cipher_spec() && read.seen_change_cipher_spec() && read.at_boundary()) {
      records_ = tls::record_layer::after_tls12_handshake(ssl, written.since_change_cipher_spec(),
                                                          read.since_change_cipher_spec(), why);
    } else {
      why = "the records since the ChangeCipherSpec could not be counted";
    }
  } else if (whole) {
    const std::uint16_t suite = SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(ssl));
    records_ = tls::record_layer::make(suite, capture->client(), capture->server(), capture->written_since_key(), why);
  }
  if (!records_) {
    if (whole) log::line(log::level::warning, "record_layer_refused").field("detail", why);
    SSL_set_read_ahead(ssl, 1);
    return;
  }
  // The handshake ended well: its session stays resumable once the SSL is freed,
  // until the layer says a fatal alert went either way (forget_session).
  if (version == TLS1_2_VERSION) {
    unsigned int size = 0;
    const unsigned char* id = SSL_SESSION_get_id(tls_session, &size);
    tls12_session_id_size_ = static_cast<unsigned char>(std::min<std::size_t>(size, tls12_session_id_.size()));
    std::memcpy(tls12_session_id_.data(), id, tls12_session_id_size_);
  }
  SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  ssl_.reset();
  in_ = gather_.take_read_ahead(in_off_, in_end_);  // the client's first records, if they came early
  handshake_drained_ = gather_.drained();
}

net::awaitable<void> session::records_to_plain() {
  const int fd = client_.native_handle();
  if (in_end_ > in_off_) {  // records that came with the client's Finished
    const bool going = co_await forward_records();
    if (!going) co_return;
  }
  // A read that drained the socket is followed by a wait for the next edge. The
  // handshake's last read may have drained it already: whatever the client sent
  // since then raised an edge, so the first step is that wait (it completes at once
  // if one came), not a read that would say EAGAIN.
  bool wait_first = handshake_drained_;
  for (;;) {
    if (aborted_) co_return;
    if (wait_first) {
      park_partial_record();
      const wait_result ok_wait = co_await wait_edge(client_);
      const bool ok = ready(ok_wait);
      if (!ok) co_return;
    }
    wait_first = true;
    if (!in_) take_receive_buffer();
    if (buffer_pool::buffer_size - in_end_ < tls::record_layer::max_record) {
      std::memmove(in_.data(), in_.data() + in_off_, in_end_ - in_off_);
      in_end_ -= in_off_;
      in_off_ = 0;
    }
    const received got = receive_noting_rest(fd, in_.data() + in_end_, buffer_pool::buffer_size - in_end_);
    if (got.n > 0) {
      in_end_ += static_cast<std::size_t>(got.n);
      const bool going = co_await forward_records();
      if (!going) co_return;
      wait_first = got.drained;
    } else if (got.n == 0) {
      // A FIN without close_notify ends the stream as well (as with OpenSSL's
      // SSL_OP_IGNORE_UNEXPECTED_EOF), unless it cuts a record short.
      if (in_end_ > in_off_) {
        error_detail_ = "connection closed inside a record";
        co_return fail("client_error");
      }
      co_return client_ended();
    } else if (got.err == EINTR) {
      wait_first = false;
    } else if (got.err != EAGAIN && got.err != EWOULDBLOCK) {
      error_detail_ = std::strerror(got.err);
      co_return fail("client_error");
    }
  }
}

// Before a wait, the pooled buffer goes back. A record that has come only in part
// waits in a copy of its own size: a client that stalls in the middle of a record
// holds at most that record (as OpenSSL's read buffer did), not 64 KiB.
void session::park_partial_record() {
  const std::size_t n = in_end_ - in_off_;
  if (n > 0) {
    parked_.reset(new std::byte[n]);
    std::memcpy(parked_.get(), in_.data() + in_off_, n);
  }
  parked_size_ = n;
  in_.reset();
  in_off_ = in_end_ = 0;
}

void session::take_receive_buffer() {
  in_ = worker_.pool().take();
  if (!parked_) return;
  std::memcpy(in_.data(), parked_.get(), parked_size_);
  in_end_ = parked_size_;
  parked_.reset();
  parked_size_ = 0;
}

// Opens the whole records received and sends their data to the backend; false when
// the session ends here (close_notify, a bad record, a failed send).
net::awaitable<bool> session::forward_records() {
  auto out = worker_.pool().take();
  for (;;) {
    auto r = records_->open(in_.data() + in_off_, in_end_ - in_off_, out.data(), out.size());
    in_off_ += r.used;
    if (r.plain > 0) {
      const bool sent = co_await send_on(backend_, out.data(), r.plain);
      if (!sent) {
        fail("backend_error");
        co_return false;
      }
      count_to_backend(r.plain);
      touch();
    }
    if (records_->owes_reply() && !answer_now()) co_return false;
    if (r.closed) {
      client_ended();
      co_return false;
    }
    if (!r.error.empty()) {
      error_detail_ = std::move(r.error);
      if (r.forget_session && tls12_session_id_size_ > 0) {
        // The cache is the SSL's first context, the lead route's (SSL_set_SSL_CTX
        // keeps the session context).
        tls::forget_tls12_session(table_->lead().tls->ctx.get(),
                                  std::span(tls12_session_id_.data(), tls12_session_id_size_));
      }
      send_fatal_alert(r.alert);
      fail("client_error");
      co_return false;
    }
    if (r.used == 0 || in_off_ == in_end_) co_return true;  // a partial record, or all done
  }
}

// The client's stream has ended in order: the end goes on to the backend as a FIN,
// and the other direction carries on.
void session::client_ended() noexcept {
  finish("client_closed");
  error_code ignored;
  backend_.shutdown(tcp::socket::shutdown_send, ignored);
}

// The warnings the layer owes the client (a refused renegotiation), sent at once
// unless records are part-way out: then seal() puts them before the next data. A
// client that asked so often that its socket takes none of it at once ends here.
bool session::answer_now() noexcept {
  if (sending_records_) return true;
  auto buf = worker_.pool().take();
  while (records_->owes_reply()) {
    std::size_t n = 0;
    while (n + tls::record_layer::alert_room <= buf.size() && records_->owes_reply()) {
      const std::size_t r = records_->seal_owed(buf.data() + n);
      if (r == 0) break;
      n += r;
    }
    const ssize_t sent = ::send(client_.native_handle(), buf.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == 0 || sent != static_cast<ssize_t>(n)) {
      error_detail_ = "cannot answer the client's renegotiation requests at once";
      fail("client_error");
      return false;
    }
  }
  return true;
}

// Tells the client why its connection ends, if its socket takes the alert at once
// and no records are part-way out (the alert would land inside one): the session
// ends now either way.
void session::send_fatal_alert(unsigned char description) noexcept {
  if (description == 0 || sending_records_) return;
  std::array<std::byte, tls::record_layer::alert_room> alert{};
  const std::size_t n = records_->seal_alert(description, alert.data());
  if (n > 0) (void)::send(client_.native_handle(), alert.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

// Seals one plain read into records and sends them to the client; plain_to_tls's
// send when the worker does the records. With `then_close_notify` the close_notify
// alert follows the last record in the same send (the plain side has ended).
net::awaitable<bool> session::send_records(const std::byte* p, std::size_t n, bool then_close_notify) {
  static_assert(tls::record_layer::seal_room(buffer_pool::read_size) + tls::record_layer::alert_room <=
                buffer_pool::buffer_size);
  auto sealed = worker_.pool().take();
  std::size_t size = records_->seal(p, n, sealed.data());
  if (size == 0) {
    error_detail_ = "cannot seal a record: " + tls::drain_errors();
    fail("internal_error");
    co_return false;
  }
  // As send_close_notify: an alert that cannot be sealed is left out, and the FIN
  // that follows ends the connection.
  if (then_close_notify) size += records_->seal_alert(0, sealed.data() + size);
  sending_records_ = true;
  const bool sent = co_await send_on(client_, sealed.data(), size);
  sending_records_ = false;
  co_return sent;
}

}  // namespace vmsgate::net_io
