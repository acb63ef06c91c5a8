#pragma once
// TLS 1.3's application traffic secrets, taken from OpenSSL during a server
// handshake so that the worker's record layer (record_layer.hpp) can go on from them.

#include <openssl/ssl.h>

#include <span>
#include <string_view>

namespace vmsgate::tls {

// Receives the traffic secrets OpenSSL derives for one SSL, from inside
// SSL_do_handshake.
class traffic_secret_sink {
 public:
  virtual void on_secret(std::string_view label, std::span<const unsigned char> secret) noexcept = 0;

 protected:
  ~traffic_secret_sink() = default;
};

// The two TLS 1.3 application traffic secrets of `ssl` go to `sink` as OpenSSL
// derives them; null stops that. They come through OpenSSL's key log, which formats
// every secret as hex before it calls back, so the key log is switched on only just
// before each wanted secret (at a Finished message) and off once it has come: the
// handshake secrets are not formatted at all. The switch is on the SSL's context,
// which must not be used by another thread meanwhile (each worker has its own). A
// handshake that fails between a Finished and its secret leaves it on, which costs
// the next handshakes on the context some formatting until a wanted secret (or a
// line for an SSL with no sink) turns it off; no secret is ever missed.
bool set_traffic_secret_sink(SSL* ssl, traffic_secret_sink* sink);

}  // namespace vmsgate::tls
