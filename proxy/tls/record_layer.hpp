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
// tickets. TLS 1.3's traffic secrets come from its key log callback, the same ones
// kernel TLS is given; nothing is logged anywhere. TLS 1.2's keys come from the
// session's master secret and the two randoms, through the suite's PRF.
//
// What may arrive after the handshake is what a client may send: application data,
// alerts and, in TLS 1.3, KeyUpdate (section 4.6.3). Anything else ends the connection
// (a TLS 1.2 renegotiation among it: it is off; TLS 1.2 warning alerts are ignored,
// as OpenSSL does, up to five in a row), as does a record that fails authentication:
// no byte of it is handed on.

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace vmsgate::tls {

// Receives the traffic secrets OpenSSL derives for one SSL, from inside
// SSL_do_handshake.
class traffic_secret_sink {
 public:
  virtual void on_secret(std::string_view label, std::span<const unsigned char> secret) noexcept = 0;

 protected:
  ~traffic_secret_sink() = default;
};

// The two TLS 1.3 application traffic secrets of `ssl` go to `sink` as OpenSSL
// derives them; null stops that. They come through OpenSSL's key log, which formats
// every secret as hex before it calls back, so the key log is switched on only just
// before each wanted secret (at a Finished message) and off once it has come: the
// handshake secrets are not formatted at all. The switch is on the SSL's context,
// which must not be used by another thread meanwhile (each worker has its own). A
// handshake that fails between a Finished and its secret leaves it on, which costs
// the next handshakes on the context some formatting until a wanted secret (or a
// line for an SSL with no sink) turns it off; no secret is ever missed.
bool set_traffic_secret_sink(SSL* ssl, traffic_secret_sink* sink);

class record_layer {
 public:
  static constexpr std::size_t header_size = 5;
  static constexpr std::size_t tag_size = 16;
  static constexpr std::size_t max_plain = 16384;
  static constexpr std::size_t max_record = header_size + max_plain + 256;
  // What a record adds to its content at most: a header, TLS 1.2's explicit nonce
  // (TLS 1.3's content type is smaller) and the tag.
  static constexpr std::size_t record_overhead = header_size + 8 + tag_size;
  // Room a seal of n bytes may need: a KeyUpdate record first, then per record of
  // up to max_plain bytes its overhead.
  static constexpr std::size_t seal_room(std::size_t n) noexcept {
    const std::size_t records = n == 0 ? 1 : (n + max_plain - 1) / max_plain;
    return key_update_record + n + records * record_overhead;
  }

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
  struct tls12_secrets {
    std::span<const unsigned char> master;
    std::span<const unsigned char> client_random;
    std::span<const unsigned char> server_random;
  };
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
  // parameter rather than by a new cipher init: AES-GCM on OpenSSL 3.0, after a
  // self-test when the cipher is fetched (record_layer.cpp says why).
  static bool nonce_by_parameter(std::uint16_t suite, bool tls12) noexcept;
  // Up to this much content, a TLS 1.3 record's content and type are encrypted in
  // one pass (copied into place first); longer content is encrypted where it is.
  static constexpr std::size_t one_pass_limit = 2048;
  ~record_layer();
  record_layer(const record_layer&) = delete;
  record_layer& operator=(const record_layer&) = delete;

  // Seals n bytes (n > 0) into `out` (room: seal_room(n)) as application-data
  // records; first a KeyUpdate, if the peer asked for one or the key has sealed as
  // many records as its cipher safely may. Returns the bytes written,
  // 0 if the cipher failed.
  std::size_t seal(const std::byte* in, std::size_t n, std::byte* out) noexcept;
  // One record of any content type (n <= max_plain), as a peer would seal it: the
  // tests and the fuzzer make the records a client might send with it.
  std::size_t seal_content(unsigned char type, const unsigned char* in, std::size_t n, unsigned char* out) noexcept;
  // An alert as one record, into `out` (room: alert_room): close_notify (0) and
  // no_renegotiation (100) as warnings, any other description as fatal.
  static constexpr std::size_t alert_room = record_overhead + 2;
  std::size_t seal_alert(unsigned char description, std::byte* out) noexcept;

  struct opened {
    std::size_t used = 0;   // bytes of `in` taken: whole records only
    std::size_t plain = 0;  // application data written to `out`
    bool closed = false;    // close_notify came: nothing after it is read
    std::string error;      // set: the connection must end
    unsigned char alert = 0;  // with `error`: the alert to send the peer, 0 for none
  };
  // Opens the whole records at the front of [in, in + n) and appends their
  // application data to `out` (cap bytes). Stops at a partial record, when the next
  // record might not fit `out`, after close_notify, or at an error.
  opened open(const std::byte* in, std::size_t n, std::byte* out, std::size_t cap);

  struct suite_info;

 private:
  struct direction {
    EVP_CIPHER_CTX* ctx = nullptr;
    std::array<unsigned char, 48> secret{};  // SHA-384 at most
    std::array<unsigned char, 12> iv{};  // TLS 1.2 AES-GCM: the 4-byte salt, then zeros
    std::uint64_t seq = 0;  // records done with this key
  };
  static constexpr std::size_t key_update_record = header_size + 5 + 1 + tag_size;
  explicit record_layer(const suite_info& suite) noexcept : suite_(suite) {}
  bool set_keys(direction& d, std::span<const unsigned char> secret, bool encrypt) noexcept;
  bool set_key(direction& d, const unsigned char* key, bool encrypt) noexcept;
  bool next_secret(direction& d) noexcept;
  bool on_handshake_message(const unsigned char* body, std::size_t n) noexcept;
  std::string header_error(const unsigned char* h, unsigned char& alert) const;
  // The shortest body a record may have: TLS 1.3 a content type and the tag, TLS 1.2
  // the explicit nonce and the tag (empty data records are allowed).
  std::size_t min_body() const noexcept;
  std::size_t additional_data(const unsigned char* h, std::size_t content, std::uint64_t seq,
                              unsigned char* aad) const noexcept;
  bool decrypt(const unsigned char* h, std::size_t len, unsigned char* body) noexcept;
  // Sets the nonce of the next record of `d`, and for the read direction the
  // record's tag.
  bool begin_record(direction& d, const unsigned char* nonce, const unsigned char* tag) noexcept;
  bool take_content(unsigned char header_type, unsigned char* body, std::size_t sealed, opened& r);

  const suite_info& suite_;
  direction read_;
  direction write_;
  bool update_due_ = false;  // the peer asked for our KeyUpdate
  unsigned char warnings_ = 0;  // TLS 1.2 warning alerts in a row, ignored up to a few
};

}  // namespace vmsgate::tls
