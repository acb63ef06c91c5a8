#pragma once
// TLS 1.3 records (RFC 8446, section 5), and TLS 1.2's AEAD records (RFC 5246 section
// 6.2.3.3, RFC 5288, RFC 7905), after OpenSSL's handshake, done by the worker:
// what kernel TLS does where the kernel has the TLS ULP, done in user space where it
// has not.
//
// Why: after the handshake, OpenSSL's SSL object is about 13 KB per connection (the
// SSL itself with its 32 record slots, two cipher contexts, the session), and an idle
// connection keeps all of it for nothing but two keys. This keeps the two cipher
// contexts and about 200 bytes, and the SSL is freed. It also spares each record a
// copy: records are opened straight into the buffer that goes to the backend, and
// sealed straight into the one that goes to the client.
//
// OpenSSL still does everything else: the handshake, the certificate checks, the
// tickets. TLS 1.3's traffic secrets come from its key log (secret_capture.hpp);
// TLS 1.2's keys come from the session's master secret and the two randoms.
//
// The layer is a state machine with no socket: open() takes the bytes that came and
// says what to do (hand this much plain text on, send this alert, end, forget the
// session); seal() and seal_alert() make what goes out. Its answer to every input
// is OpenSSL 3.0's own, held there by a differential test and fuzzer
// (tests/tls/record_diff_test.cpp, fuzz/record_diff.cpp); where OpenSSL 3.0 departs
// from an RFC MUST, it does as the RFC says. Those departures are the table
// `rfc_departures` below, and docs/record-layer.md.
//
// The pieces: record_suites (suites, nonces), key_schedule (HKDF, PRF),
// secret_capture (TLS 1.3 secrets from OpenSSL), record_protection (sealing and
// opening one record), and this file (what records mean).

#include <openssl/ssl.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "proxy/tls/key_schedule.hpp"
#include "proxy/tls/record_protection.hpp"
#include "proxy/tls/secret_capture.hpp"

namespace vmsgate::tls {

// Where the layer answers as the RFC says and OpenSSL 3.0 does not. `departure`
// names a row in an opened result; the harness of the differential test reads it.
struct rfc_departure {
  const char* id;
  const char* rfc;        // the section that says MUST
  const char* openssl;    // what OpenSSL 3.0 does
  const char* vmsgate;    // what the layer does
};
extern const std::array<rfc_departure, 3> rfc_departures;

class record_layer {
 public:
  static constexpr std::size_t header_size = record_protection::header_size;
  static constexpr std::size_t tag_size = record_protection::tag_size;
  static constexpr std::size_t max_plain = 16384;
  // The longest record body, refused from its header alone: TLS 1.3's is the RFC's
  // (section 5.2), TLS 1.2's OpenSSL's (2^14 plain and 320 bytes of overhead, where
  // RFC 5246 allows 2048: no AEAD record comes near either).
  static constexpr std::size_t tls13_max_body = max_plain + 256;
  static constexpr std::size_t tls12_max_body = max_plain + 320;
  static constexpr std::size_t max_body = tls12_max_body;
  static constexpr std::size_t max_record = header_size + max_body;
  // What a record adds to its content at most: a header, TLS 1.2's explicit nonce
  // (TLS 1.3's content type is smaller) and the tag.
  static constexpr std::size_t record_overhead = header_size + 8 + tag_size;
  // An alert as one record.
  static constexpr std::size_t alert_room = record_overhead + 2;
  // Room a seal of n bytes may need: an owed alert and a KeyUpdate record first,
  // then per record of up to max_plain bytes its overhead.
  static constexpr std::size_t seal_room(std::size_t n) noexcept {
    const std::size_t records = n == 0 ? 1 : (n + max_plain - 1) / max_plain;
    return alert_room + key_update_record + n + records * record_overhead;
  }
  static constexpr std::size_t one_pass_limit = record_protection::one_pass_limit;

  // Null, with the reason in `error`, unless `suite` (its two-byte id, as
  // SSL_CIPHER_get_protocol_id gives it) is one of the three TLS 1.3 suites and the
  // keys could be set. `read_secret` is the peer's traffic secret,
  // `write_secret` ours; `write_seq` counts the records already sent with it (and
  // `read_seq` those already read, 0 after a handshake).
  static std::unique_ptr<record_layer> make(std::uint16_t suite, std::span<const unsigned char> read_secret,
                                            std::span<const unsigned char> write_secret, std::uint64_t write_seq,
                                            std::string& error, std::uint64_t read_seq = 0);
  // TLS 1.2, AEAD suites: the keys from the master secret and the hello randoms
  // (section 6.3), ours the server's if `server`. Null, with the reason in `error`,
  // unless `suite` is one of the six ECDHE AEAD suites.
  using tls12_secrets = tls::tls12_secrets;
  static std::unique_ptr<record_layer> make_tls12(std::uint16_t suite, const tls12_secrets& secrets, bool server,
                                                  std::uint64_t write_seq, std::uint64_t read_seq,
                                                  std::string& error);
  // The server's records of a TLS 1.2 SSL whose handshake has just ended, after
  // `written` records sent and `read` records read with its keys (its Finished and
  // the client's: the session counts them).
  static std::unique_ptr<record_layer> after_tls12_handshake(const SSL* ssl, std::uint64_t written,
                                                             std::uint64_t read, std::string& error);
  // Records one key of `suite` seals before the layer changes it (0: not a suite;
  // TLS 1.2 has no KeyUpdate: no limit).
  static std::uint64_t record_limit(std::uint16_t suite) noexcept;
  // Whether the suite's records set their nonce (and, read, their tag) by cipher
  // parameter rather than by a new cipher init (record_suites.hpp).
  static bool nonce_by_parameter(std::uint16_t suite, bool tls12) noexcept;
  record_layer(const record_layer&) = delete;
  record_layer& operator=(const record_layer&) = delete;

  // Seals n bytes (n > 0) into `out` (room: seal_room(n)) as application-data
  // records; first an owed warning (see owes_reply), then a KeyUpdate if the peer
  // asked for one or the key has sealed as many records as its cipher safely may.
  // Returns the bytes written, 0 if the cipher failed.
  std::size_t seal(const std::byte* in, std::size_t n, std::byte* out) noexcept;
  // One record of any content type (TLS 1.3: with `padding` zero bytes after the
  // type), as a peer would seal it: the tests and the fuzzers make the records a
  // client might send with it, within the limits a record's length field allows.
  std::size_t seal_content(unsigned char type, const unsigned char* in, std::size_t n, unsigned char* out,
                           std::size_t padding = 0) noexcept {
    return keys_.seal(type, in, n, out, padding);
  }
  // A KeyUpdate with this request value alone in its record, then our next write
  // key, as a peer changes its keys: the tests and the fuzzers use it.
  std::size_t seal_key_update(unsigned char request, unsigned char* out) noexcept;
  // Our next write key, as after a KeyUpdate sealed in parts with seal_content.
  bool change_write_key() noexcept { return keys_.update_write(); }
  // An alert as one record, into `out` (room: alert_room): close_notify (0) and
  // no_renegotiation (100) as warnings, any other description as fatal.
  std::size_t seal_alert(unsigned char description, std::byte* out) noexcept;
  // A warning the peer is owed and has not been sent: TLS 1.2's no_renegotiation,
  // the answer to a ClientHello after the handshake, after which the connection goes
  // on. seal() puts one first; seal_owed() seals one alone (room: alert_room), 0 if none.
  bool owes_reply() const noexcept { return owed_warning_ != 0; }
  std::size_t seal_owed(std::byte* out) noexcept;

  struct opened {
    std::size_t used = 0;     // bytes of `in` taken; with `error`, those before the refused record
    std::size_t plain = 0;    // application data written to `out`
    bool closed = false;      // close_notify came: nothing after it is read
    std::string error;        // set: the connection must end
    unsigned char alert = 0;  // with `error`: the fatal alert to send the peer, 0 for none
    // With `error`, always: a TLS 1.2 session must not be resumed after a fatal alert
    // sent or received (RFC 5246 section 7.2.2); the caller removes it from the cache.
    bool forget_session = false;
    // With `error`: the id of the rfc_departures row this answer follows, if any.
    const char* departure = nullptr;
  };
  // Opens the records at the front of [in, in + n) and appends their application
  // data to `out` (cap bytes). Stops at a partial record, when the next record
  // might not fit `out`, after close_notify or at an error.
  // Once it has ended (close_notify or error) it reads nothing more. The caller
  // sends the replies owed (seal_owed) before the fatal alert, if both.
  opened open(const std::byte* in, std::size_t n, std::byte* out, std::size_t cap);

 private:
  static constexpr std::size_t key_update_record = header_size + 5 + 1 + tag_size;
  explicit record_layer(const record_suite& suite) noexcept : keys_(suite) {}
  bool tls12() const noexcept { return keys_.suite().tls12; }
  bool header_ok(const unsigned char* h, opened& r);
  bool record_ok(unsigned char type, std::size_t content, std::size_t inner, opened& r);
  bool take_record(unsigned char type, const unsigned char* body, std::size_t content, opened& r);
  bool take_alert(const unsigned char* body, std::size_t content, opened& r);
  bool take_handshake(const unsigned char* body, std::size_t content, opened& r);
  bool take_tls13_message(std::size_t rest, opened& r);
  bool fail(opened& r, unsigned char alert, std::string error, const char* departure = nullptr);

  record_protection keys_;
  // A handshake message that has come in part: its 4-byte header, then (TLS 1.3
  // KeyUpdate) its 1-byte body. TLS 1.2 keeps a ClientHello's header once full, as
  // OpenSSL does: every handshake record after it is then refused the same way.
  std::array<unsigned char, 5> fragment_{};
  unsigned char fragment_size_ = 0;
  std::uint32_t body_left_ = 0;     // bytes of the message's body still to come
  std::uint32_t body_size_ = 0;     // and those that have come
  std::uint32_t owed_warning_ = 0;  // warning alerts owed to the peer (owes_reply)
  unsigned char warnings_ = 0;      // warning alerts read, as OpenSSL counts them
  unsigned char empty_ = 0;         // empty records in a row
  bool update_due_ = false;         // the peer asked for our KeyUpdate
  bool answered_update_ = false;    // it has asked once (rfc_departures[2])
  bool ended_ = false;              // close_notify or an error: nothing more is read
};

}  // namespace vmsgate::tls
