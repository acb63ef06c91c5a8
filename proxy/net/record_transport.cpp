// The data path of a terminate session whose records the worker does itself
// (tls/record_layer.hpp): TLS 1.3 or 1.2 without kernel TLS. One buffer per direction
// while bytes move, none while idle (unless a record has come only in part), a read
// that drained its socket waits for the next edge.

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <new>

#include "proxy/common/log.hpp"
#include "proxy/net/key_capture.hpp"
#include "proxy/net/transport.hpp"
#include "proxy/net/worker.hpp"

namespace vmsgate::net_io {

static_assert(tls::record_layer::seal_room(buffer_pool::read_size) <= buffer_pool::buffer_size,
              "the records of one plain read fit one pooled buffer");
static_assert(tls::record_layer::max_record * 2 <= buffer_pool::buffer_size,
              "a partial record and at least one more fit the receive buffer");

namespace {

// A second read of the plain side, into the room left behind a first read of `have`
// bytes that left something behind it. When a peer sends its last bytes and closes,
// the first read most often takes the bytes with the FIN already queued (TCP_INQ
// counts it as 1); reading on finds the end, and the records and close_notify go out
// in one send instead of two. Only after a short read (a full one means more data).
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

// After the handshake our BIO holds whatever it read ahead of the client's Finished
// (OpenSSL's own read-ahead was off: see session::capture_keys), and it goes to
// whichever side does the records.
bool record_transport::take_over(SSL* ssl, record_gather& gather, std::unique_ptr<key_capture> capture,
                                 SSL_CTX* cache) {
  if (!capture) return false;
  tls::set_traffic_secret_sink(ssl, nullptr);
  gather.read_ahead(false);
  const int version = SSL_version(ssl);
  const SSL_SESSION* tls_session = SSL_get_session(ssl);
  const bool whole = (version == TLS1_2_VERSION || (version == TLS1_3_VERSION && capture->complete())) &&
                     tls_session != nullptr &&
                     SSL_SESSION_get_max_fragment_length(tls_session) == TLSEXT_max_fragment_length_DISABLED &&
                     SSL_has_pending(ssl) == 0 && gather.held() == 0 && gather.written().at_boundary();
  std::string why;
  if (whole && version == TLS1_2_VERSION) {
    // The records each side sent after its ChangeCipherSpec (its Finished, as a
    // rule) were the first under the keys: the sequence numbers go on from there.
    const record_count& written = gather.written();
    const record_count& read = gather.read_during_handshake();
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
    return false;
  }
  // The handshake ended well: its session stays resumable once the SSL is freed,
  // until the layer says a fatal alert went either way (forward_records).
  if (version == TLS1_2_VERSION) {
    unsigned int size = 0;
    const unsigned char* id = SSL_SESSION_get_id(tls_session, &size);
    tls12_session_id_size_ = static_cast<unsigned char>(std::min<std::size_t>(size, tls12_session_id_.size()));
    std::memcpy(tls12_session_id_.data(), id, tls12_session_id_size_);
    cache_ = cache;
  }
  in_ = gather.take_read_ahead(in_off_, in_end_);  // the client's first records, if they came early
  handshake_drained_ = gather.drained();
  return true;
}

net::awaitable<void> record_transport::tls_to_plain() {
  tcp::socket& client = link_.client();
  const int fd = client.native_handle();
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
    if (link_.aborted()) co_return;
    if (wait_first) {
      park_partial_record();
      const conduit::wait_result ok_wait = co_await link_.wait_edge(client);
      const bool ok = link_.ready(ok_wait);
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
      if (in_end_ > in_off_) co_return link_.fail(end_reason::client_error, "connection closed inside a record");
      co_return link_.tls_side_ended(/*to_backend=*/true);
    } else if (got.err == EINTR) {
      wait_first = false;
    } else if (got.err != EAGAIN && got.err != EWOULDBLOCK) {
      co_return link_.fail(end_reason::client_error, std::strerror(got.err));
    }
  }
}

// Before a wait, the pooled buffer goes back. A record that has come only in part
// waits in a copy of its own size: a client that stalls in the middle of a record
// holds at most that record (as OpenSSL's read buffer did), not 64 KiB.
void record_transport::park_partial_record() {
  const std::size_t n = in_end_ - in_off_;
  if (n > 0) {
    parked_.reset(new std::byte[n]);
    std::memcpy(parked_.get(), in_.data() + in_off_, n);
  }
  parked_size_ = n;
  in_.reset();
  in_off_ = in_end_ = 0;
}

void record_transport::take_receive_buffer() {
  in_ = link_.owner().pool().take();
  if (!parked_) return;
  std::memcpy(in_.data(), parked_.get(), parked_size_);
  in_end_ = parked_size_;
  parked_.reset();
  parked_size_ = 0;
}

// Opens the whole records received and sends their data to the backend; false when
// the session ends here (close_notify, a bad record, a failed send).
net::awaitable<bool> record_transport::forward_records() {
  auto out = link_.owner().pool().take();
  for (;;) {
    auto r = records_->open(in_.data() + in_off_, in_end_ - in_off_, out.data(), out.size());
    in_off_ += r.used;
    if (r.plain > 0) {
      const bool sent = co_await link_.send_on(link_.backend(), out.data(), r.plain);
      if (!sent) {
        link_.fail(end_reason::backend_error);
        co_return false;
      }
      link_.count(/*to_backend=*/true, r.plain);
      link_.touch();
    }
    if (records_->owes_reply() && !answer_now()) co_return false;
    if (r.closed) {
      link_.tls_side_ended(/*to_backend=*/true);
      co_return false;
    }
    if (!r.error.empty()) {
      if (r.forget_session && tls12_session_id_size_ > 0 && cache_ != nullptr) {
        tls::forget_tls12_session(cache_, std::span(tls12_session_id_.data(), tls12_session_id_size_));
      }
      send_fatal_alert(r.alert);
      link_.fail(end_reason::client_error, std::move(r.error));
      co_return false;
    }
    if (r.used == 0 || in_off_ == in_end_) co_return true;  // a partial record, or all done
  }
}

// The warnings the layer owes the client (a refused renegotiation), sent at once
// unless records are part-way out: then seal() puts them before the next data. A
// client that asked so often that its socket takes none of it at once ends here.
bool record_transport::answer_now() noexcept {
  if (sending_records_) return true;
  auto buf = link_.owner().pool().take();
  while (records_->owes_reply()) {
    std::size_t n = 0;
    while (n + tls::record_layer::alert_room <= buf.size() && records_->owes_reply()) {
      const std::size_t r = records_->seal_owed(buf.data() + n);
      if (r == 0) break;
      n += r;
    }
    const ssize_t sent = ::send(link_.client().native_handle(), buf.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == 0 || sent != static_cast<ssize_t>(n)) {
      link_.fail(end_reason::client_error, "cannot answer the client's renegotiation requests at once");
      return false;
    }
  }
  return true;
}

// Tells the client why its connection ends, if its socket takes the alert at once
// and no records are part-way out (the alert would land inside one): the session
// ends now either way.
void record_transport::send_fatal_alert(unsigned char description) noexcept {
  if (description == 0 || sending_records_) return;
  std::array<std::byte, tls::record_layer::alert_room> alert{};
  const std::size_t n = records_->seal_alert(description, alert.data());
  if (n > 0) (void)::send(link_.client().native_handle(), alert.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

net::awaitable<void> record_transport::plain_to_tls() {
  const int fd = link_.backend().native_handle();
  for (;;) {
    if (link_.aborted()) co_return;
    auto buf = link_.owner().pool().take();
    const received got = receive_noting_rest(fd, buf.data(), buffer_pool::read_size);
    if (got.n > 0) {
      // A look-ahead is made only after a read that did not drain; then what it
      // says of the socket replaces what the first read said.
      const auto first = static_cast<std::size_t>(got.n);
      const look_ahead next = !got.drained ? read_on(fd, buf.data(), first) : look_ahead{};
      const std::size_t n = first + next.bytes;
      const bool drained = got.drained || next.drained;
      const bool close_notify_with_records = next.eof && !link_.reset_behind_answer();
      const bool ok = co_await send_records(buf.data(), n, close_notify_with_records);
      if (!ok) co_return link_.fail(end_reason::client_error);
      link_.count(/*to_backend=*/false, n);
      link_.touch();
      if (next.eof) {
        buf.reset();
        if (link_.plain_side_ended(/*to_backend=*/false)) {
          if (!close_notify_with_records) co_await send_close_notify();
          link_.shut_tls_send();
        }
        co_return;
      }
      if (next.err != 0 && !link_.plain_read_retryable(next.err, /*to_backend=*/false)) co_return;
      if (!drained) continue;
    } else if (got.n == 0) {
      buf.reset();
      if (link_.plain_side_ended(/*to_backend=*/false)) {
        co_await send_close_notify();
        link_.shut_tls_send();
      }
      co_return;
    } else if (!link_.plain_read_retryable(got.err, /*to_backend=*/false)) {
      co_return;
    }
    buf.reset();
    const conduit::wait_result readable_wait = co_await link_.wait_edge(link_.backend());
    const bool readable = link_.ready(readable_wait);
    if (!readable) co_return;
  }
}

// Seals one plain read into records and sends them to the client. With
// `then_close_notify` the close_notify alert follows the last record in the same
// send (the plain side has ended).
net::awaitable<bool> record_transport::send_records(const std::byte* p, std::size_t n, bool then_close_notify) {
  static_assert(tls::record_layer::seal_room(buffer_pool::read_size) + tls::record_layer::alert_room <=
                buffer_pool::buffer_size);
  auto sealed = link_.owner().pool().take();
  std::size_t size = records_->seal(p, n, sealed.data());
  if (size == 0) {
    link_.fail(end_reason::internal_error, "cannot seal a record: " + tls::drain_errors());
    co_return false;
  }
  // As send_close_notify: an alert that cannot be sealed is left out, and the FIN
  // that follows ends the connection.
  if (then_close_notify) size += records_->seal_alert(0, sealed.data() + size);
  sending_records_ = true;
  const bool sent = co_await link_.send_on(link_.client(), sealed.data(), size);
  sending_records_ = false;
  co_return sent;
}

net::awaitable<void> record_transport::send_close_notify() {
  if (link_.aborted()) co_return;
  std::array<std::byte, tls::record_layer::alert_room> alert{};
  const std::size_t n = records_->seal_alert(0, alert.data());
  if (n > 0) co_await link_.send_on(link_.client(), alert.data(), n);
}

}  // namespace vmsgate::net_io
