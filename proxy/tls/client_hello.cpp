#include "proxy/tls/client_hello.hpp"

namespace vmsgate::tls {

// ServerNameList: a 16-bit length, then entries of a name type (0: host_name), a
// 16-bit length and the name. OpenSSL itself later refuses what this lets through
// and it does not like (a NUL in the name, more than 255 bytes, a second entry).
hello_server_name parse_server_name(std::span<const unsigned char> body) noexcept {
  hello_server_name out;
  if (body.size() < 2 || ((std::size_t{body[0]} << 8) | body[1]) != body.size() - 2 || body.size() == 2) {
    out.malformed = true;
    return out;
  }
  std::size_t at = 2;
  while (at < body.size()) {
    if (body.size() - at < 3) {
      out.malformed = true;
      return out;
    }
    const unsigned type = body[at];
    const std::size_t length = (std::size_t{body[at + 1]} << 8) | body[at + 2];
    at += 3;
    if (body.size() - at < length || (type == TLSEXT_NAMETYPE_host_name && length == 0)) {
      out.malformed = true;
      return out;
    }
    if (type == TLSEXT_NAMETYPE_host_name && !out.name)
      out.name = std::string_view(reinterpret_cast<const char*>(body.data() + at), length);
    at += length;
  }
  return out;
}

hello_server_name client_hello_server_name(SSL* ssl) noexcept {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &data, &size) != 1) return {};
  return parse_server_name(std::span(data, size));
}

}  // namespace vmsgate::tls
