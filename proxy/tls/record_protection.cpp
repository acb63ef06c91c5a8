#include "proxy/tls/record_protection.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace vmsgate::tls {
namespace {

void put_nonce(const std::array<unsigned char, 12>& iv, std::uint64_t seq, unsigned char* nonce) noexcept {
  std::memcpy(nonce, iv.data(), iv.size());
  for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<unsigned char>(seq >> (8 * i));
}

void put_header(unsigned char* h, unsigned char type, std::size_t body) noexcept {
  h[0] = type;
  h[1] = 0x03;
  h[2] = 0x03;
  h[3] = static_cast<unsigned char>(body >> 8);
  h[4] = static_cast<unsigned char>(body);
}

constexpr unsigned char content_data = 23;

}  // namespace

record_protection::~record_protection() {
  for (direction* d : {&read_, &write_}) {
    EVP_CIPHER_CTX_free(d->ctx);
    OPENSSL_cleanse(d->secret.data(), d->secret.size());
    OPENSSL_cleanse(d->iv.data(), d->iv.size());
  }
}

bool record_protection::set_tls13(std::span<const unsigned char> read_secret,
                                  std::span<const unsigned char> write_secret) noexcept {
  return read_secret.size() == suite_.hash_size && write_secret.size() == suite_.hash_size &&
         set_keys(read_, read_secret, false) && set_keys(write_, write_secret, true);
}

bool record_protection::set_tls12(const tls12_secrets& secrets, bool server) noexcept {
  std::array<unsigned char, 2 * 32 + 2 * 12> block{};
  const std::size_t k = suite_.key_size;
  const std::size_t v = suite_.fixed_iv;
  bool ok = tls12_key_block(suite_, secrets, block.data(), 2 * k + 2 * v);
  if (ok) {
    const std::size_t write = server ? 1 : 0;
    std::memcpy(write_.iv.data(), block.data() + 2 * k + write * v, v);
    std::memcpy(read_.iv.data(), block.data() + 2 * k + (1 - write) * v, v);
    ok = set_key(write_, block.data() + write * k, true) && set_key(read_, block.data() + (1 - write) * k, false);
  }
  OPENSSL_cleanse(block.data(), block.size());
  return ok;
}

// Key and IV from a traffic secret (section 7.3); the sequence starts again at 0.
bool record_protection::set_keys(direction& d, std::span<const unsigned char> secret, bool encrypt) noexcept {
  std::array<unsigned char, 32> key{};
  std::copy(secret.begin(), secret.end(), d.secret.begin());
  const bool ok = expand_label(suite_, secret, "key", key.data(), suite_.key_size) &&
                  expand_label(suite_, secret, "iv", d.iv.data(), d.iv.size()) && set_key(d, key.data(), encrypt);
  OPENSSL_cleanse(key.data(), key.size());
  d.seq = 0;
  return ok;
}

bool record_protection::set_key(direction& d, const unsigned char* key, bool encrypt) noexcept {
  if (d.ctx == nullptr) {
    d.ctx = EVP_CIPHER_CTX_new();
    return d.ctx != nullptr && EVP_CipherInit_ex2(d.ctx, suite_.fetched, key, nullptr, encrypt ? 1 : 0, nullptr) == 1;
  }
  return EVP_CipherInit_ex2(d.ctx, nullptr, key, nullptr, encrypt ? 1 : 0, nullptr) == 1;
}

bool record_protection::next_secret(direction& d, bool encrypt) noexcept {
  std::array<unsigned char, 48> next{};
  const std::span current(d.secret.data(), suite_.hash_size);
  const bool ok = expand_label(suite_, current, "traffic upd", next.data(), suite_.hash_size) &&
                  set_keys(d, std::span(next.data(), suite_.hash_size), encrypt);
  OPENSSL_cleanse(next.data(), next.size());
  return ok;
}

bool record_protection::begin_record(direction& d, bool encrypt, const unsigned char* nonce,
                                     const unsigned char* tag) noexcept {
  if (suite_.nonce_by_parameter) {
    const OSSL_PARAM with_tag[] = {nonce_parameter(nonce), tag_parameter(tag), OSSL_PARAM_construct_end()};
    const OSSL_PARAM nonce_only[] = {nonce_parameter(nonce), OSSL_PARAM_construct_end()};
    return EVP_CIPHER_CTX_set_params(d.ctx, tag != nullptr ? with_tag : nonce_only) == 1;
  }
  return EVP_CipherInit_ex2(d.ctx, nullptr, nullptr, nonce, encrypt ? 1 : 0, nullptr) == 1 &&
         (tag == nullptr || EVP_CIPHER_CTX_ctrl(d.ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag_size),
                                                const_cast<unsigned char*>(tag)) == 1);
}

// The additional data of the record with header `h` and `content` bytes of content:
// TLS 1.3's is the header itself, TLS 1.2's is built from it and the sequence number.
std::size_t record_protection::additional_data(const unsigned char* h, std::size_t content, std::uint64_t seq,
                                               unsigned char* aad) const noexcept {
  if (!suite_.tls12) {
    std::memcpy(aad, h, header_size);
    return header_size;
  }
  for (int i = 0; i < 8; ++i) aad[i] = static_cast<unsigned char>(seq >> (56 - 8 * i));
  aad[8] = h[0];
  aad[9] = h[1];
  aad[10] = h[2];
  aad[11] = static_cast<unsigned char>(content >> 8);
  aad[12] = static_cast<unsigned char>(content);
  return 13;
}

// TLS 1.3: the type goes inside, after the content, then the padding; the header is
// the additional data. TLS 1.2: the type is the header's, the explicit nonce (if the
// suite has one) goes before the content, and the additional data is the sequence
// number, the type, the version and the content's length.
std::size_t record_protection::seal(unsigned char type, const unsigned char* in, std::size_t n, unsigned char* out,
                                    std::size_t padding) noexcept {
  if (write_.seq == std::numeric_limits<std::uint64_t>::max()) return 0;
  const bool tls12 = suite_.tls12;
  if (tls12) padding = 0;
  const std::size_t lead = header_size + suite_.explicit_nonce;
  const std::size_t inner = n + (tls12 ? 0 : 1 + padding);
  const std::size_t body = suite_.explicit_nonce + inner + tag_size;
  if (body > 0xffff) return 0;
  put_header(out, tls12 ? type : content_data, body);
  std::array<unsigned char, 12> nonce{};
  put_nonce(write_.iv, write_.seq, nonce.data());
  std::memcpy(out + header_size, nonce.data() + 4, suite_.explicit_nonce);  // the sequence number, as RFC 5288 allows
  std::array<unsigned char, 13> aad{};
  const std::size_t aad_size = additional_data(out, n, write_.seq, aad.data());
  // TLS 1.3, a short record: content, type and padding copied into place and
  // encrypted there in one pass, which costs less than a second call into the cipher
  // for the type byte; a long one is encrypted from where it is, the type after it.
  const bool one_pass = !tls12 && inner <= one_pass_limit;
  if (one_pass) std::memmove(out + lead, in, n);
  if (!tls12) {
    out[lead + n] = type;
    std::memset(out + lead + n + 1, 0, padding);
  }
  int len = 0;
  // The tag, read after the final call (the parameter EVP_CIPHER_CTX_ctrl would build).
  OSSL_PARAM tag[] = {tag_parameter(out + lead + inner), OSSL_PARAM_construct_end()};
  const int tail = static_cast<int>(inner - n);
  const bool ok =
      begin_record(write_, true, nonce.data(), nullptr) &&
      EVP_CipherUpdate(write_.ctx, nullptr, &len, aad.data(), static_cast<int>(aad_size)) == 1 &&
      (one_pass ? EVP_CipherUpdate(write_.ctx, out + lead, &len, out + lead, static_cast<int>(inner)) == 1
                : EVP_CipherUpdate(write_.ctx, out + lead, &len, in, static_cast<int>(n)) == 1 &&
                      (tail == 0 || EVP_CipherUpdate(write_.ctx, out + lead + n, &len, out + lead + n, tail) == 1)) &&
      EVP_CipherFinal_ex(write_.ctx, out + lead + inner, &len) == 1 && EVP_CIPHER_CTX_get_params(write_.ctx, tag) == 1;
  if (!ok) return 0;
  ++write_.seq;
  return header_size + body;
}

bool record_protection::open(const unsigned char* h, std::size_t len, unsigned char* out) noexcept {
  if (!can_hold(len) || read_.seq == std::numeric_limits<std::uint64_t>::max()) return false;
  std::array<unsigned char, 12> nonce{};
  put_nonce(read_.iv, read_.seq, nonce.data());
  // A peer picks its explicit nonce as it likes (OpenSSL: a random start, then +1).
  std::memcpy(nonce.data() + 4, h + header_size, suite_.explicit_nonce);
  const std::size_t lead = header_size + suite_.explicit_nonce;
  const std::size_t sealed = sealed_size(len);
  std::array<unsigned char, 13> aad{};
  const std::size_t aad_size = additional_data(h, sealed, read_.seq, aad.data());
  int out_len = 0;
  int last = 0;
  const bool authentic =
      begin_record(read_, false, nonce.data(), h + lead + sealed) &&
      EVP_CipherUpdate(read_.ctx, nullptr, &out_len, aad.data(), static_cast<int>(aad_size)) == 1 &&
      EVP_CipherUpdate(read_.ctx, out, &out_len, h + lead, static_cast<int>(sealed)) == 1 &&
      EVP_CipherFinal_ex(read_.ctx, out + out_len, &last) == 1;
  if (authentic) ++read_.seq;
  return authentic;
}

}  // namespace vmsgate::tls
