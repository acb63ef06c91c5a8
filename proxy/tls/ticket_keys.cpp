#include "proxy/tls/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace vmsgate::tls {
namespace {

int crypto_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool decode_key(std::string_view line, ticket_key& out) {
  // 80 bytes encode to exactly 108 base64 characters ending in one '=' (and
  // EVP_DecodeBlock would take a '=' elsewhere as data). The length is checked first: EVP_DecodeBlock writes 3 bytes per 4 characters however long
  // the line is, so a longer line would overrun `raw`.
  constexpr std::size_t encoded_size = 108;
  if (line.size() != encoded_size || line.find('=') != encoded_size - 1) return false;
  unsigned char raw[81];
  const int n = EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(line.data()), static_cast<int>(line.size()));
  // EVP_DecodeBlock counts the padding as a zero byte: 81.
  if (n == 81) {
    std::memcpy(out.name.data(), raw, 16);
    std::memcpy(out.hmac.data(), raw + 16, 32);
    std::memcpy(out.aes.data(), raw + 48, 32);
  }
  wipe(raw, sizeof raw);
  return n == 81;
}

bool set_hmac(EVP_MAC_CTX* hctx, const ticket_key& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.hmac.data()),
                                        key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

// OpenSSL's ticket callback: 1 = use this key, 2 = decrypted (send a fresh ticket),
// 0 = unknown key (full handshake), -1 = error.
int on_ticket(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) {
  const auto* crypto = static_cast<const ticket_crypto*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), crypto_index()));
  if (crypto == nullptr) return -1;
  const auto keys = crypto->ring->get();
  if (!keys || keys->empty()) return enc ? -1 : 0;
  if (enc) {
    const ticket_key& key = keys->front();
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(crypto->cipher.get())) != 1) return -1;
    std::memcpy(name, key.name.data(), key.name.size());
    if (EVP_EncryptInit_ex(cctx, crypto->cipher.get(), nullptr, key.aes.data(), iv) != 1) return -1;
    return set_hmac(hctx, key) ? 1 : -1;
  }
  for (const ticket_key& key : *keys) {
    if (std::memcmp(name, key.name.data(), key.name.size()) != 0) continue;
    if (EVP_DecryptInit_ex(cctx, crypto->cipher.get(), nullptr, key.aes.data(), iv) != 1) return -1;
    if (!set_hmac(hctx, key)) return -1;
    // Always 2 ("renew"): a TLS 1.3 client uses each ticket once, so a resumption
    // that handed out no fresh ticket would make the next reconnect a full handshake.
    return 2;
  }
  return 0;
}

}  // namespace

ticket_key random_ticket_key() {
  ticket_key k;
  if (RAND_bytes(k.name.data(), 16) != 1 || RAND_bytes(k.hmac.data(), 32) != 1 || RAND_bytes(k.aes.data(), 32) != 1)
    throw std::runtime_error("cannot make a session ticket key: " + drain_errors());
  return k;
}

ticket_key_list parse_ticket_keys(std::string_view text, std::string& error) {
  ticket_key_list keys;
  secret_string line;  // the key in base64, wiped when freed
  int number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const std::string_view raw = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++number;
    line.clear();
    for (const char c : raw)
      if (c != ' ' && c != '\t' && c != '\r') line.push_back(c);
    if (line.empty() || line[0] == '#') continue;
    ticket_key key;
    if (!decode_key(line, key)) {
      error = "line " + std::to_string(number) + ": expected 80 bytes in base64 on one line (openssl rand 80 | base64 -w0)";
      return {};
    }
    keys.push_back(key);
  }
  if (keys.empty()) error = "no key in the file";
  return keys;
}

std::unique_ptr<ticket_crypto> install_ticket_keys(SSL_CTX* ctx, std::shared_ptr<const ticket_keyring> ring) {
  auto crypto = std::make_unique<ticket_crypto>();
  crypto->ring = std::move(ring);
  crypto->cipher.reset(EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr));
  if (!crypto->cipher) throw std::runtime_error("cannot fetch AES-256-CBC for session tickets: " + drain_errors());
  SSL_CTX_set_ex_data(ctx, crypto_index(), crypto.get());
  if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket) != 1)
    throw std::runtime_error("cannot install the session ticket callback: " + drain_errors());
  return crypto;
}

}  // namespace vmsgate::tls
