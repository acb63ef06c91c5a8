#pragma once
// What every TLS context of the gateway shares, server or client side: protocol
// versions, cipher suites, buffer modes, and loading an identity (chain and key).

#include <string>

#include "proxy/tls/openssl.hpp"
#include "proxy/tls/secret.hpp"

namespace vmsgate::tls {

// A certificate chain (leaf first) and its key, as PEM text read from disk once.
struct identity_pem {
  std::string cert_chain_pem;
  secret_string key_pem;  // wiped when freed
};

// Throws std::runtime_error("route R: what: <OpenSSL's words>").
[[noreturn]] void fail(const std::string& route, const std::string& what);

// TLS 1.2-1.3, forward-secret AEAD suites only, no compression or renegotiation,
// buffers released while idle, read-ahead so one read(2) brings several records.
void apply_common_settings(SSL_CTX* ctx, const std::string& route, bool allow_ecdsa);

// Parses the chain and key for this context alone and checks that they match.
void use_identity(SSL_CTX* ctx, const std::string& route, const identity_pem& id, bool allow_ecdsa);

// Reads a whole file; throws std::runtime_error naming the file on failure.
std::string read_file(const std::string& path);

}  // namespace vmsgate::tls
