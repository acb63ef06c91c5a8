#pragma once
// Immutable server-side TLS contexts. Each worker gets its own SSL_CTX built from the
// same identity: OpenSSL 3.0 serialises handshakes that share objects across threads
// (openssl#20286), so nothing mutable is shared between workers.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::tls {

// What a terminate route presents, read from disk once and parsed once per worker.
struct server_identity {
  std::string route;                      // for messages
  std::string cert_chain_pem;             // leaf first, then intermediates
  std::string key_pem;
  std::vector<std::string> server_names;  // SNI values accepted (DNS names; '*.' wildcards)
  bool allow_ecdsa = false;
};

// Session ticket keys in OpenSSL's 80-byte layout (name, HMAC key, AES key). One set
// per process, installed in every worker's context, so a session resumes whichever
// worker the kernel hands the reconnect to.
using ticket_keys = std::array<unsigned char, 80>;
ticket_keys random_ticket_keys();

// Reads a whole file; throws std::runtime_error naming the file on failure.
std::string read_file(const std::string& path);

// The SSL_CTX and the data its callbacks read; the address is stable for the
// lifetime of the context, which owns nothing else.
struct server_context {
  ssl_ctx_ptr ctx;
  std::vector<std::string> server_names;
};

// Builds one worker's context: TLS 1.2-1.3, AEAD suites only, no compression or
// renegotiation, SNI checked against server_names. Throws std::runtime_error.
std::shared_ptr<const server_context> make_server_context(const server_identity& id, const ticket_keys& keys);

// True when `name` (from SNI) is covered by `pattern`: equal ignoring case, or
// `pattern` is "*.rest" and `name` is one more label in front of "rest".
bool sni_matches(const std::string& pattern, const std::string& name);

}  // namespace vmsgate::tls
