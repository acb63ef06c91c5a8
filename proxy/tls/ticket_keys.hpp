#pragma once
// Session ticket keys shared by every worker, and by every instance that reads the
// same key file, so that a client resumes wherever a load balancer sends it. The
// first key encrypts new tickets; every key decrypts, so keys rotate without
// breaking resumption. Keys are swapped whole (one atomic pointer), and a handshake
// reads them once.

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/tls/openssl.hpp"
#include "proxy/tls/secret.hpp"

namespace vmsgate::tls {

// OpenSSL's 80-byte layout: key name, HMAC-SHA256 key, AES-256 key.
// Wiped when destroyed, copies and the vector's moves included.
struct ticket_key {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> hmac{};
  std::array<unsigned char, 32> aes{};

  ticket_key() = default;
  ticket_key(const ticket_key&) = default;
  ticket_key& operator=(const ticket_key&) = default;
  ~ticket_key() { wipe(this, sizeof *this); }
};
using ticket_key_list = std::vector<ticket_key>;

ticket_key random_ticket_key();

// A key file holds one key per line, each 80 random bytes in base64 on one line
// (`openssl rand 80 | base64 -w0; echo`); blank lines and lines starting with '#'
// are ignored. The first key encrypts. Returns nothing and sets
// `error` when the file is malformed.
ticket_key_list parse_ticket_keys(std::string_view text, std::string& error);

class ticket_keyring {
 public:
  explicit ticket_keyring(ticket_key_list keys) { set(std::move(keys)); }
  void set(ticket_key_list keys) {
    keys_.store(std::make_shared<const ticket_key_list>(std::move(keys)), std::memory_order_release);
  }
  std::shared_ptr<const ticket_key_list> get() const { return keys_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const ticket_key_list>> keys_;
};

// What one context's ticket callback needs: the shared ring, and the cipher fetched
// once for this context (an implicit fetch per ticket takes OpenSSL 3.0's locks).
struct ticket_crypto {
  std::shared_ptr<const ticket_keyring> ring;
  std::unique_ptr<EVP_CIPHER, openssl_deleter<EVP_CIPHER_free>> cipher;
};

// Installs the ticket callback on `ctx`; the returned object must outlive `ctx`.
std::unique_ptr<ticket_crypto> install_ticket_keys(SSL_CTX* ctx, std::shared_ptr<const ticket_keyring> ring);

}  // namespace vmsgate::tls
