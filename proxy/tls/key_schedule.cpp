#include "proxy/tls/key_schedule.hpp"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>
#include <cstring>

namespace vmsgate::tls {
namespace {

// HKDF: one context per thread and digest, its digest and mode set once. Setting a
// digest by name fetches it through a global lock, and a new TLS 1.3 session's keys
// would fetch it four times. (TLS1-PRF cannot be kept so: OpenSSL 3.0 appends each
// seed given to a context to the ones before.)
EVP_KDF_CTX* hkdf_context(const record_suite& suite) noexcept {
  struct contexts {
    std::array<EVP_KDF_CTX*, 2> ctx{};  // SHA256, SHA384
    ~contexts() {
      for (EVP_KDF_CTX* c : ctx) EVP_KDF_CTX_free(c);
    }
  };
  thread_local contexts kept;
  EVP_KDF_CTX*& ctx = kept.ctx[suite.hash_size == 48 ? 1 : 0];
  if (ctx != nullptr || fetched_hkdf() == nullptr) return ctx;
  EVP_KDF_CTX* fresh = EVP_KDF_CTX_new(fetched_hkdf());
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(suite.digest), 0),
      OSSL_PARAM_construct_end()};
  if (fresh == nullptr || EVP_KDF_CTX_set_params(fresh, params) != 1) {
    EVP_KDF_CTX_free(fresh);
    return nullptr;
  }
  ctx = fresh;
  return ctx;
}

}  // namespace

// HKDF-Expand-Label(secret, label, "", n), RFC 8446 section 7.1.
bool expand_label(const record_suite& suite, std::span<const unsigned char> secret,
                  std::string_view label, unsigned char* out, std::size_t n) noexcept {
  std::array<unsigned char, 32> info{};
  constexpr std::string_view prefix = "tls13 ";
  const std::size_t label_size = prefix.size() + label.size();
  if (label_size + 4 > info.size()) return false;
  info[0] = static_cast<unsigned char>(n >> 8);
  info[1] = static_cast<unsigned char>(n);
  info[2] = static_cast<unsigned char>(label_size);
  std::memcpy(info.data() + 3, prefix.data(), prefix.size());
  std::memcpy(info.data() + 3 + prefix.size(), label.data(), label.size());
  info[3 + label_size] = 0;  // no context
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), label_size + 4),
      OSSL_PARAM_construct_end()};
  EVP_KDF_CTX* ctx = hkdf_context(suite);
  const bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out, n, params) == 1;
  // The kept context would hold the secret until the next derive: it is replaced
  // (OpenSSL wipes the old key as it frees it).
  static const unsigned char none = 0;
  const OSSL_PARAM wipe[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(&none), 1),
      OSSL_PARAM_construct_end()};
  if (ctx != nullptr) EVP_KDF_CTX_set_params(ctx, wipe);
  return ok;
}

// The TLS 1.2 key block (RFC 5246 section 6.3): PRF(master secret, "key expansion",
// server random + client random).
bool tls12_key_block(const record_suite& suite, const tls12_secrets& s, unsigned char* out,
               std::size_t n) noexcept {
  constexpr std::string_view label = "key expansion";
  std::array<unsigned char, label.size() + 64> seed{};
  if (s.client_random.size() != 32 || s.server_random.size() != 32) return false;
  std::memcpy(seed.data(), label.data(), label.size());
  std::memcpy(seed.data() + label.size(), s.server_random.data(), 32);
  std::memcpy(seed.data() + label.size() + 32, s.client_random.data(), 32);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(suite.digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, const_cast<unsigned char*>(s.master.data()),
                                        s.master.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed.data(), seed.size()),
      OSSL_PARAM_construct_end()};
  EVP_KDF_CTX* ctx = fetched_tls1_prf() == nullptr ? nullptr : EVP_KDF_CTX_new(fetched_tls1_prf());
  const bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out, n, params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

}  // namespace vmsgate::tls
