#include "proxy/tls/record_suites.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::tls {

// A record's nonce, the cheap way. EVP_CipherInit_ex2 with only an IV costs about
// 600 instructions in OpenSSL 3.0: it asks the provider for the IV length through
// a parameter lookup by name, on every call. OpenSSL's AES-GCM also takes the whole
// nonce as its TLS "fixed IV" parameter when the length given is -1 (how OpenSSL's
// TLS 1.2 code restores an IV), and a decrypting context takes the tag in the same
// call: together about a fifth of what sealing and opening a short record cost.
// That is a detail of OpenSSL's provider, so it is used only for a cipher that
// passes this test when it is fetched: one record sealed both ways comes out the
// same, opens with nonce and tag set together, and is refused with a wrong tag.
OSSL_PARAM nonce_parameter(const unsigned char* nonce) noexcept {
  return OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, const_cast<unsigned char*>(nonce),
                                           std::numeric_limits<std::size_t>::max());
}
OSSL_PARAM tag_parameter(const unsigned char* tag) noexcept {
  return OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, const_cast<unsigned char*>(tag),
                                           aead_tag_size);
}


namespace {

bool nonce_by_parameter_passes(EVP_CIPHER* cipher, std::size_t key_size) {
  const std::array<unsigned char, 32> key{0x6b, 0x65, 0x79};
  const std::array<unsigned char, 12> nonce{0x0e, 0x0c, 0x0a, 0x08, 0x06, 0x04, 0x02, 0x00, 0x01, 0x03, 0x05, 0x07};
  const std::array<unsigned char, 5> aad{23, 3, 3, 0, 40};
  std::array<unsigned char, 24> plain{};
  for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<unsigned char>(i * 7);
  using sealed = std::array<unsigned char, 24 + aead_tag_size>;
  // Seals `plain` with the nonce set one way or the other; false if the cipher failed.
  auto seal = [&](bool by_parameter, sealed& out) {
    const cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (!ctx || static_cast<std::size_t>(EVP_CIPHER_get_key_length(cipher)) != key_size ||
        EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), nullptr, 1, nullptr) != 1) {
      return false;
    }
    const OSSL_PARAM set[] = {nonce_parameter(nonce.data()), OSSL_PARAM_construct_end()};
    OSSL_PARAM get[] = {tag_parameter(out.data() + plain.size()), OSSL_PARAM_construct_end()};
    int len = 0;
    return (by_parameter ? EVP_CIPHER_CTX_set_params(ctx.get(), set)
                         : EVP_CipherInit_ex2(ctx.get(), nullptr, nullptr, nonce.data(), 1, nullptr)) == 1 &&
           EVP_CipherUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
           EVP_CipherUpdate(ctx.get(), out.data(), &len, plain.data(), static_cast<int>(plain.size())) == 1 &&
           EVP_CipherFinal_ex(ctx.get(), out.data() + plain.size(), &len) == 1 &&
           EVP_CIPHER_CTX_get_params(ctx.get(), get) == 1;
  };
  // Opens `in` with nonce and tag set by parameter; true if it is authentic and
  // gives `plain` back.
  auto opens = [&](const sealed& in) {
    const cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), nullptr, 0, nullptr) != 1) return false;
    const OSSL_PARAM set[] = {nonce_parameter(nonce.data()), tag_parameter(in.data() + plain.size()),
                              OSSL_PARAM_construct_end()};
    sealed out{};
    int len = 0;
    return EVP_CIPHER_CTX_set_params(ctx.get(), set) == 1 &&
           EVP_CipherUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
           EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(plain.size())) == 1 &&
           EVP_CipherFinal_ex(ctx.get(), out.data() + len, &len) == 1 &&
           std::equal(plain.begin(), plain.end(), out.begin());
  };
  sealed by_init{}, by_parameter{};
  if (!seal(false, by_init) || !seal(true, by_parameter) || by_init != by_parameter || !opens(by_init)) return false;
  sealed forged = by_init;
  forged.back() ^= 1;
  return !opens(forged);
}

bool nonce_by_parameter_works(EVP_CIPHER* cipher, std::size_t key_size) {
  ERR_set_mark();  // what the test leaves on the error queue (the refusal's) is not the caller's
  const bool works = nonce_by_parameter_passes(cipher, key_size);
  ERR_pop_to_mark();
  return works;
}

// Fetched once for the process (OpenSSL 3.0 fetches on every implicit use, under a
// lock), and never freed: they live as long as the workers that use them.
constexpr std::uint64_t no_limit = std::numeric_limits<std::uint64_t>::max();
struct algorithms {
  std::array<record_suite, 9> suites{{
      {0x1301, false, "AES-128-GCM", "SHA256", 16, 32, std::uint64_t{1} << 24, 12, 0},
      {0x1302, false, "AES-256-GCM", "SHA384", 32, 48, std::uint64_t{1} << 24, 12, 0},
      {0x1303, false, "ChaCha20-Poly1305", "SHA256", 32, 32, no_limit, 12, 0},
      // ECDHE-RSA-, then ECDHE-ECDSA- AES128-GCM-SHA256, AES256-GCM-SHA384,
      // CHACHA20-POLY1305: the TLS 1.2 suites the contexts allow.
      {0xc02f, true, "AES-128-GCM", "SHA256", 16, 32, no_limit, 4, 8},
      {0xc030, true, "AES-256-GCM", "SHA384", 32, 48, no_limit, 4, 8},
      {0xcca8, true, "ChaCha20-Poly1305", "SHA256", 32, 32, no_limit, 12, 0},
      {0xc02b, true, "AES-128-GCM", "SHA256", 16, 32, no_limit, 4, 8},
      {0xc02c, true, "AES-256-GCM", "SHA384", 32, 48, no_limit, 4, 8},
      {0xcca9, true, "ChaCha20-Poly1305", "SHA256", 32, 32, no_limit, 12, 0},
  }};
  algorithms() {
    for (auto& s : suites) {
      s.fetched = EVP_CIPHER_fetch(nullptr, s.cipher, nullptr);
      s.hash = EVP_MD_fetch(nullptr, s.digest, nullptr);
      if (s.hash == nullptr) s.fetched = nullptr;  // a suite without its hash is not there
      s.nonce_by_parameter = s.fetched != nullptr && std::strncmp(s.cipher, "AES-", 4) == 0 &&
                             nonce_by_parameter_works(s.fetched, s.key_size);
    }
  }
  const record_suite* find(std::uint16_t id, bool tls12) const noexcept {
    for (const auto& s : suites) {
      if (s.id == id && s.tls12 == tls12 && s.fetched != nullptr) return &s;
    }
    return nullptr;
  }
};

const algorithms& fetched() {
  static const algorithms* const a = new algorithms();
  return *a;
}

}  // namespace

const record_suite* find_record_suite(std::uint16_t id, bool tls12) noexcept { return fetched().find(id, tls12); }

}  // namespace vmsgate::tls

