#pragma once
// The gateway's side of ACME's tls-alpn-01 validation (RFC 8737) on a route's own
// listener: while an authorization is pending, a ClientHello that offers the
// "acme-tls/1" protocol for the route's name gets a self-made certificate that
// carries the key authorization's digest, and nothing else of the route. A route
// still waiting for its first certificate refuses every other client.

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::tls {

inline constexpr std::string_view acme_tls_protocol = "acme-tls/1";

// The validation certificates by DNS name. Written by the ACME client on the
// gateway's control thread, read by every worker's ClientHello callback.
class acme_answers {
 public:
  struct answer {
    x509_ptr cert;
    pkey_ptr key;
  };

  void put(const std::string& name, x509_ptr cert, pkey_ptr key);
  void remove(const std::string& name);
  std::shared_ptr<const answer> find(std::string_view name) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const answer>, std::less<>> by_name_;
};

// Whether the ClientHello being processed offers `protocol` in its ALPN extension;
// only inside OpenSSL's ClientHello callback. A malformed extension offers nothing.
bool hello_offers_protocol(SSL* ssl, std::string_view protocol) noexcept;

// Parses the body of an ALPN extension (RFC 7301 section 3.1) for `protocol`.
bool alpn_list_has(const unsigned char* list, std::size_t size, std::string_view protocol) noexcept;

// Inside the ClientHello callback of a route that uses ACME: a validation for a
// pending name takes its certificate and asks for no client certificate; a route
// with no certificate yet refuses everything else. SSL_CLIENT_HELLO_SUCCESS or
// SSL_CLIENT_HELLO_ERROR with `alert` set.
int answer_acme_hello(SSL* ssl, const acme_answers& answers, bool pending, int* alert) noexcept;

// Whether this connection is an ACME validation: it ends once its handshake has.
bool is_acme_validation(const SSL* ssl) noexcept;

// OpenSSL's ALPN selection on a route that uses ACME: "acme-tls/1" for a validation,
// no protocol for everyone else (the route speaks whatever its backend does).
int select_acme_protocol(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                         unsigned int inlen, void* arg) noexcept;

}  // namespace vmsgate::tls
