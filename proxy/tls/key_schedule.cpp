#include "proxy/tls/key_schedule.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace vmsgate::tls {
namespace {

// HMAC (RFC 2104) straight on the suite's digest, with this thread's two digest
// contexts: each message costs four compressions and no allocation. EVP_KDF's HKDF
// makes and frees an HMAC and three digest contexts on every derive, and EVP_MAC's
// HMAC hashes its key's pads again on every init (about 17 k instructions an
// expansion either way, against about 7 k here). Keys are at most 48 bytes (a
// SHA-384 secret, the TLS 1.2 master secret): shorter than the digest's block.
class hmac_key {
 public:
  hmac_key(const record_suite& suite, std::span<const unsigned char> key) noexcept : suite_(suite) {
    struct contexts {
      EVP_MD_CTX* inner = EVP_MD_CTX_new();
      EVP_MD_CTX* outer = EVP_MD_CTX_new();
      ~contexts() {
        EVP_MD_CTX_free(inner);
        EVP_MD_CTX_free(outer);
      }
    };
    thread_local contexts kept;
    inner_ = kept.inner;
    outer_ = kept.outer;
    block_ = suite.hash == nullptr ? 0 : static_cast<std::size_t>(EVP_MD_get_block_size(suite.hash));
    ok_ = inner_ != nullptr && outer_ != nullptr && block_ <= pad_.size() && key.size() <= block_;
    if (ok_) {
      std::memcpy(pad_.data(), key.data(), key.size());  // the rest stays zero
    }
  }
  ~hmac_key() {
    OPENSSL_cleanse(pad_.data(), pad_.size());
    // The contexts' last state is a hash of the key's pad: reset.
    if (ok_) {
      EVP_DigestInit_ex2(inner_, suite_.hash, nullptr);
      EVP_DigestInit_ex2(outer_, suite_.hash, nullptr);
    }
  }
  hmac_key(const hmac_key&) = delete;
  hmac_key& operator=(const hmac_key&) = delete;

  // HMAC(key, a || b) into `out` (room: size()).
  bool mac(std::span<const unsigned char> a, std::span<const unsigned char> b, unsigned char* out) noexcept {
    std::array<unsigned char, 128> pad{};
    std::array<unsigned char, 64> inner{};
    unsigned int n = 0;
    for (std::size_t i = 0; i < block_; ++i) pad[i] = static_cast<unsigned char>(pad_[i] ^ 0x36);
    ok_ = ok_ && EVP_DigestInit_ex2(inner_, suite_.hash, nullptr) == 1 &&
          EVP_DigestUpdate(inner_, pad.data(), block_) == 1 && EVP_DigestUpdate(inner_, a.data(), a.size()) == 1 &&
          EVP_DigestUpdate(inner_, b.data(), b.size()) == 1 && EVP_DigestFinal_ex(inner_, inner.data(), &n) == 1;
    for (std::size_t i = 0; i < block_; ++i) pad[i] = static_cast<unsigned char>(pad_[i] ^ 0x5c);
    ok_ = ok_ && EVP_DigestInit_ex2(outer_, suite_.hash, nullptr) == 1 &&
          EVP_DigestUpdate(outer_, pad.data(), block_) == 1 && EVP_DigestUpdate(outer_, inner.data(), n) == 1 &&
          EVP_DigestFinal_ex(outer_, out, &n) == 1 && n == suite_.hash_size;
    OPENSSL_cleanse(pad.data(), pad.size());
    OPENSSL_cleanse(inner.data(), inner.size());
    return ok_;
  }
  std::size_t size() const noexcept { return suite_.hash_size; }

 private:
  const record_suite& suite_;
  EVP_MD_CTX* inner_ = nullptr;
  EVP_MD_CTX* outer_ = nullptr;
  std::size_t block_ = 0;
  std::array<unsigned char, 128> pad_{};  // the key, zero-padded to the block
  bool ok_ = false;
};

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
  // HKDF-Expand(secret, info, n) for n up to the hash's size: the first n bytes of
  // HMAC(secret, info || 0x01) (RFC 5869 section 2.3).
  static const unsigned char counter = 1;
  std::array<unsigned char, 64> block{};
  hmac_key hmac(suite, secret);
  const bool ok = n <= hmac.size() && hmac.mac(std::span(info.data(), label_size + 4), std::span(&counter, 1), block.data());
  if (ok) std::memcpy(out, block.data(), n);
  OPENSSL_cleanse(block.data(), block.size());
  return ok;
}

// The TLS 1.2 key block (RFC 5246 section 6.3): PRF(master secret, "key expansion",
// server random + client random), the PRF being P_hash (section 5): A(0) = seed,
// A(i) = HMAC(secret, A(i-1)), output HMAC(secret, A(1) + seed) || HMAC(secret,
// A(2) + seed) || ... With the kept HMAC context no digest is fetched per session.
bool tls12_key_block(const record_suite& suite, const tls12_secrets& s, unsigned char* out,
                     std::size_t n) noexcept {
  constexpr std::string_view label = "key expansion";
  std::array<unsigned char, label.size() + 64> seed{};
  if (s.client_random.size() != 32 || s.server_random.size() != 32) return false;
  std::memcpy(seed.data(), label.data(), label.size());
  std::memcpy(seed.data() + label.size(), s.server_random.data(), 32);
  std::memcpy(seed.data() + label.size() + 32, s.client_random.data(), 32);
  hmac_key hmac(suite, s.master);
  const std::size_t h = hmac.size();
  std::array<unsigned char, 64> a{}, block{};
  bool ok = hmac.mac(seed, {}, a.data());  // A(1)
  for (std::size_t done = 0; ok && done < n; done += h) {
    ok = hmac.mac(std::span(a.data(), h), seed, block.data());
    if (ok) std::memcpy(out + done, block.data(), std::min(h, n - done));
    ok = ok && (done + h >= n || hmac.mac(std::span(a.data(), h), {}, a.data()));  // A(i+1)
  }
  OPENSSL_cleanse(a.data(), a.size());
  OPENSSL_cleanse(block.data(), block.size());
  return ok;
}

}  // namespace vmsgate::tls
