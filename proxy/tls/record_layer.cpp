#include "proxy/tls/record_layer.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

namespace vmsgate::tls {

// The one table of answers that are the RFC's rather than OpenSSL 3.0's. The
// differential harness (tests/support/record_diff.cpp) allows exactly these
// differences, and only for a record that opened() names by its id.
const std::array<rfc_departure, 3> rfc_departures{{
    {"inner_plaintext_overflow", "RFC 8446 5.4",
     "accepts a TLS 1.3 record whose content is at most 2^14 bytes however much padding follows it",
     "record_overflow when content, type and padding exceed 2^14 + 1 bytes"},
    {"short_tls12_record", "RFC 5246 6.2.3.3",
     "internal_error for a TLS 1.2 record too short for its explicit nonce and tag (the cipher refuses its "
     "additional data)",
     "bad_record_mac: the record cannot be authentic"},
    {"message_after_answered_key_update", "RFC 8446 4",
     "once it has answered a KeyUpdate that asked for its own, waits for the whole of a later handshake "
     "message (its header may say 16 MiB) before it refuses one of a type it does not take or a KeyUpdate "
     "of the wrong length; one with no request byte it does not refuse at all, and the next record that is "
     "not a handshake one ends the connection (unexpected_message)",
     "refuses it as soon as the message's header shows its type and length, with the same alert"},
}};

namespace {

constexpr unsigned char content_change_cipher_spec = 20;
constexpr unsigned char content_alert = 21;
constexpr unsigned char content_handshake = 22;
constexpr unsigned char content_data = 23;
constexpr unsigned char client_hello = 1;
constexpr unsigned char key_update = 24;
constexpr unsigned char warning = 1;
constexpr unsigned char fatal = 2;
// Alert descriptions (RFC 8446 section 6).
constexpr unsigned char close_notify = 0;
constexpr unsigned char unexpected_message = 10;
constexpr unsigned char bad_record_mac = 20;
constexpr unsigned char record_overflow = 22;
constexpr unsigned char handshake_failure = 40;
constexpr unsigned char illegal_parameter = 47;
constexpr unsigned char decode_error = 50;
constexpr unsigned char protocol_version = 70;
constexpr unsigned char user_canceled = 90;
constexpr unsigned char no_renegotiation = 100;
// OpenSSL's limits, in a row: empty records (the 33rd fails), warning alerts (the
// fifth fails); and the longest ClientHello it reads (to refuse it).
constexpr unsigned char most_empty_records = 32;
constexpr unsigned char most_warnings = 5;
constexpr std::size_t longest_client_hello = 131396;
// Renegotiation refusals owed and not yet sent, at most (a client that asks this
// often and never reads gets no more answers).
constexpr std::uint32_t most_owed = 1u << 16;

const char* departure_id(std::size_t row) noexcept { return rfc_departures[row].id; }

}  // namespace

std::unique_ptr<record_layer> record_layer::make(std::uint16_t id, std::span<const unsigned char> read_secret,
                                                 std::span<const unsigned char> write_secret, std::uint64_t write_seq,
                                                 std::string& error, std::uint64_t read_seq) {
  const record_suite* info = find_record_suite(id, false);
  if (info == nullptr) {
    error = "not a TLS 1.3 suite this layer has";
    return nullptr;
  }
  if (read_secret.size() != info->hash_size || write_secret.size() != info->hash_size) {
    error = "traffic secrets of the wrong size";
    return nullptr;
  }
  std::unique_ptr<record_layer> layer(new record_layer(*info));
  if (!layer->keys_.set_tls13(read_secret, write_secret)) {
    error = "cannot set the record keys";
    return nullptr;
  }
  layer->keys_.set_sequences(write_seq, read_seq);
  return layer;
}

std::unique_ptr<record_layer> record_layer::make_tls12(std::uint16_t id, const tls12_secrets& secrets, bool server,
                                                       std::uint64_t write_seq, std::uint64_t read_seq,
                                                       std::string& error) {
  const record_suite* info = find_record_suite(id, true);
  if (info == nullptr) {
    error = "not a TLS 1.2 suite this layer has";
    return nullptr;
  }
  if (secrets.master.size() != 48) {
    error = "a master secret of the wrong size";
    return nullptr;
  }
  std::unique_ptr<record_layer> layer(new record_layer(*info));
  if (!layer->keys_.set_tls12(secrets, server)) {
    error = "cannot set the record keys";
    return nullptr;
  }
  layer->keys_.set_sequences(write_seq, read_seq);
  return layer;
}

std::unique_ptr<record_layer> record_layer::after_tls12_handshake(const SSL* ssl, std::uint64_t written,
                                                                  std::uint64_t read, std::string& error) {
  std::array<unsigned char, 48> master{};
  std::array<unsigned char, 32> client_random{}, server_random{};
  const SSL_SESSION* session = SSL_get_session(ssl);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  // (Asked for 48 bytes, it copies 48 whatever it holds: its own size first.)
  if (session == nullptr || cipher == nullptr || SSL_version(ssl) != TLS1_2_VERSION ||
      SSL_SESSION_get_master_key(session, nullptr, 0) != master.size() ||
      SSL_SESSION_get_master_key(session, master.data(), master.size()) != master.size() ||
      SSL_get_client_random(ssl, client_random.data(), 32) != 32 ||
      SSL_get_server_random(ssl, server_random.data(), 32) != 32) {
    error = "no TLS 1.2 session to take the keys of";
    OPENSSL_cleanse(master.data(), master.size());
    return nullptr;
  }
  auto layer = make_tls12(SSL_CIPHER_get_protocol_id(cipher), {master, client_random, server_random}, true, written,
                          read, error);
  OPENSSL_cleanse(master.data(), master.size());
  return layer;
}

bool record_layer::nonce_by_parameter(std::uint16_t suite, bool tls12) noexcept {
  const record_suite* s = find_record_suite(suite, tls12);
  return s != nullptr && s->nonce_by_parameter;
}

std::uint64_t record_layer::record_limit(std::uint16_t suite) noexcept {
  for (const bool tls12 : {false, true}) {
    if (const record_suite* s = find_record_suite(suite, tls12)) return s->record_limit;
  }
  return 0;
}

std::size_t record_layer::seal(const std::byte* in, std::size_t n, std::byte* out) noexcept {
  auto* o = reinterpret_cast<unsigned char*>(out);
  const auto* i = reinterpret_cast<const unsigned char*>(in);
  std::size_t written = 0;
  if (owed_warning_ != 0) {
    const unsigned char alert[] = {warning, no_renegotiation};
    const std::size_t r = keys_.seal(content_alert, alert, sizeof alert, o);
    if (r == 0) return 0;
    --owed_warning_;
    written += r;
  }
  if (update_due_ || keys_.write_seq() >= keys_.suite().record_limit) {
    // Before our next application data when the peer asked (section 4.6.3), or
    // before this key has sealed more records than it safely may (section 5.5);
    // then the new key. An hours-long video stream reaches the AES-GCM limit
    // (2^24 records of 16 KiB: 256 GiB).
    const unsigned char update[] = {key_update, 0, 0, 1, 0};
    const std::size_t r = keys_.seal(content_handshake, update, sizeof update, o + written);
    if (r == 0 || !keys_.update_write()) return 0;
    update_due_ = false;
    written += r;
  }
  for (std::size_t off = 0; off < n;) {
    const std::size_t chunk = std::min(n - off, max_plain);
    const std::size_t r = keys_.seal(content_data, i + off, chunk, o + written);
    if (r == 0) return 0;
    written += r;
    off += chunk;
  }
  return written;
}

std::size_t record_layer::seal_key_update(unsigned char request, unsigned char* out) noexcept {
  const unsigned char update[] = {key_update, 0, 0, 1, request};
  const std::size_t r = keys_.seal(content_handshake, update, sizeof update, out);
  return r != 0 && keys_.update_write() ? r : 0;
}

std::size_t record_layer::seal_alert(unsigned char description, std::byte* out) noexcept {
  const bool is_warning = description == close_notify || description == no_renegotiation;
  const unsigned char alert[] = {is_warning ? warning : fatal, description};
  return keys_.seal(content_alert, alert, sizeof alert, reinterpret_cast<unsigned char*>(out));
}

std::size_t record_layer::seal_owed(std::byte* out) noexcept {
  if (owed_warning_ == 0) return 0;
  const std::size_t n = seal_alert(no_renegotiation, out);
  if (n > 0) --owed_warning_;
  return n;
}

bool record_layer::fail(opened& r, unsigned char alert, std::string error, const char* departure) {
  r.error = std::move(error);
  r.alert = alert;
  r.forget_session = true;
  r.departure = departure;
  ended_ = true;
  return false;
}

// The header, as OpenSSL 3.0 checks it before the body: the version, then (TLS 1.3)
// the outer type and the legacy version, then the length.
bool record_layer::header_ok(const unsigned char* h, opened& r) {
  const std::size_t len = (std::size_t{h[3]} << 8) | h[4];
  const unsigned version = (unsigned{h[1]} << 8) | h[2];
  if (tls12() ? version != 0x0303 : h[1] != 3) {
    return fail(r, protocol_version, "a record of version " + std::to_string(h[1]) + "." + std::to_string(h[2]));
  }
  if (!tls12() && h[0] != content_data) {
    return fail(r, unexpected_message, "a record of type " + std::to_string(h[0]) + " after the handshake");
  }
  if (!tls12() && version != 0x0303) {
    return fail(r, decode_error, "a record of version " + std::to_string(h[1]) + "." + std::to_string(h[2]));
  }
  if (len > (tls12() ? tls12_max_body : tls13_max_body)) {
    return fail(r, record_overflow, "a record of length " + std::to_string(len));
  }
  return true;
}

// A whole record's checks after it opened: its type, its length, an empty one.
bool record_layer::record_ok(unsigned char type, std::size_t content, std::size_t inner, opened& r) {
  if (!tls12() && type != content_data && type != content_alert && type != content_handshake) {
    return fail(r, unexpected_message, "a record of inner type " + std::to_string(type));
  }
  if (!tls12() && (type == content_alert || type == content_handshake) && content == 0) {
    return fail(r, unexpected_message, "an empty alert or handshake record");
  }
  if (content > max_plain) {
    return fail(r, record_overflow, "a record of " + std::to_string(content) + " bytes of content");
  }
  if (!tls12() && inner > max_plain + 1) {
    return fail(r, record_overflow, "a record of " + std::to_string(inner) + " bytes with its padding",
                departure_id(0));
  }
  if (content == 0) {
    if (++empty_ > most_empty_records) return fail(r, unexpected_message, "too many empty records in a row");
  } else {
    empty_ = 0;
  }
  return true;
}

// An alert, as OpenSSL 3.0 reads it (ssl3_read_bytes): each warning counts, the
// fifth in a row fails; TLS 1.3 ignores user_canceled and ends on any other.
bool record_layer::take_alert(const unsigned char* body, std::size_t content, opened& r) {
  if (content != 2) return fail(r, unexpected_message, "a malformed alert");
  const unsigned char level = body[0];
  const unsigned char description = body[1];
  const bool tls13 = !tls12();
  if (level == warning || (tls13 && description == user_canceled)) {
    if (++warnings_ == most_warnings) return fail(r, unexpected_message, "too many warning alerts in a row");
  }
  if (tls13 && description == user_canceled) return true;
  if (description == close_notify && (tls13 || level == warning)) {
    r.closed = true;
    ended_ = true;
    return false;
  }
  if (level == fatal || tls13) {
    return fail(r, 0, std::string("the peer sent an alert: ") + SSL_alert_desc_string_long(description));
  }
  if (description == no_renegotiation) return fail(r, handshake_failure, "the peer refused a renegotiation");
  if (level == warning) return true;  // TLS 1.2 ignores the other warnings
  return fail(r, illegal_parameter, "an alert of level " + std::to_string(level));
}

// Handshake bytes after the handshake: a TLS 1.2 client may ask to renegotiate (a
// whole ClientHello, refused with a warning, and the connection goes on), a TLS 1.3
// one may send KeyUpdate (section 4.6.3). A message may span records; its 4-byte
// header is gathered first.
bool record_layer::take_handshake(const unsigned char* body, std::size_t content, opened& r) {
  std::size_t pos = 0;
  for (;;) {
    if (fragment_size_ < 4) {
      const std::size_t take = std::min<std::size_t>(4 - fragment_size_, content - pos);
      std::memcpy(fragment_.data() + fragment_size_, body + pos, take);
      fragment_size_ = static_cast<unsigned char>(fragment_size_ + take);
      pos += take;
      if (fragment_size_ < 4) return true;
      const std::size_t length = (std::size_t{fragment_[1]} << 16) | (std::size_t{fragment_[2]} << 8) | fragment_[3];
      const unsigned char type = fragment_[0];
      if (type != (tls12() ? client_hello : key_update)) {
        return fail(r, unexpected_message, "a handshake message of type " + std::to_string(type) + " after the handshake",
                    answered_update_ ? departure_id(2) : nullptr);
      }
      if (length > (tls12() ? longest_client_hello : 1)) {
        return fail(r, illegal_parameter, "a handshake message of " + std::to_string(length) + " bytes",
                    answered_update_ ? departure_id(2) : nullptr);
      }
      body_left_ = static_cast<std::uint32_t>(length);
      body_size_ = 0;
    }
    const std::size_t take = std::min<std::size_t>(body_left_, content - pos);
    if (take > 0 && !tls12()) fragment_[4] = body[pos];  // a KeyUpdate's one byte
    body_size_ += static_cast<std::uint32_t>(take);
    body_left_ -= static_cast<std::uint32_t>(take);
    pos += take;
    if (body_left_ > 0) return true;
    fragment_size_ = 0;
    if (tls12()) {
      // OpenSSL 3.0 answers a renegotiation with a warning and carries on.
      if (owed_warning_ < most_owed) ++owed_warning_;
      if (pos == content) return true;
      continue;
    }
    return take_tls13_message(content - pos, r);
  }
}

// A whole KeyUpdate whose record had `rest` bytes after it. A key change must end
// its record (section 5.1).
bool record_layer::take_tls13_message(std::size_t rest, opened& r) {
  if (rest != 0) return fail(r, unexpected_message, "a KeyUpdate that does not end its record");
  if (body_size_ != 1)
    return fail(r, decode_error, "a KeyUpdate without its request", answered_update_ ? departure_id(2) : nullptr);
  const unsigned char request = fragment_[4];
  if (request > 1) return fail(r, illegal_parameter, "a KeyUpdate request of " + std::to_string(request));
  if (request == 1) update_due_ = answered_update_ = true;
  if (!keys_.update_read()) return fail(r, 0, "cannot change the read key");
  return true;
}

// Acts on an opened record's content; false when reading stops here.
bool record_layer::take_record(unsigned char type, const unsigned char* body, std::size_t content, opened& r) {
  if (!tls12() && fragment_size_ > 0 && fragment_size_ < 4 && type != content_handshake) {
    return fail(r, unexpected_message, "a record inside a handshake message");
  }
  if (type != content_alert && content != 0) warnings_ = 0;
  switch (type) {
    case content_data:
      // Inside a message whose header has come, only its bytes may follow.
      if (fragment_size_ == 4) {
        return fail(r, unexpected_message, "application data inside a handshake message");
      }
      r.plain += content;
      return true;
    case content_alert:
      return take_alert(body, content, r);
    case content_handshake:
      return take_handshake(body, content, r);
    case content_change_cipher_spec:
      return fail(r, unexpected_message, "a ChangeCipherSpec after the handshake");
    default:
      return fail(r, unexpected_message, "a record of type " + std::to_string(type) + " after the handshake");
  }
}

record_layer::opened record_layer::open(const std::byte* in, std::size_t n, std::byte* out, std::size_t cap) {
  opened r;
  if (ended_) return r;
  const auto* src = reinterpret_cast<const unsigned char*>(in);
  auto* dst = reinterpret_cast<unsigned char*>(out);
  std::size_t at = 0;  // where the record being read starts
  while (n - r.used >= header_size) {
    at = r.used;
    const unsigned char* h = src + r.used;
    if (!header_ok(h, r)) break;
    const std::size_t len = (std::size_t{h[3]} << 8) | h[4];
    if (n - r.used < header_size + len) break;
    const std::size_t sealed = keys_.sealed_size(len);
    if (cap - r.plain < sealed) break;
    unsigned char* body = dst + r.plain;
    if (!keys_.can_hold(len)) {
      fail(r, bad_record_mac, "a record too short to be authentic", tls12() ? departure_id(1) : nullptr);
      break;
    }
    if (!keys_.open(h, len, body)) {
      fail(r, bad_record_mac, "a record failed authentication");
      break;
    }
    r.used += header_size + len;
    unsigned char type = h[0];
    std::size_t content = sealed;
    if (!tls12()) {
      // The content type is the last non-zero byte; zeros after it are padding.
      while (content > 1 && body[content - 1] == 0) --content;
      type = body[--content];
    }
    if (!record_ok(type, content, sealed, r)) break;
    // Application data stays where it opened, handed on; alerts and handshake bytes
    // are read there and the next record opens over them.
    if (!take_record(type, body, content, r)) break;
  }
  if (!r.error.empty()) r.used = at;  // a refused record is not taken
  return r;
}

}  // namespace vmsgate::tls
