#pragma once
// One connection's record protection after the handshake: the AEAD keys of each
// direction and their sequence numbers, sealing and opening one record at a time
// (RFC 8446 section 5.2 for TLS 1.3; RFC 5246 section 6.2.3.3 with RFC 5288 and
// RFC 7905 for TLS 1.2). What a record means is record_layer's business.

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "proxy/tls/key_schedule.hpp"
#include "proxy/tls/record_suites.hpp"

namespace vmsgate::tls {

class record_protection {
 public:
  static constexpr std::size_t header_size = 5;
  static constexpr std::size_t tag_size = aead_tag_size;
  // Up to this much content, a TLS 1.3 record's content and type are encrypted in
  // one pass (copied into place first); longer content is encrypted where it is.
  static constexpr std::size_t one_pass_limit = 2048;

  explicit record_protection(const record_suite& suite) noexcept : suite_(suite) {}
  ~record_protection();
  record_protection(const record_protection&) = delete;
  record_protection& operator=(const record_protection&) = delete;

  // TLS 1.3: the keys of each direction from its traffic secret (section 7.3).
  bool set_tls13(std::span<const unsigned char> read_secret, std::span<const unsigned char> write_secret) noexcept;
  // TLS 1.2: the keys from the key block; ours are the server's if `server`.
  bool set_tls12(const tls12_secrets& secrets, bool server) noexcept;
  void set_sequences(std::uint64_t write, std::uint64_t read) noexcept {
    write_.seq = write;
    read_.seq = read;
  }
  // TLS 1.3 KeyUpdate: the next secret of one direction (section 7.2); its
  // sequence starts again at 0.
  bool update_read() noexcept { return next_secret(read_, false); }
  bool update_write() noexcept { return next_secret(write_, true); }

  const record_suite& suite() const noexcept { return suite_; }
  std::uint64_t write_seq() const noexcept { return write_.seq; }
  std::uint64_t read_seq() const noexcept { return read_.seq; }

  // Seals one record of content type `type` (TLS 1.3: inside, after the content and
  // then `padding` zero bytes) into `out`; returns its size, 0 if the cipher failed or
  // the write sequence is spent. The caller keeps content within the record limits.
  std::size_t seal(unsigned char type, const unsigned char* in, std::size_t n, unsigned char* out,
                   std::size_t padding = 0) noexcept;
  // The bytes a record of `len` body bytes decrypts to (TLS 1.3: content, type and
  // padding); 0 if the body cannot even hold its nonce and tag.
  std::size_t sealed_size(std::size_t len) const noexcept {
    const std::size_t over = suite_.explicit_nonce + tag_size;
    return len < over ? 0 : len - over;
  }
  // Whether a body of `len` bytes holds at least its nonce and tag (and, TLS 1.3, an
  // inner content type byte): shorter ones cannot be authentic.
  bool can_hold(std::size_t len) const noexcept {
    return len >= suite_.explicit_nonce + tag_size + (suite_.tls12 ? 0 : 1);
  }
  // Decrypts the record at `h` (its header, then `len` bytes of body) into `out`
  // (room: sealed_size(len)); false unless it is authentic. The read sequence moves
  // on only for an authentic record.
  bool open(const unsigned char* h, std::size_t len, unsigned char* out) noexcept;

 private:
  struct direction {
    EVP_CIPHER_CTX* ctx = nullptr;
    std::array<unsigned char, 48> secret{};  // SHA-384 at most
    std::array<unsigned char, 12> iv{};  // TLS 1.2 AES-GCM: the 4-byte salt, then zeros
    std::uint64_t seq = 0;  // records done with this key
  };
  bool set_keys(direction& d, std::span<const unsigned char> secret, bool encrypt) noexcept;
  bool set_key(direction& d, const unsigned char* key, bool encrypt) noexcept;
  bool next_secret(direction& d, bool encrypt) noexcept;
  std::size_t additional_data(const unsigned char* h, std::size_t content, std::uint64_t seq,
                              unsigned char* aad) const noexcept;
  // Sets the nonce of the next record of `d`, and for the read direction the
  // record's tag.
  bool begin_record(direction& d, bool encrypt, const unsigned char* nonce, const unsigned char* tag) noexcept;

  const record_suite& suite_;
  direction read_;
  direction write_;
};

}  // namespace vmsgate::tls
