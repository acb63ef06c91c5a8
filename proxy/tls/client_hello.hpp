#pragma once
// The server_name a client asked for, read from its ClientHello before OpenSSL has
// parsed the extensions: the ClientHello callback chooses a route with it.

#include <openssl/ssl.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace vmsgate::tls {

struct hello_server_name {
  bool malformed = false;               // the extension breaks RFC 6066 section 3's syntax
  std::optional<std::string_view> name;  // the host_name; nullopt when none was sent
};

// Parses the body of a server_name extension. The view points into `body`.
hello_server_name parse_server_name(std::span<const unsigned char> body) noexcept;

// The server_name of the ClientHello being processed; only inside OpenSSL's
// ClientHello callback, and the view lives as long as that call.
hello_server_name client_hello_server_name(SSL* ssl) noexcept;

}  // namespace vmsgate::tls
