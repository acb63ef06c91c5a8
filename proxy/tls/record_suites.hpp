#pragma once
// The AEAD suites whose records the worker seals and opens itself (record_layer.hpp):
// their cipher, key and nonce sizes and hash, fetched once for the process.

#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstddef>
#include <cstdint>

namespace vmsgate::tls {

constexpr std::size_t aead_tag_size = 16;

struct record_suite {
  std::uint16_t id;  // as SSL_CIPHER_get_protocol_id gives it
  bool tls12;
  const char* cipher;
  const char* digest;
  std::size_t key_size;
  std::size_t hash_size;
  // Records one key may seal (RFC 8446 section 5.5: 2^24.5 for AES-GCM, with a
  // margin; ChaCha20-Poly1305 has no practical limit; TLS 1.2 cannot change keys).
  std::uint64_t record_limit;
  // TLS 1.2: the IV bytes from the key block (RFC 5288: a 4-byte salt, and 8 bytes
  // of explicit nonce in each record; RFC 7905: 12 bytes, no explicit nonce).
  // TLS 1.3: the whole 12-byte IV, no explicit nonce.
  std::size_t fixed_iv;
  std::size_t explicit_nonce;
  EVP_CIPHER* fetched = nullptr;
  EVP_MD* hash = nullptr;  // `digest`, fetched with the cipher
  // The nonce (and, read, the tag) goes in as a cipher parameter rather than by a new
  // cipher init: AES-GCM on OpenSSL 3.0, after a self-test when the cipher is fetched
  // (record_suites.cpp says why).
  bool nonce_by_parameter = false;
};

// Null unless `id` is one of the three TLS 1.3 suites (tls12 false) or the six
// ECDHE AEAD TLS 1.2 suites (tls12 true), and its cipher could be fetched.
const record_suite* find_record_suite(std::uint16_t id, bool tls12) noexcept;

// A record's whole 12-byte nonce as one AES-GCM parameter, and its tag (to set on a
// decrypting context, or to read from an encrypting one after the final call).
OSSL_PARAM nonce_parameter(const unsigned char* nonce) noexcept;
OSSL_PARAM tag_parameter(const unsigned char* tag) noexcept;

}  // namespace vmsgate::tls
